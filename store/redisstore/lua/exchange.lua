-- Exchange. ARGV[3] limit, ARGV[4] a fresh token id prefix, ARGV[5] most
-- abandoned places skipped per call.
-- Reply: {'OK', expired, abandoned, visitor, seq, token, until, ...} or
-- {'NOZONE'}.
local now = clock()
local z = load(now, 'cap', 'rate', 'claim', 'aband', 'open', 'credit', 'cat', 'total', 'last', 'head', 'fseq')
if not z then return {'NOZONE'} end
local limit, prefix, maxSkip = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local out = {'OK', leak(z, now), 0}
if openAt(z, now) then
  accrue(z, now)
  local held = redis.call('ZCARD', KS)
  local created = held == 0
  local n, skipped = 0, 0
  while n < limit and held < z.cap and z.credit >= 1 and skipped < maxSkip and z.head ~= 0 do
    local p = redis.call('ZPOPMIN', KL)
    if #p == 0 then break end
    local v, seq = p[1], tonumber(p[2])
    local r = parse(redis.call('HGET', KV, v))
    if not r or r.st ~= 'w' or r.seen + z.aband < now then
      if r and r.st == 'w' then redis.call('HDEL', KV, v) end
      skipped = skipped + 1
      emit(z, now, EV_ABANDONED, v, seq)
    else
      n = n + 1
      r.st, r.tok, r.til = 'a', prefix .. '.' .. n, now + z.claim
      redis.call('HSET', KV, v, record(r))
      redis.call('ZADD', KS, r.til, v)
      held = held + 1
      admitted(z, now)
      emit(z, now, EV_ADMITTED, v, seq, r.tok, r.til)
      out[#out + 1] = v
      out[#out + 1] = seq
      out[#out + 1] = r.tok
      out[#out + 1] = r.til
    end
  end
  out[3] = skipped
  if n + skipped > 0 then newHead(z) end
  if z.written then touch(z, now, created and n > 0) else save(z) end
elseif z.written then
  touch(z, now, false)
end
return out
