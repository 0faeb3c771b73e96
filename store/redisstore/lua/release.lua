-- Release. ARGV[3] visitor. Reply: {'OK', the state given up (1 waiting,
-- 2 admitted, 3 inside), or 0 if nothing was held} or {'NOZONE'}.
local now = clock()
local z = load(now, 'head', 'fseq')
if not z then return {'NOZONE'} end
local reply, w = release1(z, now, ARGV[3])
finish(z, now, w)
return reply
