-- Head (read only): the first places in line. ARGV[3] how many (at
-- least 1). Reply: {'OK', place, place, ...} (each as position1 gives
-- it, with the visitor's id after it) or {'NOZONE'}.
local now = clock()
local z = load(now, 'head')
if not z then return {'NOZONE'} end
local out = {'OK'}
local n = tonumber(ARGV[3])
local function add(v)
  local r = parse(redis.call('HGET', KV, v))
  if r and r.st == 'w' then
    local p = place(z, r)
    p[#p + 1] = v
    out[#out + 1] = p
  end
end
local from = 0
if inDraw(z, z.head) then
  -- Drawn numbers first, in their order, as far as a walk goes.
  local q, stop = z.head, z.dfirst + z.dcount
  for _ = 1, n + MAX_WALK do
    if q >= stop or #out > n then break end
    local v = inLine(z, q)
    if v then add(v) end
    q = q + 1
  end
  if q < stop then return out end
  from = stop
end
for _, v in ipairs(redis.call('ZRANGEBYSCORE', KL, from, '+inf', 'LIMIT', 0, n - (#out - 1))) do add(v) end
return out
