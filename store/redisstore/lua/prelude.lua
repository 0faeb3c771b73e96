-- Shared by every zone script. KEYS and ARGV follow one layout:
--   KEYS[1] zone hash, KEYS[2] line zset, KEYS[3] visitors hash,
--   KEYS[4] slots zset, KEYS[5] feed stream (all with the zone's hash tag)
--   ARGV[1] now in unix microseconds, or '' for the Redis clock (TIME)
--   ARGV[2] feed max length (XADD MAXLEN ~)
--   ARGV[3...] per script
-- Instants are unix microseconds, durations microseconds; 0 is "unset".
local KZ, KL, KV, KS, KF = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

local function int(n) return string.format('%d', n) end

local function clock()
  if ARGV[1] ~= '' then return tonumber(ARGV[1]) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- load reads the zone's data deadline (dl), data TTL, closing instant,
-- mode, pause flag and cap on waiting places (maxw), and the fields named,
-- as numbers (rate also as text, ratestr). It returns nil if the zone was
-- never put or its data has expired at now.
local function load(now, ...)
  local names = {'dl', 'ttl', 'close', 'mode', 'pause', 'maxw', ...}
  local v = redis.call('HMGET', KZ, unpack(names))
  if not v[1] then return nil end
  local z = {dirty = {}}
  for i, f in ipairs(names) do
    if f == 'name' then z.name = v[i]
    else
      z[f] = tonumber(v[i]) or 0
      if f == 'rate' then z.ratestr = v[i] end
    end
  end
  if now >= z.dl then return nil end
  return z
end

-- set changes a field of the zone hash; save (or touch) writes it.
local function set(z, f, v)
  z[f] = v
  z.dirty[f] = true
end

-- save writes the changed fields of the zone hash.
local function save(z)
  local args = {'HSET', KZ}
  for f in pairs(z.dirty) do
    args[#args + 1] = f
    if f == 'credit' then args[#args + 1] = string.format('%.17g', z.credit)
    else args[#args + 1] = int(z[f]) end
  end
  z.dirty = {}
  if #args > 2 then redis.call(unpack(args)) end
end

-- touch records a write at now, then saves. A zone's data expires at its
-- deadline dl, which a write moves to max(now, closes at) + data TTL, plus
-- a 64th of the data TTL: so dl (and with it the TTL of every key of the
-- zone) only needs writing once per 64th of the TTL, or when a key may
-- have been created without a TTL (created).
local function touch(z, now, created)
  local want = math.max(now, z.close) + z.ttl
  if created or want > z.dl then
    set(z, 'dl', want + math.floor(z.ttl / 64))
    local ms = math.ceil((z.dl - now) / 1000)
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ms) end
  end
  save(z)
end

-- burst mirrors waitroom.ZoneState.RateBurst.
local function burst(z)
  local b = z.rate / 4
  if b < 1 then b = 1 end
  return b
end

-- MODE_REJECT is waitroom.ModeReject.
local MODE_REJECT = 2

-- openAt mirrors waitroom.ZoneState.OpenAt (z: 'open').
local function openAt(z, now)
  if z.pause ~= 0 or z.mode == MODE_REJECT then return false end
  return (z.open == 0 or now >= z.open) and (z.close == 0 or now < z.close)
end

-- accrue adds the admission credit earned since it was last counted, never
-- before the zone opens, capped at the burst. It mirrors storekit.Accrue
-- (instants in microseconds); storetest's Rate* tests pin the rule.
local function accrue(z, now)
  if now <= z.cat then return end
  local from = z.cat
  if z.open ~= 0 and z.open > from then from = z.open end
  local c = z.credit
  if now > from then c = c + (now - from) * z.rate / 1000000 end
  if c > burst(z) then c = burst(z) end
  set(z, 'credit', c)
  set(z, 'cat', now)
end

-- admitted records one admission at now.
local function admitted(z, now)
  set(z, 'credit', z.credit - 1)
  set(z, 'total', z.total + 1)
  if now > z.last then set(z, 'last', now) end
end

-- Event kinds, as waitroom.EventKind.
local EV_ZONE, EV_ADMITTED, EV_ENTERED, EV_CLAIMED, EV_RELEASED, EV_EXPIRED, EV_ABANDONED = 1, 2, 3, 4, 5, 6, 7

-- emit appends one event to the zone's feed with the next gap-free Seq,
-- as stream id <seq>-0. The new feed seq is written by touch.
local function emit(z, now, kind, visitor, qseq, token, untl, ver)
  if not z.fseq then z.fseq = tonumber(redis.call('HGET', KZ, 'fseq')) end
  set(z, 'fseq', z.fseq + 1)
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
  local st, seq, arr, seen, tok, til = string.match(rec, '^(%a) (%d+) (%-?%d+) (%-?%d+) ?(%S*) ?(%-?%d*)$')
  if not st then return nil end
  return {st = st, seq = tonumber(seq), arr = tonumber(arr), seen = tonumber(seen),
    tok = tok, til = tonumber(til)}
end

local function record(r)
  if r.st == 'w' then
    return string.format('w %d %d %d', r.seq, r.arr, r.seen)
  end
  return string.format('%s %d %d %d %s %d', r.st, r.seq, r.arr, r.seen, r.tok, r.til)
end

-- newHead finds the first place in line after the head left; 0 if nobody
-- waits. The zone's head field always holds it.
local function newHead(z)
  local h = redis.call('ZRANGE', KL, 0, 0, 'WITHSCORES')
  if #h == 0 then set(z, 'head', 0) else set(z, 'head', tonumber(h[2])) end
end

local STATE = {w = 1, a = 2, i = 3}

-- place is the reply describing a visitor with record r.
local function place(z, r)
  local ahead = 0
  if r.st == 'w' then ahead = r.seq - z.head end
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


-- The visitor operations, each shared by its own script and by batch.lua.
-- One takes a zone z loaded with the fields it names, changes z in memory
-- and returns its reply and how z must then be written: nil, only the
-- fields changed (save); false, a write (touch); true, a write that may
-- have created the zone's keys (touch, created). finish writes z once
-- after any number of them: touching once with every created merged in
-- leaves what touching after each one would.

local function finish(z, now, w)
  if w == nil then save(z) else touch(z, now, w) end
end

-- merge combines the writes w and x of two operations.
local function merge(w, x)
  if w == true or x == true then return true end
  if w == false or x == false then return false end
  return nil
end

-- register1 is Register (z: 'qseq', 'head'). Reply: a place.
local function register1(z, now, v)
  -- A line of MaxWaiting places takes no newcomer (ZCARD is O(1)).
  local full = z.maxw > 0 and redis.call('ZCARD', KL) >= z.maxw
  if full and redis.call('HEXISTS', KV, v) == 0 then return {'FULL', z.maxw}, nil end
  -- A newcomer's record is written in the same call that finds it new.
  local r = {st = 'w', seq = z.qseq + 1, arr = now, seen = now}
  if redis.call('HSETNX', KV, v, record(r)) == 0 then
    r = parse(redis.call('HGET', KV, v))
    if r.st == 'w' then
      if now > r.seen then
        r.seen = now
        redis.call('HSET', KV, v, record(r))
      end
      return place(z, r), false
    end
    if r.til > now then return place(z, r), nil end
    -- The slot has passed its deadline: the visitor queues anew.
    expire(z, now, v, r)
    if full then return {'FULL', z.maxw}, false end
    r = {st = 'w', seq = z.qseq + 1, arr = now, seen = now}
    redis.call('HSET', KV, v, record(r))
  end
  set(z, 'qseq', r.seq)
  redis.call('ZADD', KL, r.seq, v)
  -- The first in line starts the line, and may have created its keys.
  local first = z.head == 0
  if first then set(z, 'head', r.seq) end
  return place(z, r), first
end

-- position1 is Position, read only (z: 'head'). Reply: a place or
-- {'NOTQUEUED'}.
local function position1(z, now, v)
  local r = parse(redis.call('HGET', KV, v))
  if not r then return {'NOTQUEUED'}, nil end
  if r.st == 'w' or r.til > now then return place(z, r), nil end
  return {'NOTQUEUED'}, nil
end

-- heartbeat1 is Heartbeat (z: no field). Reply: {'OK'} or {'NOTQUEUED'}.
local function heartbeat1(z, now, v)
  local r = parse(redis.call('HGET', KV, v))
  if not r then return {'NOTQUEUED'}, nil end
  if r.st == 'w' then
    if now > r.seen then
      r.seen = now
      redis.call('HSET', KV, v, record(r))
    end
    return {'OK'}, false
  end
  if r.til > now then return {'OK'}, nil end
  return {'NOTQUEUED'}, nil
end

-- enter1 is Enter with tok, a fresh token id (z: 'cap', 'rate', 'sess',
-- 'open', 'credit', 'cat', 'total', 'last', 'head', 'fseq').
-- Reply: {'OK', token, until, arrived} or {'NO'}.
local function enter1(z, now, v, tok)
  local r = parse(redis.call('HGET', KV, v))
  if r and r.st ~= 'w' and r.til > now then return {'OK', r.tok, r.til, r.arr}, nil end
  if not openAt(z, now) or z.head ~= 0 then return {'NO'}, nil end
  local leaked = leak(z, now) > 0
  local held = redis.call('ZCARD', KS)
  local refuse = held >= z.cap
  if not refuse then
    accrue(z, now)
    refuse = z.credit < 1
  end
  if refuse then
    if leaked then return {'NO'}, false end
    return {'NO'}, nil
  end
  r = {st = 'i', seq = 0, arr = now, seen = now, tok = tok, til = now + z.sess}
  redis.call('HSET', KV, v, record(r))
  redis.call('ZADD', KS, r.til, v)
  admitted(z, now)
  emit(z, now, EV_ENTERED, v, 0, r.tok, r.til)
  -- An empty bucket and an empty line: the keys may be new.
  return {'OK', r.tok, r.til, r.arr}, held == 0
end

-- arrive1 is Enter, or else Register (z: the fields of both). Reply:
-- {'IN', token, until, arrived} if the visitor went in, else a place.
local function arrive1(z, now, v, tok)
  local reply, w = enter1(z, now, v, tok)
  if reply[1] == 'OK' then
    reply[1] = 'IN'
    return reply, w
  end
  local place, x = register1(z, now, v)
  return place, merge(w, x)
end

-- claim1 is Claim (z: 'sess', 'fseq'). Reply: {'OK', token, until},
-- {'NOTADMITTED'} or {'CLAIMEXPIRED'}.
local function claim1(z, now, v)
  local r = parse(redis.call('HGET', KV, v))
  if not r or r.st == 'w' then return {'NOTADMITTED'}, nil end
  if r.til <= now then
    expire(z, now, v, r)
    if r.st == 'i' then return {'NOTADMITTED'}, false end
    return {'CLAIMEXPIRED'}, false
  end
  if r.st == 'i' then return {'OK', r.tok, r.til}, nil end
  r.st, r.til = 'i', now + z.sess
  redis.call('HSET', KV, v, record(r))
  redis.call('ZADD', KS, r.til, v)
  emit(z, now, EV_CLAIMED, v, r.seq, r.tok, r.til)
  return {'OK', r.tok, r.til}, false
end

-- release1 is Release (z: 'head', 'fseq'). Reply: {'OK', the state given
-- up (as waitroom.VisitorState), or 0 if nothing was held}.
local function release1(z, now, v)
  local r = parse(redis.call('HGET', KV, v))
  if not r then return {'OK', 0}, nil end
  if r.st == 'w' then
    redis.call('ZREM', KL, v)
    redis.call('HDEL', KV, v)
    if r.seq == z.head then newHead(z) end
    emit(z, now, EV_RELEASED, v, r.seq)
    return {'OK', STATE.w}, false
  end
  if r.til <= now then
    expire(z, now, v, r)
    return {'OK', 0}, false
  end
  redis.call('ZREM', KS, v)
  redis.call('HDEL', KV, v)
  emit(z, now, EV_RELEASED, v, r.seq, r.tok)
  return {'OK', STATE[r.st]}, false
end
