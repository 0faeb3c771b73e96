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
-- mode, pause flag, cap on waiting places (maxw) and draw (dfirst, dcount,
-- dseed, dat), and the fields named, as numbers (rate also as text,
-- ratestr; the draw's seed only as text). It returns nil if the zone was
-- never put or its data has expired at now.
local function load(now, ...)
  local names = {'dl', 'ttl', 'close', 'mode', 'pause', 'maxw', 'dfirst', 'dcount', 'dseed', 'dat', ...}
  local v = redis.call('HMGET', KZ, unpack(names))
  if not v[1] then return nil end
  local z = {dirty = {}}
  for i, f in ipairs(names) do
    if f == 'name' then z.name = v[i]
    elseif f == 'dseed' then z.dseed = v[i] or '0'
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
    elseif f == 'dseed' then args[#args + 1] = z.dseed
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

-- MODE_REJECT and MODE_RANDOM are waitroom.ModeReject and
-- waitroom.ModeRandomAtOpen.
local MODE_REJECT, MODE_RANDOM = 2, 3

-- The draw mirrors waitroom.Draw: the numbers dfirst .. dfirst+dcount-1
-- are permuted by a Feistel network of DRAW_ROUNDS rounds keyed by SHA-1
-- of "seed:round:half" (its first 52 bits, which a double holds), walked
-- until it lands among them. storetest's Draw tests pin it to the Go one.
local DRAW_ROUNDS = 10

local function drawHash(seed, i, x)
  return tonumber(string.sub(redis.sha1hex(seed .. ':' .. int(i) .. ':' .. int(x)), 1, 13), 16)
end

local function feistel(seed, x, bits, forward)
  local lo = math.floor(bits / 2)
  local ml, mr = 2 ^ (bits - lo), 2 ^ lo
  local l, r = math.floor(x / mr), x % mr
  local from, to, step = 0, DRAW_ROUNDS - 1, 1
  if not forward then from, to, step = DRAW_ROUNDS - 1, 0, -1 end
  for i = from, to, step do
    if i % 2 == 0 then
      local f = drawHash(seed, i, r) % ml
      if forward then l = (l + f) % ml else l = (l - f) % ml end
    else
      local f = drawHash(seed, i, l) % mr
      if forward then r = (r + f) % mr else r = (r - f) % mr end
    end
  end
  return l * mr + r
end

-- inDraw reports whether n is one of the drawn numbers.
local function inDraw(z, n)
  return z.dcount > 1 and n >= z.dfirst and n - z.dfirst < z.dcount
end

local function permute(z, n, forward)
  if not inDraw(z, n) then return n end
  local bits = 2
  while 2 ^ bits < z.dcount do bits = bits + 1 end
  local x = n - z.dfirst
  repeat x = feistel(z.dseed, x, bits, forward) until x < z.dcount
  return z.dfirst + x
end

-- number is the queue number of the place that arrived a-th
-- (waitroom.Draw.Number); arrival its inverse.
local function number(z, a) return permute(z, a, true) end
local function arrival(z, q) return permute(z, q, false) end

-- undrawn reports whether the zone is to draw its order and has not.
local function undrawn(z) return z.mode == MODE_RANDOM and z.dat == 0 end

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
local EV_DRAWN = 9

-- emit appends one event to the zone's feed with the next gap-free Seq,
-- as stream id <seq>-0. The new feed seq is written by touch. qseq is the
-- visitor's arrival number; the event carries its queue number.
local function emit(z, now, kind, visitor, qseq, token, untl, ver)
  if qseq then qseq = number(z, qseq) end
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

-- The line zset scores each place by its arrival number. The zone's head
-- field holds the queue number of the first place in line (0 if nobody
-- waits): the lowest score, or, while it is among the drawn numbers, the
-- first drawn number whose place is still in line, found by walking them
-- in order. The walks of one script look at MAX_WALK numbers at most; the
-- head may then rest on a gone number, at or before the first in line (so
-- Ahead only overestimates), and the next script's walk goes on from
-- there.
local MAX_WALK = 1000

-- inLine returns the visitor holding the place with queue number q in a
-- drawn line, or nil if that place is gone.
local function inLine(z, q)
  local a = arrival(z, q)
  return redis.call('ZRANGEBYSCORE', KL, a, a, 'LIMIT', 0, 1)[1]
end

-- newHead finds the first place in line from the head on, after places
-- left; it reports false if a walk stopped short.
local function newHead(z)
  if inDraw(z, z.head) then
    local q, stop = z.head, z.dfirst + z.dcount
    z.walk = z.walk or MAX_WALK
    while q < stop and z.walk > 0 do
      z.walk = z.walk - 1
      if inLine(z, q) then set(z, 'head', q); return true end
      q = q + 1
    end
    if q < stop then set(z, 'head', q); return false end
  end
  local h = redis.call('ZRANGE', KL, 0, 0, 'WITHSCORES')
  if #h == 0 then set(z, 'head', 0) else set(z, 'head', tonumber(h[2])) end
  return true
end

-- takeHead removes the first place in line from the line zset and
-- returns its visitor and arrival number; nil if the head rests on a
-- place gone (newHead then moves on).
local function takeHead(z)
  if inDraw(z, z.head) then
    local v = inLine(z, z.head)
    if not v then return nil end
    redis.call('ZREM', KL, v)
    return v, arrival(z, z.head)
  end
  local p = redis.call('ZPOPMIN', KL)
  if #p == 0 then return nil end
  return p[1], tonumber(p[2])
end

-- draw makes the zone's draw at now with seed (text): the places from the
-- head to the back of the line, appending EventDrawn.
local function draw(z, now, seed)
  local first = z.qseq + 1
  if z.head ~= 0 then first = z.head end
  set(z, 'dfirst', first)
  set(z, 'dcount', z.qseq + 1 - first)
  z.dseed = seed
  z.dirty.dseed = true
  set(z, 'dat', now)
  if z.head ~= 0 then newHead(z) end -- the first drawn number may be a place gone
  emit(z, now, EV_DRAWN)
end

local STATE = {w = 1, a = 2, i = 3}

-- place is the reply describing a visitor with record r: its state,
-- queue number, places ahead, arrival, last heartbeat, token, deadline,
-- and 1 if its place awaits the draw.
local function place(z, r)
  local q, ahead, wait = number(z, r.seq), 0, 0
  if r.st == 'w' then
    if undrawn(z) then
      ahead, wait = redis.call('ZCARD', KL) - 1, 1
    else
      ahead = q - z.head
    end
  end
  return {'OK', STATE[r.st], q, ahead, r.arr, r.seen, r.tok or '', r.til or 0, wait}
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
    if number(z, r.seq) == z.head then newHead(z) end
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
