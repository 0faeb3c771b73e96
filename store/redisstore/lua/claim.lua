-- Claim. ARGV[3] visitor. Reply: {'OK', token, until}, {'NOTADMITTED'},
-- {'CLAIMEXPIRED'} or {'NOZONE'}.
local now = clock()
local z = load(now, 'sess', 'fseq')
if not z then return {'NOZONE'} end
local reply, w = claim1(z, now, ARGV[3])
finish(z, now, w)
return reply
