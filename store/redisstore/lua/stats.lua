-- Stats (read only). Reply: {'OK', waiting, inside, admitted total, head
-- seq, feed seq, last admit, draw first, draw count, draw seed, drawn at}
-- or {'NOZONE'}.
local now = clock()
local z = load(now, 'total', 'last', 'head', 'fseq')
if not z then return {'NOZONE'} end
return {'OK', redis.call('ZCARD', KL), redis.call('ZCOUNT', KS, '(' .. int(now), '+inf'),
  z.total, z.head, z.fseq, z.last, z.dfirst, z.dcount, z.dseed, z.dat}
