-- Heartbeat. ARGV[3] visitor. Reply: {'OK'}, {'NOTQUEUED'} or {'NOZONE'}.
local now = clock()
local z = load(now)
if not z then return {'NOZONE'} end
local reply, w = heartbeat1(z, now, ARGV[3])
finish(z, now, w)
return reply
