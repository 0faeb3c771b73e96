-- PutZone. ARGV[3..11]: name, capacity, rate, session, claim window,
-- abandon after, opens at, closes at, data TTL.
-- Reply: {'OK', version, changed (0/1)}.
local now = clock()
local s = {name = ARGV[3], cap = tonumber(ARGV[4]), ratestr = ARGV[5], rate = tonumber(ARGV[5]),
  sess = tonumber(ARGV[6]), claim = tonumber(ARGV[7]), aband = tonumber(ARGV[8]),
  open = tonumber(ARGV[9]), close = tonumber(ARGV[10]), ttl = tonumber(ARGV[11])}
local z = load(now)
if not z then
  -- A new zone, or one whose data expired: start afresh, dropping any
  -- record its previous life left behind.
  redis.call('DEL', KZ, KL, KV, KS, KF)
  z = s
  z.ver, z.fseq, z.total, z.last, z.wr, z.exp = 1, 0, 0, 0, now, 0
  z.credit, z.cat = burst(z), now
  redis.call('HSET', KZ, 'name', s.name, 'cap', ARGV[4], 'rate', s.ratestr, 'sess', ARGV[6],
    'claim', ARGV[7], 'aband', ARGV[8], 'open', ARGV[9], 'close', ARGV[10], 'ttl', ARGV[11],
    'ver', 1, 'fseq', 0)
  z.counters = true
  emit(z, now, EV_ZONE, nil, nil, nil, nil, 1)
  touch(z, now, true)
  return {'OK', 1, 1}
end
if z.cap == s.cap and z.ratestr == s.ratestr and z.sess == s.sess and z.claim == s.claim and
    z.aband == s.aband and z.open == s.open and z.close == s.close and z.ttl == s.ttl then
  return {'OK', z.ver, 0}
end
accrue(z, now)
z.counters = true
z.ver = z.ver + 1
z.cap, z.ratestr, z.rate, z.sess, z.claim, z.aband = s.cap, s.ratestr, s.rate, s.sess, s.claim, s.aband
z.open, z.close, z.ttl = s.open, s.close, s.ttl
if z.credit > burst(z) then z.credit = burst(z) end
redis.call('HSET', KZ, 'cap', ARGV[4], 'rate', s.ratestr, 'sess', ARGV[6], 'claim', ARGV[7],
  'aband', ARGV[8], 'open', ARGV[9], 'close', ARGV[10], 'ttl', ARGV[11], 'ver', z.ver)
emit(z, now, EV_ZONE, nil, nil, nil, nil, z.ver)
touch(z, now, true)
return {'OK', z.ver, 1}
