-- Admit: let one waiting visitor in ahead of the line. ARGV[3] visitor,
-- ARGV[4] a fresh token id. Reply: {'OK', token, until}, {'NOTQUEUED'},
-- {'FULL', capacity} or {'NOZONE'}.
local now = clock()
local z = load(now, 'cap', 'claim', 'total', 'last', 'head', 'fseq')
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if not r or r.st ~= 'w' then return {'NOTQUEUED'} end
local leaked = leak(z, now)
local held = redis.call('ZCARD', KS)
if held >= z.cap then
  if leaked > 0 then touch(z, now, false) end
  return {'FULL', z.cap}
end
redis.call('ZREM', KL, v)
r.st, r.tok, r.til = 'a', ARGV[4], now + z.claim
redis.call('HSET', KV, v, record(r))
redis.call('ZADD', KS, r.til, v)
if number(z, r.seq) == z.head then newHead(z) end
-- An admission, but not the rate's: no credit is spent.
set(z, 'total', z.total + 1)
if now > z.last then set(z, 'last', now) end
emit(z, now, EV_ADMITTED, v, r.seq, r.tok, r.til)
touch(z, now, held == 0)
return {'OK', r.tok, r.til}
