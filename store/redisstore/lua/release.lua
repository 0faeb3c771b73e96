-- Release. ARGV[3] visitor. Reply: {'OK', 1 if anything was held else 0}
-- or {'NOZONE'}.
local now = clock()
local z = load(now, 'head', 'fseq')
if not z then return {'NOZONE'} end
local v = ARGV[3]
local r = parse(redis.call('HGET', KV, v))
if not r then return {'OK', 0} end
if r.st == 'w' then
  redis.call('ZREM', KL, v)
  redis.call('HDEL', KV, v)
  if r.seq == z.head then newHead(z) end
  emit(z, now, EV_RELEASED, v, r.seq)
  touch(z, now, false)
  return {'OK', 1}
end
if r.til <= now then
  expire(z, now, v, r)
  touch(z, now, false)
  return {'OK', 0}
end
redis.call('ZREM', KS, v)
redis.call('HDEL', KV, v)
emit(z, now, EV_RELEASED, v, r.seq, r.tok)
touch(z, now, false)
return {'OK', 1}
