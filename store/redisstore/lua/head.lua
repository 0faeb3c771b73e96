-- Head (read only): the first places in line. ARGV[3] how many (at
-- least 1). Reply: {'OK', place, place, ...} (each as position1 gives
-- it, with the visitor's id after it) or {'NOZONE'}.
local now = clock()
local z = load(now, 'head')
if not z then return {'NOZONE'} end
local out = {'OK'}
local first = redis.call('ZRANGE', KL, 0, tonumber(ARGV[3]) - 1)
for _, v in ipairs(first) do
  local r = parse(redis.call('HGET', KV, v))
  if r and r.st == 'w' then
    local p = place(z, r)
    p[#p + 1] = v
    out[#out + 1] = p
  end
end
return out
