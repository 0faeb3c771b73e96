-- Register. ARGV[3] visitor. Reply: a place (see place) or {'NOZONE'}.
local now = clock()
local z = load(now, 'qseq', 'head')
if not z then return {'NOZONE'} end
local reply, w = register1(z, now, ARGV[3])
finish(z, now, w)
return reply
