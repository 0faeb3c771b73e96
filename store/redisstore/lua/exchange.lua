-- Exchange. ARGV[3] limit, ARGV[4] a fresh token id prefix, ARGV[5] most
-- abandoned places skipped per call, ARGV[6] the seed of a draw, if this
-- call is the one to draw.
-- Reply: {'OK', expired, abandoned, visitor, seq, token, until, ...} or
-- {'NOZONE'}.
local now = clock()
local z = load(now, 'cap', 'rate', 'claim', 'aband', 'open', 'credit', 'cat', 'total', 'last', 'head', 'qseq', 'fseq')
if not z then return {'NOZONE'} end
local limit, prefix, maxSkip = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
-- In ModeRandomAtOpen the first exchange from the opening on draws first
-- (storekit.DrawDue).
if undrawn(z) and (z.open == 0 or now >= z.open) then draw(z, now, ARGV[6]) end
local out = {'OK', leak(z, now), 0}
if openAt(z, now) then
  accrue(z, now)
  local held = redis.call('ZCARD', KS)
  local created = held == 0
  local n, skipped = 0, 0
  while n < limit and held < z.cap and z.credit >= 1 and skipped < maxSkip and z.head ~= 0 do
    local v, seq = takeHead(z)
    if not v then
      if not newHead(z) then break end
    else
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
        out[#out + 1] = number(z, seq)
        out[#out + 1] = r.tok
        out[#out + 1] = r.til
      end
      -- A drawn line's next place is found by its number; a FIFO line's
      -- by ZPOPMIN, and its head field is set once, after the loop.
      if inDraw(z, z.head) then newHead(z) end
    end
  end
  if n + skipped > 0 then newHead(z) end
  out[3] = skipped
  if z.written then touch(z, now, created and n > 0) else save(z) end
elseif z.written then
  touch(z, now, false)
end
return out
