-- Enter. ARGV[3] visitor, ARGV[4] a fresh token id.
-- Reply: {'OK', token, until}, {'NO'} or {'NOZONE'}.
local now = clock()
local z = load(now, 'cap', 'rate', 'sess', 'open', 'credit', 'cat', 'total', 'last', 'head', 'fseq')
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if r and r.st ~= 'w' and r.til > now then return {'OK', r.tok, r.til} end
if not openAt(z, now) or z.head ~= 0 then return {'NO'} end
leak(z, now)
local held = redis.call('ZCARD', KS)
local refuse = held >= z.cap
if not refuse then
  accrue(z, now)
  refuse = z.credit < 1
end
if refuse then
  if z.written then touch(z, now, false) else save(z) end
  return {'NO'}
end
r = {st = 'i', seq = 0, arr = now, seen = now, tok = ARGV[4], til = now + z.sess}
redis.call('HSET', KV, v, record(r))
redis.call('ZADD', KS, r.til, v)
admitted(z, now)
emit(z, now, EV_ENTERED, v, 0, r.tok, r.til)
-- An empty bucket and an empty line: the keys may be new.
touch(z, now, held == 0)
return {'OK', r.tok, r.til}
