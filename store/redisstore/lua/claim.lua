-- Claim. ARGV[3] visitor. Reply: {'OK', token, until}, {'NOTADMITTED'},
-- {'CLAIMEXPIRED'} or {'NOZONE'}.
local now = clock()
local z = load(now, 'sess', 'fseq')
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if not r or r.st == 'w' then return {'NOTADMITTED'} end
if r.til <= now then
  expire(z, now, v, r)
  touch(z, now, false)
  if r.st == 'i' then return {'NOTADMITTED'} end
  return {'CLAIMEXPIRED'}
end
if r.st == 'i' then return {'OK', r.tok, r.til} end
r.st, r.til = 'i', now + z.sess
redis.call('HSET', KV, v, record(r))
redis.call('ZADD', KS, r.til, v)
emit(z, now, EV_CLAIMED, v, r.seq, r.tok, r.til)
touch(z, now, false)
return {'OK', r.tok, r.til}
