-- Register. ARGV[3] visitor. Reply: a place (see place) or {'NOZONE'}.
local now = clock()
local z = load(now, 'qseq', 'head')
if not z then return {'NOZONE'} end
local v = ARGV[3]
-- A newcomer's record is written in the same call that finds it new.
local r = {st = 'w', seq = z.qseq + 1, arr = now, seen = now}
if redis.call('HSETNX', KV, v, record(r)) == 0 then
  r = parse(redis.call('HGET', KV, v))
  if r.st == 'w' then
    if now > r.seen then
      r.seen = now
      redis.call('HSET', KV, v, record(r))
    end
    touch(z, now, false)
    return place(z, r)
  end
  if r.til > now then return place(z, r) end
  -- The slot has passed its deadline: the visitor queues anew.
  expire(z, now, v, r)
  r = {st = 'w', seq = z.qseq + 1, arr = now, seen = now}
  redis.call('HSET', KV, v, record(r))
end
set(z, 'qseq', r.seq)
redis.call('ZADD', KL, r.seq, v)
-- The first in line starts the line, and may have created its keys.
local first = z.head == 0
if first then set(z, 'head', r.seq) end
touch(z, now, first)
return place(z, r)
