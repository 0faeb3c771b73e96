-- Shared by every zone script. KEYS and ARGV follow one layout:
--   KEYS[1] zone hash, KEYS[2] line zset, KEYS[3] visitors hash,
--   KEYS[4] slots zset, KEYS[5] feed stream (all with the zone's hash tag)
--   ARGV[1] now in unix microseconds, or '' for the Redis clock (TIME)
--   ARGV[2] feed max length (XADD MAXLEN ~)
--   ARGV[3...] per script
-- Instants are unix microseconds, durations microseconds; 0 is "unset".
local KZ, KL, KV, KS, KF = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function int(n) return string.format('%.0f', n) end

local function clock()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local FIELDS = {'name', 'cap', 'rate', 'sess', 'claim', 'aband', 'open', 'close', 'ttl',
  'ver', 'fseq', 'total', 'last', 'credit', 'cat', 'wr', 'exp'}

-- load returns the zone's state, or nil if it was never put or its data
-- has expired at now (max(last write, closes at) + data TTL).
local function load(now)
  local v = redis.call('HMGET', KZ, unpack(FIELDS))
  if not v[1] then return nil end
  local z = {
    name = v[1], cap = tonumber(v[2]), ratestr = v[3], rate = tonumber(v[3]),
    sess = tonumber(v[4]), claim = tonumber(v[5]), aband = tonumber(v[6]),
    open = tonumber(v[7]), close = tonumber(v[8]), ttl = tonumber(v[9]),
    ver = tonumber(v[10]), fseq = tonumber(v[11]), total = tonumber(v[12]),
    last = tonumber(v[13]), credit = tonumber(v[14]), cat = tonumber(v[15]),
    wr = tonumber(v[16]), exp = tonumber(v[17]) or 0,
  }
  if now >= math.max(z.wr, z.close) + z.ttl then return nil end
  return z
end

local function burst(z)
  local b = z.rate / 4
  if b < 1 then b = 1 end
  return b
end

local function openAt(z, now)
  return (z.open == 0 or now >= z.open) and (z.close == 0 or now < z.close)
end

-- accrue adds the admission credit earned since it was last counted, never
-- before the zone opens, capped at the burst.
local function accrue(z, now)
  if now <= z.cat then return end
  local from = z.cat
  if z.open ~= 0 and z.open > from then from = z.open end
  if now > from then z.credit = z.credit + (now - from) * z.rate / 1000000 end
  if z.credit > burst(z) then z.credit = burst(z) end
  z.cat = now
  z.counters = true
end

-- touch records a write at now. The zone's data expires (for every
-- script: see load) at max(last write, closes at) + data TTL; the keys'
-- own TTLs are set a 64th of the data TTL past that, and only refreshed
-- when the expiry passes them or a key may have been created (created), so
-- most writes cost no PEXPIRE at all.
local function touch(z, now, created)
  if now > z.wr then z.wr = now end
  local exp = math.max(z.wr, z.close) + z.ttl
  local args = {'HSET', KZ, 'wr', int(z.wr)}
  if created or exp > z.exp then
    z.exp = exp + math.floor(z.ttl / 64)
    args[#args + 1] = 'exp'
    args[#args + 1] = int(z.exp)
    local ms = math.ceil((z.exp - now) / 1000)
    if ms < 1 then ms = 1 end
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ms) end
  end
  if z.counters then
    for _, f in ipairs({'credit', string.format('%.17g', z.credit), 'cat', int(z.cat),
        'total', int(z.total), 'last', int(z.last)}) do
      args[#args + 1] = f
    end
    z.counters = false
  end
  redis.call(unpack(args))
end

-- saveCounters writes the rate credit and admission counters without
-- counting as a write.
local function saveCounters(z)
  if not z.counters then return end
  redis.call('HSET', KZ, 'credit', string.format('%.17g', z.credit), 'cat', int(z.cat),
    'total', int(z.total), 'last', int(z.last))
  z.counters = false
end

-- Event kinds, as waitroom.EventKind.
local EV_ZONE, EV_ADMITTED, EV_ENTERED, EV_CLAIMED, EV_RELEASED, EV_EXPIRED, EV_ABANDONED = 1, 2, 3, 4, 5, 6, 7

-- emit appends one event to the zone's feed with the next gap-free Seq,
-- as stream id <seq>-0.
local function emit(z, now, kind, visitor, qseq, token, untl, ver)
  z.fseq = redis.call('HINCRBY', KZ, 'fseq', 1)
  local a = {'XADD', KF, 'MAXLEN', '~', ARGV[2], int(z.fseq) .. '-0', 'k', kind, 't', int(now)}
  if visitor then a[#a + 1] = 'v'; a[#a + 1] = visitor end
  if qseq and qseq > 0 then a[#a + 1] = 'q'; a[#a + 1] = int(qseq) end
  if token then a[#a + 1] = 'id'; a[#a + 1] = token end
  if untl then a[#a + 1] = 'u'; a[#a + 1] = int(untl) end
  if ver then a[#a + 1] = 'ver'; a[#a + 1] = int(ver) end
  redis.call(unpack(a))
  z.written = true
end

-- A visitor's record in the visitors hash: "<state> <seq> <arrived>
-- <lastseen>" while waiting (state w), followed by " <token> <until>" for a
-- slot (a: admitted, i: inside). Direct entries have seq 0.
local function parse(rec)
  if not rec then return nil end
  local f = {}
  for w in string.gmatch(rec, '%S+') do f[#f + 1] = w end
  return {st = f[1], seq = tonumber(f[2]), arr = tonumber(f[3]), seen = tonumber(f[4]),
    tok = f[5], til = tonumber(f[6])}
end

local function record(r)
  local s = r.st .. ' ' .. int(r.seq) .. ' ' .. int(r.arr) .. ' ' .. int(r.seen)
  if r.st ~= 'w' then s = s .. ' ' .. r.tok .. ' ' .. int(r.til) end
  return s
end

-- head returns the Seq of the first place in line, 0 if nobody waits.
local function head()
  local h = redis.call('ZRANGE', KL, 0, 0, 'WITHSCORES')
  if #h == 0 then return 0 end
  return tonumber(h[2])
end

local STATE = {w = 1, a = 2, i = 3}

-- place is the reply describing visitor v with record r.
local function place(r, hd)
  local ahead = 0
  if r.st == 'w' then ahead = r.seq - hd end
  return {'OK', STATE[r.st], r.seq, ahead, r.arr, r.seen, r.tok or '', r.til or 0}
end

-- expire removes v's slot, past its deadline, with EventExpired.
local function expire(z, now, v, r)
  redis.call('ZREM', KS, v)
  redis.call('HDEL', KV, v)
  emit(z, now, EV_EXPIRED, v, r.seq, r.tok)
end

-- leak removes every slot past its deadline at now; it returns how many.
local function leak(z, now)
  local due = redis.call('ZRANGEBYSCORE', KS, '-inf', int(now))
  for _, v in ipairs(due) do
    local r = parse(redis.call('HGET', KV, v)) or {seq = 0}
    expire(z, now, v, r)
  end
  return #due
end

