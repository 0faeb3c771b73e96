-- Position (read only). ARGV[3] visitor. Reply: a place, {'NOTQUEUED'} or
-- {'NOZONE'}.
local now = clock()
local z = load(now, 'head')
if not z then return {'NOZONE'} end
local r = parse(redis.call('HGET', KV, ARGV[3]))
if not r then return {'NOTQUEUED'} end
if r.st == 'w' or r.til > now then return place(z, r) end
return {'NOTQUEUED'}
