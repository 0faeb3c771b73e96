// Package redisstore keeps waitroom's shared state in Redis or Redis
// Cluster, so that any number of instances share one waiting room. Every
// Store operation is one Lua script (one round trip, atomic per zone), and
// each zone's change feed is a Redis Stream written by the same scripts.
//
// # Use
//
//	store, err := redisstore.Open(ctx, "redis://127.0.0.1:6379/0")
//	// or redisstore.New(client) with a *redis.Client, *redis.ClusterClient
//	// or failover client of your own.
//	room, err := waitroom.New(store, waitroom.WithZone(zone), waitroom.WithKeys(keys))
//
// Every instance that runs a Room over the same Redis shares the zones'
// queues, buckets and feeds. It must also share the key ring that signs
// tokens: give every instance the same ring from configuration
// (waitroom.WithKeys, the production way), or use the ring kept in Redis
// (Store.SharedKeys, Store.RotateSharedKeys, Store.FollowSharedKeys).
//
// # Scripts
//
// Each operation runs one script, sent as EVALSHA; when Redis does not
// know it (first use, or after a restart or SCRIPT FLUSH) go-redis's
// Script.Run sends it again with EVAL, which also loads it. Nothing is
// read in Go and then written: queue numbers and feed numbers are counted
// by Redis, inside the script that uses them.
//
//	PutZone    lua/putzone.lua    settings, version; EventZone
//	Zone       lua/zone.lua       read only
//	Register   lua/register.lua   new place (HSETNX + ZADD) or the place held
//	Position   lua/position.lua   read only: two hash reads, whatever the line's length
//	Heartbeat  lua/heartbeat.lua  last seen of a waiting visitor
//	Enter      lua/enter.lua      direct entry; EventEntered (EventExpired for leaks)
//	Exchange   lua/exchange.lua   leak, then admit from the head; EventExpired, EventAbandoned, EventAdmitted
//	Claim      lua/claim.lua      EventClaimed
//	Release    lua/release.lua    EventReleased
//	Stats      lua/stats.lua      read only
//	ReadFeed   lua/readfeed.lua   read only (XRANGE); then XREAD BLOCK if it must wait
//	Batch      lua/batch.lua      Register, Position, Heartbeat, Enter, Arrive, Claim and Release calls of many visitors
//
// Each script starts with lua/prelude.lua, the helpers they share. The
// bodies of Register, Position, Heartbeat, Enter, Claim and Release are
// functions of the prelude (register1, position1, heartbeat1, enter1,
// claim1, release1), which both their own scripts and lua/batch.lua call:
// a batched call does what the single one does, events included.
//
// Retries: go-redis resends a command when a connection fails, which may
// run a script twice. Every script is safe to repeat: Register, Enter,
// Claim and Heartbeat are idempotent, and so is a Batch of them; a
// repeated Release reports false (in a Batch, the zero Place), a repeated
// Exchange is one more exchange step.
//
// # Keys
//
// Every key of a zone carries the zone name in braces, its Cluster hash
// tag, so each script touches one hash slot (<prefix> is WithPrefix,
// default "waitroom"):
//
//	<prefix>:{zone}:zone      hash    settings (cap, rate, sess, claim, aband, open, close, ttl, name),
//	                                  version (ver), last queue number (qseq), head of the line (head),
//	                                  last feed number (fseq), admissions (total, last), rate credit
//	                                  (credit, cat), data deadline (dl)
//	<prefix>:{zone}:line      zset    waiting visitors, scored by queue number
//	<prefix>:{zone}:visitors  hash    visitor -> "w seq arrived lastseen" while waiting,
//	                                  "a|i seq arrived lastseen token until" with a slot
//	                                  (admitted | inside); instants in unix microseconds
//	<prefix>:{zone}:slots     zset    slot holders, scored by the slot's deadline
//	<prefix>:{zone}:feed      stream  the change feed: entry id <seq>-0, fields k (kind),
//	                                  t (at), v (visitor), q (queue number), id (token id),
//	                                  u (slot until), ver (zone version)
//	<prefix>:keyring          string  the shared key ring (JSON), no TTL
//
// The five keys of a zone expire together. Every write moves the zone's
// data deadline (dl) to max(now, ClosesAt) + DataTTL, rounded up by a 64th
// of DataTTL so that the deadline and the keys' TTLs (PEXPIRE, set from
// it) need writing only once per 64th of the TTL: a finished sale's data
// goes away between DataTTL and DataTTL*65/64 after its last write or its
// end, by itself. Every script also treats a zone past its deadline as
// gone, so the TTLs need not be exact. PutZone on a zone that is gone
// starts it afresh (version 1, empty line and feed).
//
// # Persistence
//
// The line lives only in Redis. Run it with appendonly yes (so a restart
// keeps every place, the order and the shared key ring) and
// maxmemory-policy noeviction (any other policy, volatile-* included,
// evicts places under memory pressure, since every key of a zone has a
// TTL). Open reads both settings on every server (every master of a
// Cluster) and logs one warning naming each one that is unsafe, or one
// line saying it could not read them (CONFIG renamed, as on managed
// Redis), and never fails for it; Store.Durability tells the same to a
// caller, and to users of New.
//
// A lost shared key ring is logged as an error, not silently replaced:
// every token issued before is then invalid, so visitors lose their place
// in line and their access. A Store that had read the ring and finds it
// gone (SharedKeys, RotateSharedKeys) says so as it makes the new ring
// (the scripts report that they made it, in the same atomic step), and
// FollowSharedKeys says so, and applies the new ring, when another
// instance made it: a key id seen before with another secret, or a key
// numbered at most the newest seen but not in the ring, cannot come from
// rotations.
//
// # Clock
//
// By default every instant the store records or compares (arrivals,
// heartbeats, slot deadlines, the admission rate, event times) is Redis's
// own clock, read with TIME inside the script: instances whose clocks are
// skewed still agree, and the now arguments are ignored. WithCallerClock
// uses the callers' now instead, for tests with a fake clock. Queue order
// never depends on a clock: Redis numbers the places.
//
// # Change feed
//
// The script that changes a zone appends the events describing the change
// to the zone's stream, with XADD MAXLEN ~ (WithFeedMaxLen, default
// 100,000) and an explicit id <seq>-0 whose seq is the zone's gap-free
// event number, counted in the same script: a transactional outbox.
// ReadFeed reads from id <after+1>-0 with XRANGE, and waits with XREAD
// BLOCK from <after>-0. A reader that asks for events trimmed away, or for
// events after the latest (the zone expired and was put again, or Redis
// lost data), gets waitroom.ErrFeedTrimmed and resynchronises from the
// current state.
//
// # Redis Cluster
//
// Pass a *redis.ClusterClient, or Open a redis+cluster:// URL. A zone's
// keys live in one slot, so its operations run on one master; different
// zones spread over the masters. The key ring is one key in its own slot.
//
// # Outage
//
// When Redis cannot be reached every operation fails with an error
// wrapping waitroom.ErrStoreUnavailable, and the Room applies its fail
// policy (fail-closed by default: newcomers get the waiting page with 503,
// access tokens already issued keep working). Open sets client timeouts so
// that this happens within about a second (a refused connection at once):
// see OpenDialTimeout. When Redis is back the client reconnects by itself
// (go-redis probes a server it could not reach once a second) and the
// scripts are loaded again on first use: nothing needs restarting.
//
// A Redis restart loses no place in line if Redis persists its data.
// Recommended settings:
//
//	appendonly yes            # AOF: every write is logged
//	appendfsync everysec      # at most a second of writes lost in a crash ("always": none)
//	maxmemory-policy noeviction   # never evict a queue; writes fail (the fail policy applies) when full
//
// With replicas, use a failover client (Sentinel) or Cluster; writes
// acknowledged by a master that fails before replicating them are lost,
// as with any asynchronous Redis replication.
//
// # Throughput
//
// Each operation is one round trip, so a client that sends the commands
// of many concurrent callers together saves Redis part of its per-request
// cost: go-redis's AutoPipeline is a redis.UniversalClient too, so
//
//	ap, err := client.AutoPipeline()
//	store, err := redisstore.New(ap)
//
// works as is. Its batches are retried as a whole on a network error,
// which the scripts tolerate (see Scripts), and it does not honour a
// command's ctx once the command is queued.
//
// Redis 6.2 or later is required (tested with 7.0).
package redisstore
