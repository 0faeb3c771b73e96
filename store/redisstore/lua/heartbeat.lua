-- Heartbeat. ARGV[3] visitor. Reply: {'OK'}, {'NOTQUEUED'} or {'NOZONE'}.
local now = clock()
local z = load(now)
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if not r then return {'NOTQUEUED'} end
if r.st == 'w' then
  if now > r.seen then
    r.seen = now
    redis.call('HSET', KV, v, record(r))
  end
  touch(z, now, false)
  return {'OK'}
end
if r.til > now then return {'OK'} end
return {'NOTQUEUED'}
