package middleware

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// edge is what the Handlers of one Wrap or New share: the Room and the
// settings, the edge cache, the notifier of the waiting pages' push
// connections, and the one subscription to the Room's change feed that
// keeps both in step with the store.
type edge struct {
	room  *waitroom.Room
	cfg   config
	cache *cache // what repeat requests are answered from
	hub   *hub   // the waiting pages' open push connections

	unsubscribe func()
	closeOnce   sync.Once
	failing     atomic.Bool // the last request met a store failure

	writers sync.Pool // *responseWriter
}

func newEdge(room *waitroom.Room, opts []Option) *edge {
	e := &edge{room: room, cfg: newConfig(opts)}
	e.cache = newCache(room, &e.cfg)
	e.writers.New = func() any { return new(responseWriter) }
	e.hub = newHub(e)
	if room != nil {
		e.unsubscribe = room.Subscribe(e.onEvent)
		e.cache.live.Store(true)
	}
	return e
}

// close closes the push connections, unsubscribes from the feed and stops
// using the cache, which would no longer learn of releases and admissions.
func (e *edge) close() {
	e.closeOnce.Do(func() {
		e.hub.close()
		e.cache.live.Store(false)
		if e.unsubscribe != nil {
			e.unsubscribe()
		}
		e.cache.purge()
	})
}

// onEvent passes an event of the change feed to the notifier and the
// cache. It runs on the Room's feed goroutine and only touches memory.
func (e *edge) onEvent(ev waitroom.Event) {
	e.hub.onEvent(ev)
	e.cache.onEvent(ev)
}

// logFailure logs the first failure of a run of them; recovered logs the
// end of the run. A store outage thus logs two lines, not one per request.
func (e *edge) logFailure(zone string, err error) {
	if !e.failing.Swap(true) {
		e.cfg.logger.Warn("waitroom: middleware: cannot reach the store; applying the fail policy",
			"zone", zone, "policy", e.room.FailPolicy().String(), "err", err)
	}
}

func (e *edge) recovered() {
	if e.failing.Load() && e.failing.Swap(false) {
		e.cfg.logger.Info("waitroom: middleware: store reachable again")
	}
}

// visitor returns the visitor of the first valid visitor cookie for zone.
func (e *edge) visitor(r *http.Request, zone string) (v waitroom.Visitor, ok bool) {
	now, keys := e.room.Now(), e.room.Keys()
	eachCookie(r.Header, visitorCookie, zone, func(raw string) bool {
		v, ok = e.cache.checkVisitor(raw, zone, keys, now)
		return !ok
	})
	return v, ok
}

// findAccess returns the first valid access token for zone among the
// request's access cookies.
func (e *edge) findAccess(h http.Header, zone string, now time.Time, keys *waitroom.KeyRing) (ent *accessEntry, raw string) {
	eachCookie(h, accessCookie, zone, func(v string) bool {
		if ent = e.cache.checkAccess(v, zone, keys, now); ent != nil {
			raw = v
			return false
		}
		return true
	})
	return ent, raw
}

// releaseTimeout bounds a release's store call; a release through the
// response header runs even if the client has gone.
const releaseTimeout = 5 * time.Second

// releaseAccess ends the visit of an access token on the origin's word
// (release header): the token stops working here at once and its cookie is
// cleared, even if the store cannot be told (the slot then leaks when its
// session ends).
func (e *edge) releaseAccess(ctx context.Context, h http.Header, r *http.Request, zone string, a waitroom.Access, raw string) {
	e.cache.revoke(raw, a)
	e.clearCookie(h, r, accessCookie, zone)
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	if _, err := e.room.Release(ctx, zone, a.Visitor); err != nil {
		e.cfg.logger.Warn("waitroom: middleware: release failed; the slot leaks when its session ends",
			"zone", zone, "err", err)
	}
}
