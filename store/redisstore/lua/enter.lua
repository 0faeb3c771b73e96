-- Enter. ARGV[3] visitor, ARGV[4] a fresh token id.
-- Reply: {'OK', token, until, arrived}, {'NO'} or {'NOZONE'}.
local now = clock()
local z = load(now, 'cap', 'rate', 'sess', 'open', 'credit', 'cat', 'total', 'last', 'head', 'fseq')
if not z then return {'NOZONE'} end
local reply, w = enter1(z, now, ARGV[3], ARGV[4])
finish(z, now, w)
return reply
