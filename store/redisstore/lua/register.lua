-- Register. ARGV[3] visitor. Reply: a place (see place) or {'NOZONE'}.
local now = clock()
local z = load(now)
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if r then
  if r.st == 'w' then
    if now > r.seen then
      r.seen = now
      redis.call('HSET', KV, v, record(r))
    end
    touch(z, now, false)
    return place(r, head())
  end
  if r.til > now then return place(r, 0) end
  expire(z, now, v, r)
end
local seq = redis.call('HINCRBY', KZ, 'qseq', 1)
r = {st = 'w', seq = seq, arr = now, seen = now}
redis.call('ZADD', KL, seq, v)
redis.call('HSET', KV, v, record(r))
local hd = head()
-- The first in line may have created the line and visitors keys.
touch(z, now, hd == seq)
return place(r, hd)
