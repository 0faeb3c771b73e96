-- Position (read only). ARGV[3] visitor. Reply: a place, {'NOTQUEUED'} or
-- {'NOZONE'}.
local now = clock()
local z = load(now)
if not z then return {'NOZONE'} end
local r = parse(redis.call('HGET', KV, ARGV[3]))
if not r then return {'NOTQUEUED'} end
if r.st == 'w' then return place(r, head()) end
if r.til > now then return place(r, 0) end
return {'NOTQUEUED'}
