-- Position (read only). ARGV[3] visitor. Reply: a place, {'NOTQUEUED'} or
-- {'NOZONE'}.
local now = clock()
local z = load(now, 'head')
if not z then return {'NOZONE'} end
return (position1(z, now, ARGV[3]))
