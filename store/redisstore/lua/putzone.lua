-- PutZone. ARGV[3..14]: name, capacity, rate, session, claim window,
-- abandon after, opens at, closes at, data TTL, mode, paused (0 or 1),
-- max waiting.
-- Reply: {'OK', version}.
local now = clock()
local SETTINGS = {'cap', 'rate', 'sess', 'claim', 'aband', 'open', 'close', 'ttl', 'mode', 'pause', 'maxw'}
local z = load(now, 'cap', 'rate', 'sess', 'claim', 'aband', 'open', 'ver', 'credit', 'cat', 'fseq')
if not z then
  -- A new zone, or one whose data expired: start afresh, dropping any
  -- record its previous life left behind.
  redis.call('DEL', KZ, KL, KV, KS, KF)
  z = {dirty = {}, dl = 0, ttl = tonumber(ARGV[11]), close = tonumber(ARGV[10]),
    rate = tonumber(ARGV[5]), fseq = 0}
  redis.call('HSET', KZ, 'name', ARGV[3], 'cap', ARGV[4], 'rate', ARGV[5], 'sess', ARGV[6],
    'claim', ARGV[7], 'aband', ARGV[8], 'open', ARGV[9], 'close', ARGV[10], 'ttl', ARGV[11],
    'mode', ARGV[12], 'pause', ARGV[13], 'maxw', ARGV[14], 'ver', 1, 'qseq', 0, 'head', 0, 'total', 0, 'last', 0, 'cat', int(now),
    'credit', string.format('%.17g', burst(z)))
  emit(z, now, EV_ZONE, nil, nil, nil, nil, 1)
  touch(z, now, true)
  return {'OK', 1}
end
local same = z.ratestr == ARGV[5]
for i, f in ipairs(SETTINGS) do
  if f ~= 'rate' and z[f] ~= tonumber(ARGV[3 + i]) then same = false end
end
if same then return {'OK', z.ver} end
-- Credit earned so far counts at the old rate; the new burst caps it.
accrue(z, now)
redis.call('HSET', KZ, 'cap', ARGV[4], 'rate', ARGV[5], 'sess', ARGV[6], 'claim', ARGV[7],
  'aband', ARGV[8], 'open', ARGV[9], 'close', ARGV[10], 'ttl', ARGV[11],
  'mode', ARGV[12], 'pause', ARGV[13], 'maxw', ARGV[14])
z.rate, z.close, z.ttl = tonumber(ARGV[5]), tonumber(ARGV[10]), tonumber(ARGV[11])
if z.credit > burst(z) then set(z, 'credit', burst(z)) end
set(z, 'ver', z.ver + 1)
emit(z, now, EV_ZONE, nil, nil, nil, nil, z.ver)
touch(z, now, true)
return {'OK', z.ver}
