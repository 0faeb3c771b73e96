package middleware

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/waitroom/waitroom"
)

// edge is the local state the Handlers of one Wrap or New share: the edge
// cache of verified access tokens, revoked token ids, waiting visitors'
// standings and "zone full" marks, kept in sync by the Room's change feed.
type edge struct {
	room *waitroom.Room
	cfg  config

	access   *lru.Cache[string, *accessEntry]    // raw access token -> verified content
	visitors *lru.Cache[string, *visitorEntry]   // raw visitor token -> verified content
	revoked  *lru.Cache[string, struct{}]        // token ids released or expired
	waiting  *lru.Cache[visitorKey, cachedPlace] // waiting visitors' standings
	pages    *lru.Cache[pageKey, *renderedPage]  // rendered responses to waiting visitors

	zonesMu sync.RWMutex
	zones   map[string]*zoneCache

	push *push // the waiting pages' open connections

	live        atomic.Bool // subscribed: caches are kept in sync
	unsubscribe func()
	closeOnce   sync.Once
	failing     atomic.Bool // the last request met a store failure

	writers sync.Pool // *responseWriter
}

// accessEntry is a verified access token. keys is the ring it was verified
// with: after a rotation the token is verified again.
type accessEntry struct {
	access waitroom.Access
	keys   *waitroom.KeyRing
}

// visitorEntry is a verified visitor token, like accessEntry.
type visitorEntry struct {
	visitor waitroom.Visitor
	keys    *waitroom.KeyRing
}

type visitorKey struct{ zone, visitor string }

// standing is what the waiting page shows a visitor, with the place's
// queue number and last heartbeat for its push connection.
type standing struct {
	state   waitroom.VisitorState
	ahead   int64
	eta     waitroom.ETA
	opensAt time.Time
	arrived time.Time
	seq     uint64    // the place's queue number
	seen    time.Time // its last heartbeat
}

func standingOf(out waitroom.Outcome) standing {
	return standing{state: out.State, ahead: out.Place.Ahead, eta: out.ETA, opensAt: out.OpensAt, arrived: out.Visitor.Arrived,
		seq: out.Place.Seq, seen: out.Place.LastSeen}
}

type cachedPlace struct {
	standing
	at    time.Time // Room clock of the read
	until time.Time // Room clock: served to requests until then
	pz    *pushZone // the zone's push state from before the read, if any
}

// zoneCache is the per-zone part of the edge cache. gen counts the feed
// events that may make a cached standing or "full" mark stale: a value
// read from the store is kept only if gen did not move meanwhile, so an
// event that arrives while a request reads the store is never hidden.
type zoneCache struct {
	gen       atomic.Uint64
	fullUntil atomic.Int64 // Room clock, unix nanoseconds; 0: not full

	// queuedUntil marks a line that somebody waits in (Room clock, unix
	// nanoseconds; 0: unknown). A newcomer cannot enter directly then,
	// even when a slot is free: the slot is the line's. Unlike "full", a
	// released slot does not clear it; the line empties only through the
	// exchanger, at the zone's rate, so for a second at most a newcomer is
	// queued into a line that has just emptied, and goes in at the next
	// step instead of at once.
	queuedUntil atomic.Int64
}

func newEdge(room *waitroom.Room, opts []Option) *edge {
	e := &edge{room: room, cfg: newConfig(opts), zones: make(map[string]*zoneCache)}
	// lru.New fails only for a size <= 0, which newConfig rules out.
	e.access, _ = lru.New[string, *accessEntry](e.cfg.cacheSize)
	e.visitors, _ = lru.New[string, *visitorEntry](e.cfg.cacheSize)
	e.revoked, _ = lru.New[string, struct{}](e.cfg.cacheSize)
	e.waiting, _ = lru.New[visitorKey, cachedPlace](e.cfg.cacheSize)
	e.pages, _ = lru.New[pageKey, *renderedPage](pageCacheSize)
	e.writers.New = func() any { return new(responseWriter) }
	e.push = newPush(e)
	if room != nil {
		e.unsubscribe = room.Subscribe(e.onEvent)
		e.live.Store(true)
	}
	return e
}

// close closes the push connections, unsubscribes from the feed and stops
// using the caches, which would no longer learn of releases and admissions.
func (e *edge) close() {
	e.closeOnce.Do(func() {
		e.push.close()
		e.live.Store(false)
		if e.unsubscribe != nil {
			e.unsubscribe()
		}
		e.access.Purge()
		e.visitors.Purge()
		e.waiting.Purge()
	})
}

// onEvent keeps the caches in sync with the change feed and tells the
// push connections. It runs on the Room's feed goroutine and only touches
// memory.
func (e *edge) onEvent(ev waitroom.Event) {
	e.push.onEvent(ev)
	switch ev.Kind {
	case waitroom.EventResync:
		e.zonesMu.RLock()
		for _, zc := range e.zones {
			zc.gen.Add(1)
			zc.fullUntil.Store(0)
			zc.queuedUntil.Store(0)
		}
		e.zonesMu.RUnlock()
		e.waiting.Purge()
		return
	case waitroom.EventZone:
		// New settings (opening time, rate) change every ETA.
		if zc := e.existingZone(ev.Zone); zc != nil {
			zc.gen.Add(1)
			zc.fullUntil.Store(0)
			zc.queuedUntil.Store(0)
		}
		e.waiting.Purge()
		return
	case waitroom.EventAdmitted, waitroom.EventReleased, waitroom.EventExpired, waitroom.EventAbandoned:
	default:
		return
	}
	if (ev.Kind == waitroom.EventReleased || ev.Kind == waitroom.EventExpired) && ev.TokenID != "" {
		e.revoked.Add(ev.TokenID, struct{}{})
	}
	// Bump first, then drop: see zoneCache.
	if zc := e.existingZone(ev.Zone); zc != nil {
		zc.gen.Add(1)
		if ev.FreesSlot() {
			zc.fullUntil.Store(0)
		}
	}
	if ev.Visitor != "" {
		e.waiting.Remove(visitorKey{ev.Zone, ev.Visitor})
	}
}

func (e *edge) existingZone(zone string) *zoneCache {
	e.zonesMu.RLock()
	zc := e.zones[zone]
	e.zonesMu.RUnlock()
	return zc
}

// zoneCache returns the cache of a zone the Room knows, or nil: names from
// a zone func are not cached before the Room has made them a zone.
func (e *edge) zoneCache(zone string) *zoneCache {
	if zc := e.existingZone(zone); zc != nil {
		return zc
	}
	if _, ok := e.room.Zone(zone); !ok {
		return nil
	}
	e.zonesMu.Lock()
	defer e.zonesMu.Unlock()
	zc := e.zones[zone]
	if zc == nil {
		zc = new(zoneCache)
		e.zones[zone] = zc
	}
	return zc
}

// gen returns zc's generation, 0 for nil.
func (zc *zoneCache) generation() uint64 {
	if zc == nil {
		return 0
	}
	return zc.gen.Load()
}

func (zc *zoneCache) full(now time.Time) bool {
	if zc == nil {
		return false
	}
	u := zc.fullUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// markFull marks the zone full for FullTTL, unless a feed event arrived
// since gen was read.
// queued reports whether somebody was waiting in the zone's line lately.
func (zc *zoneCache) queued(now time.Time) bool {
	if zc == nil {
		return false
	}
	u := zc.queuedUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// markQueued records that a visitor read at now was waiting in line.
func (e *edge) markQueued(zc *zoneCache, now time.Time) {
	if zc == nil || e.cfg.fullTTL <= 0 || !e.live.Load() {
		return
	}
	zc.queuedUntil.Store(now.Add(e.cfg.fullTTL).UnixNano())
}

func (e *edge) markFull(zc *zoneCache, gen uint64, now time.Time) {
	if zc == nil || e.cfg.fullTTL <= 0 || !e.live.Load() {
		return
	}
	zc.fullUntil.Store(now.Add(e.cfg.fullTTL).UnixNano())
	if zc.gen.Load() != gen {
		zc.fullUntil.Store(0)
	}
}

// checkAccess returns the content of raw if it is a valid, unrevoked access
// token for zone at now, else nil. A cache hit costs no signature check.
func (e *edge) checkAccess(raw, zone string, keys *waitroom.KeyRing, now time.Time) *accessEntry {
	if raw == "" || len(raw) > waitroom.MaxTokenLen {
		return nil
	}
	live := e.live.Load()
	if live {
		if ent, ok := e.access.Get(raw); ok && ent.keys == keys {
			if ent.access.Zone != zone || !now.Before(ent.access.Expires) || e.revoked.Contains(ent.access.TokenID) {
				return nil
			}
			return ent
		}
	}
	a, err := e.room.VerifyAccess(raw, zone)
	// The token's own check allows for clock skew; the slot does not, so
	// neither does the edge: a token is good until its slot leaks.
	if err != nil || !now.Before(a.Expires) || e.revoked.Contains(a.TokenID) {
		return nil
	}
	ent := &accessEntry{access: a, keys: keys}
	if live {
		// raw points into the request's Cookie header; keep a copy only.
		e.access.Add(strings.Clone(raw), ent)
	}
	return ent
}

// admit records a freshly issued access token so the visitor's next
// request is a cache hit.
func (e *edge) admit(raw string, a waitroom.Access) *accessEntry {
	ent := &accessEntry{access: a, keys: e.room.Keys()}
	if e.live.Load() {
		e.access.Add(raw, ent)
	}
	return ent
}

// revoke forgets an access token released through this instance at once,
// before the feed event arrives.
func (e *edge) revoke(raw string, a waitroom.Access) {
	e.revoked.Add(a.TokenID, struct{}{})
	if raw != "" {
		e.access.Remove(raw)
	}
}

// checkVisitor returns the content of raw if it is a valid visitor token
// for zone at now. A cache hit costs no signature check.
func (e *edge) checkVisitor(raw, zone string, keys *waitroom.KeyRing, now time.Time) (waitroom.Visitor, bool) {
	if raw == "" || len(raw) > waitroom.MaxTokenLen {
		return waitroom.Visitor{}, false
	}
	live := e.live.Load()
	if live {
		if ent, ok := e.visitors.Get(raw); ok && ent.keys == keys {
			return ent.visitor, ent.visitor.Zone == zone && now.Before(ent.visitor.Expires)
		}
	}
	v, err := e.room.VerifyVisitor(raw, zone)
	if err != nil {
		return waitroom.Visitor{}, false
	}
	if live {
		e.visitors.Add(strings.Clone(raw), &visitorEntry{visitor: v, keys: keys})
	}
	return v, true
}

// newVisitor records a freshly minted visitor token.
func (e *edge) newVisitor(raw string, v waitroom.Visitor) {
	if e.live.Load() {
		e.visitors.Add(raw, &visitorEntry{visitor: v, keys: e.room.Keys()})
	}
}

// cachedStanding returns a waiting visitor's standing if a fresh one is
// cached.
func (e *edge) cachedStanding(zone, visitor string, now time.Time) (standing, bool) {
	if !e.live.Load() || e.cfg.positionTTL <= 0 {
		return standing{}, false
	}
	c, ok := e.waiting.Get(visitorKey{zone, visitor})
	if !ok || !now.Before(c.until) {
		return standing{}, false
	}
	return c.standing, true
}

// keepStanding caches a waiting visitor's standing read from the store,
// for its repeat requests unless a feed event arrived since gen was read,
// and for its push connection's opening in any case. pz is the zone's push
// state as it was before the read (push.zoneState), nil if none.
func (e *edge) keepStanding(zc *zoneCache, gen uint64, pz *pushZone, zone, visitor string, s standing, now time.Time) {
	ttl := e.cfg.positionTTL
	if z, ok := e.room.Zone(zone); ok {
		ttl = min(ttl, z.AbandonAfter/4)
	}
	if zc == nil || ttl <= 0 || !e.live.Load() || s.state != waitroom.StateWaiting {
		return
	}
	k := visitorKey{zone, visitor}
	c := cachedPlace{standing: s, at: now, until: now.Add(ttl), pz: pz}
	if zc.gen.Load() != gen {
		c.until = time.Time{}
	}
	e.waiting.Add(k, c)
	if c.until.IsZero() || zc.gen.Load() == gen {
		return
	}
	// A feed event came during the read: the standing is not served to
	// requests. A push connection may still take it, when the zone's push
	// state proves the place was not let in meanwhile (watcher.behind).
	c.until = time.Time{}
	e.waiting.Add(k, c)
}

// recentStanding returns a waiting visitor's cached standing, with the
// time it was read and the zone's push state from before the read, if it
// was read within maxAge; a push connection that opens may take it instead
// of reading the store (see openPush).
func (e *edge) recentStanding(zone, visitor string, now time.Time, maxAge time.Duration) (cachedPlace, bool) {
	if !e.live.Load() {
		return cachedPlace{}, false
	}
	c, ok := e.waiting.Get(visitorKey{zone, visitor})
	if !ok || c.state != waitroom.StateWaiting || c.seq == 0 || c.pz == nil || now.Sub(c.at) > maxAge {
		return cachedPlace{}, false
	}
	return c, true
}

// forget drops a visitor's cached standing.
func (e *edge) forget(zone, visitor string) { e.waiting.Remove(visitorKey{zone, visitor}) }
