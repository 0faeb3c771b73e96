package middleware

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/waitroom/waitroom"
)

// cache is the edge cache: what one instance remembers so that repeat
// requests cost neither a store call nor a signature check. It is safe for
// concurrent use.
//
// What it holds, and for how long (each LRU holds WithCacheSize entries,
// the rendered responses pageCacheSize):
//
//   - access: verified access tokens, with the key ring that verified them,
//     until evicted. A hit still checks the zone, the expiry and the
//     revoked ids; after a key rotation the token is verified again.
//   - visitors: verified visitor tokens, the same way.
//   - revoked: the ids of access tokens released or expired, until
//     evicted: a released token stops working here at once.
//   - waiting: each waiting visitor's standing as the store last said,
//     served to its repeat requests and status polls for WithPositionTTL
//     (never longer than a quarter of the zone's AbandonAfter, so that the
//     visitor's requests keep its place alive), and taken by its push
//     connection's opening up to that quarter after the read.
//   - zones: per zone, the "full" and "somebody waits" marks, for
//     WithFullTTL: newcomers then skip trying direct entry.
//   - pages: rendered responses to waiting visitors, keyed by all they
//     show (pageKey), so never stale: only the LRU drops them.
//
// How the change feed invalidates it (onEvent): an admission, release,
// expiry or abandonment drops the visitor's standing and moves its zone's
// generation; a release or expiry adds the token id to revoked; an event
// that frees a slot clears the zone's "full" mark; a zone's new settings,
// its draw and lost events (resync) drop every standing and clear every
// mark. A
// standing or mark read from the store while the generation moved is not
// served (see zoneCache): an event that arrives during a read is never
// hidden. Without the feed (live false: no Room, or the Handler closed)
// nothing is cached or served from it.
type cache struct {
	room        *waitroom.Room
	obs         Observer // nil: none
	fullTTL     time.Duration
	positionTTL time.Duration
	live        atomic.Bool // subscribed to the feed: the cache is kept in sync

	access   *lru.Cache[string, *accessEntry]       // raw access token -> verified content
	visitors *lru.Cache[string, *visitorEntry]      // raw visitor token -> verified content
	revoked  *lru.Cache[string, struct{}]           // token ids released or expired
	waiting  *lru.Cache[visitorKey, cachedStanding] // waiting visitors' standings
	pages    *lru.Cache[pageKey, *renderedPage]     // rendered responses to waiting visitors

	zonesMu sync.RWMutex
	zones   map[string]*zoneCache
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

// cachedStanding is a waiting visitor's standing in the cache.
type cachedStanding struct {
	standing
	until time.Time // Room clock: served to requests until then; zero: to a push connection's opening only
	pz    *pushZone // the zone's push state from before the read, if any
}

// zoneCache is the per-zone part of the cache. gen counts the feed events
// that may make a cached standing or "full" mark stale: a value read from
// the store is kept only if gen did not move meanwhile, so an event that
// arrives while a request reads the store is never hidden.
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

func newCache(room *waitroom.Room, cfg *config) *cache {
	c := &cache{room: room, obs: cfg.observer, fullTTL: cfg.fullTTL, positionTTL: cfg.positionTTL, zones: make(map[string]*zoneCache)}
	// lru.New fails only for a size <= 0, which newConfig rules out.
	c.access, _ = lru.New[string, *accessEntry](cfg.cacheSize)
	c.visitors, _ = lru.New[string, *visitorEntry](cfg.cacheSize)
	c.revoked, _ = lru.New[string, struct{}](cfg.cacheSize)
	c.waiting, _ = lru.New[visitorKey, cachedStanding](cfg.cacheSize)
	c.pages, _ = lru.New[pageKey, *renderedPage](pageCacheSize)
	return c
}

// purge drops the verified tokens and the standings, once the cache is no
// longer live.
func (c *cache) purge() {
	c.access.Purge()
	c.visitors.Purge()
	c.waiting.Purge()
}

// onEvent keeps the cache in sync with the change feed. It runs on the
// Room's feed goroutine and only touches memory.
func (c *cache) onEvent(ev waitroom.Event) {
	switch ev.Kind {
	case waitroom.EventResync:
		c.zonesMu.RLock()
		for _, zc := range c.zones {
			zc.reset()
		}
		c.zonesMu.RUnlock()
		c.waiting.Purge()
		return
	case waitroom.EventZone, waitroom.EventDrawn:
		// New settings (opening time, rate) change every ETA; a draw,
		// every place.
		if zc := c.existingZone(ev.Zone); zc != nil {
			zc.reset()
		}
		c.waiting.Purge()
		return
	case waitroom.EventAdmitted, waitroom.EventReleased, waitroom.EventExpired, waitroom.EventAbandoned:
	default:
		return
	}
	if (ev.Kind == waitroom.EventReleased || ev.Kind == waitroom.EventExpired) && ev.TokenID != "" {
		c.revoked.Add(ev.TokenID, struct{}{})
	}
	// Bump first, then drop: see zoneCache.
	if zc := c.existingZone(ev.Zone); zc != nil {
		zc.gen.Add(1)
		if ev.FreesSlot() {
			zc.fullUntil.Store(0)
		}
	}
	if ev.Visitor != "" {
		c.waiting.Remove(visitorKey{ev.Zone, ev.Visitor})
	}
}

func (c *cache) existingZone(zone string) *zoneCache {
	c.zonesMu.RLock()
	zc := c.zones[zone]
	c.zonesMu.RUnlock()
	return zc
}

// zone returns the cache of a zone the Room knows, or nil: names from a
// zone func are not cached before the Room has made them a zone.
func (c *cache) zone(zone string) *zoneCache {
	if zc := c.existingZone(zone); zc != nil {
		return zc
	}
	if _, ok := c.room.Zone(zone); !ok {
		return nil
	}
	c.zonesMu.Lock()
	defer c.zonesMu.Unlock()
	zc := c.zones[zone]
	if zc == nil {
		zc = new(zoneCache)
		c.zones[zone] = zc
	}
	return zc
}

// reset moves the generation and clears both marks: every value cached
// for the zone is stale.
func (zc *zoneCache) reset() {
	zc.gen.Add(1)
	zc.fullUntil.Store(0)
	zc.queuedUntil.Store(0)
}

// generation returns zc's generation, 0 for nil.
func (zc *zoneCache) generation() uint64 {
	if zc == nil {
		return 0
	}
	return zc.gen.Load()
}

// full reports whether the zone was marked full lately.
func (zc *zoneCache) full(now time.Time) bool {
	if zc == nil {
		return false
	}
	u := zc.fullUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// queued reports whether somebody was waiting in the zone's line lately.
func (zc *zoneCache) queued(now time.Time) bool {
	if zc == nil {
		return false
	}
	u := zc.queuedUntil.Load()
	return u != 0 && now.UnixNano() < u
}

// markQueued records that a visitor read at now was waiting in line.
func (c *cache) markQueued(zc *zoneCache, now time.Time) {
	if zc == nil || c.fullTTL <= 0 || !c.live.Load() {
		return
	}
	zc.queuedUntil.Store(now.Add(c.fullTTL).UnixNano())
}

// markFull marks the zone full for WithFullTTL, unless a feed event
// arrived since gen was read.
func (c *cache) markFull(zc *zoneCache, gen uint64, now time.Time) {
	if zc == nil || c.fullTTL <= 0 || !c.live.Load() {
		return
	}
	zc.fullUntil.Store(now.Add(c.fullTTL).UnixNano())
	if zc.gen.Load() != gen {
		zc.fullUntil.Store(0)
	}
}

// checkAccess returns the content of raw if it is a valid, unrevoked access
// token for zone at now, else nil. A cache hit costs no signature check.
func (c *cache) checkAccess(raw, zone string, keys *waitroom.KeyRing, now time.Time) *accessEntry {
	if raw == "" || len(raw) > waitroom.MaxTokenLen {
		return nil
	}
	live := c.live.Load()
	if live {
		if ent, ok := c.access.Get(raw); ok && ent.keys == keys {
			if c.obs != nil {
				c.obs.CacheLookup(true)
			}
			if ent.access.Zone != zone || !now.Before(ent.access.Expires) || c.revoked.Contains(ent.access.TokenID) {
				return nil
			}
			return ent
		}
	}
	if c.obs != nil {
		c.obs.CacheLookup(false)
	}
	a, err := c.room.VerifyAccess(raw, zone)
	// The token's own check allows for clock skew; the slot does not, so
	// neither does the edge: a token is good until its slot leaks.
	if err != nil || !now.Before(a.Expires) || c.revoked.Contains(a.TokenID) {
		return nil
	}
	ent := &accessEntry{access: a, keys: keys}
	if live {
		// raw points into the request's Cookie header; keep a copy only.
		c.access.Add(strings.Clone(raw), ent)
	}
	return ent
}

// admit records a freshly issued access token so the visitor's next
// request is a cache hit.
func (c *cache) admit(raw string, a waitroom.Access) *accessEntry {
	ent := &accessEntry{access: a, keys: c.room.Keys()}
	if c.live.Load() {
		c.access.Add(raw, ent)
	}
	return ent
}

// revoke forgets an access token released through this instance at once,
// before the feed event arrives.
func (c *cache) revoke(raw string, a waitroom.Access) {
	c.revoked.Add(a.TokenID, struct{}{})
	if raw != "" {
		c.access.Remove(raw)
	}
}

// checkVisitor returns the content of raw if it is a valid visitor token
// for zone at now. A cache hit costs no signature check.
func (c *cache) checkVisitor(raw, zone string, keys *waitroom.KeyRing, now time.Time) (waitroom.Visitor, bool) {
	if raw == "" || len(raw) > waitroom.MaxTokenLen {
		return waitroom.Visitor{}, false
	}
	live := c.live.Load()
	if live {
		if ent, ok := c.visitors.Get(raw); ok && ent.keys == keys {
			return ent.visitor, ent.visitor.Zone == zone && now.Before(ent.visitor.Expires)
		}
	}
	v, err := c.room.VerifyVisitor(raw, zone)
	if err != nil {
		return waitroom.Visitor{}, false
	}
	if live {
		c.visitors.Add(strings.Clone(raw), &visitorEntry{visitor: v, keys: keys})
	}
	return v, true
}

// newVisitor records a freshly minted visitor token.
func (c *cache) newVisitor(raw string, v waitroom.Visitor) {
	if c.live.Load() {
		c.visitors.Add(raw, &visitorEntry{visitor: v, keys: c.room.Keys()})
	}
}

// standing returns a waiting visitor's standing if a fresh one is cached.
func (c *cache) standing(zone, visitor string, now time.Time) (standing, bool) {
	if !c.live.Load() || c.positionTTL <= 0 {
		return standing{}, false
	}
	cs, ok := c.waiting.Get(visitorKey{zone, visitor})
	if !ok || !now.Before(cs.until) {
		return standing{}, false
	}
	return cs.standing, true
}

// keepStanding caches a waiting visitor's standing s read from the store,
// for its repeat requests unless a feed event arrived since gen was read,
// and for its push connection's opening in any case. pz is the zone's push
// state as it was before the read (hub.zoneState), nil if none.
func (c *cache) keepStanding(zc *zoneCache, gen uint64, pz *pushZone, zone, visitor string, s standing) {
	ttl := c.positionTTL
	if z, ok := c.room.Zone(zone); ok {
		ttl = min(ttl, z.AbandonAfter/4)
	}
	if zc == nil || ttl <= 0 || !c.live.Load() || s.state != waitroom.StateWaiting {
		return
	}
	k := visitorKey{zone, visitor}
	cs := cachedStanding{standing: s, until: s.at.Add(ttl), pz: pz}
	if zc.gen.Load() != gen {
		cs.until = time.Time{}
	}
	c.waiting.Add(k, cs)
	if cs.until.IsZero() || zc.gen.Load() == gen {
		return
	}
	// A feed event came during the read: the standing is not served to
	// requests. A push connection may still take it, when the zone's push
	// state proves the place was not let in meanwhile (watcher.behind).
	cs.until = time.Time{}
	c.waiting.Add(k, cs)
}

// recentStanding returns a waiting visitor's cached standing, with the
// zone's push state from before its read, if it was read within maxAge; a
// push connection that opens may take it instead of reading the store
// (see Handler.openPush).
func (c *cache) recentStanding(zone, visitor string, now time.Time, maxAge time.Duration) (cachedStanding, bool) {
	if !c.live.Load() {
		return cachedStanding{}, false
	}
	cs, ok := c.waiting.Get(visitorKey{zone, visitor})
	if !ok || cs.state != waitroom.StateWaiting || cs.seq == 0 || cs.pz == nil || now.Sub(cs.at) > maxAge {
		return cachedStanding{}, false
	}
	return cs, true
}

// forget drops a visitor's cached standing.
func (c *cache) forget(zone, visitor string) { c.waiting.Remove(visitorKey{zone, visitor}) }

// page returns the rendered response for k, if one was kept.
func (c *cache) page(k pageKey) (*renderedPage, bool) { return c.pages.Get(k) }

// keepPage keeps a rendered response for k.
func (c *cache) keepPage(k pageKey, p *renderedPage) { c.pages.Add(k, p) }
