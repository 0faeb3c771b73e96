-- Zone (read only). Reply: {'OK', name, capacity, rate, session, claim,
-- abandon, opens, closes, ttl, version, mode, paused, max waiting} or
-- {'NOZONE'}.
local z = load(clock(), 'name', 'cap', 'rate', 'sess', 'claim', 'aband', 'open', 'ver')
if not z then return {'NOZONE'} end
return {'OK', z.name, z.cap, z.ratestr, z.sess, z.claim, z.aband, z.open, z.close, z.ttl, z.ver,
  z.mode, z.pause, z.maxw}
