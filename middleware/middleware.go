package middleware

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/waitroom/waitroom"
)

// A Handler protects the zones of a Room in front of another handler. It is
// safe for concurrent use. Close ends its push connections and
// unsubscribes it from the Room's change feed.
type Handler struct {
	e    *edge
	next http.Handler
}

// Wrap returns a Handler that puts room in front of next. A nil next
// answers 404 to what passes; a nil room makes every request fail with 500
// (a program error, logged once per request). Close the Handler when done
// with it; closing the Room stops its feed as well.
func Wrap(room *waitroom.Room, next http.Handler, opts ...Option) *Handler {
	if next == nil {
		next = http.NotFoundHandler()
	}
	return &Handler{e: newEdge(room, opts), next: next}
}

// New returns the middleware form of Wrap, for routers that chain
// func(http.Handler) http.Handler (chi, alice). Every handler it wraps
// shares one edge cache, one subscription to the Room's change feed and
// one set of push connections, which end when the Room closes.
func New(room *waitroom.Room, opts ...Option) func(http.Handler) http.Handler {
	e := newEdge(room, opts)
	return func(next http.Handler) http.Handler {
		if next == nil {
			next = http.NotFoundHandler()
		}
		return &Handler{e: e, next: next}
	}
}

// Close closes the Handler's push connections (websockets, event streams),
// waits for their goroutines to end, and unsubscribes the Handler from the
// Room's change feed. Requests served after Close skip the edge cache and
// keep working; push handshakes get 503 and the page polls.
func (h *Handler) Close() error {
	h.e.close()
	return nil
}

type accessKey struct{}

// accessCtx is the request context of a visitor inside: its parent plus
// the visitor's access, answered for accessKey.
type accessCtx struct {
	context.Context
	access *waitroom.Access
}

func (c *accessCtx) Value(key any) any {
	if _, ok := key.(accessKey); ok {
		return c.access
	}
	return c.Context.Value(key)
}

func (c *accessCtx) String() string { return "waitroom.middleware.accessCtx" }

// accessRequest holds a request and its context in one allocation: the
// path of a visitor inside allocates once.
type accessRequest struct {
	ctx accessCtx
	req http.Request
}

// withAccess returns a shallow copy of r whose context carries a.
func withAccess(r *http.Request, a *waitroom.Access) *http.Request {
	x := &accessRequest{ctx: accessCtx{Context: r.Context(), access: a}}
	x.req = *r.WithContext(&x.ctx)
	return &x.req
}

// AccessFrom returns the access of the visitor whose request the Handler
// let through, for example to call room.Release(ctx, a.Zone, a.Visitor)
// when its checkout is done. ok is false outside a protected zone and when
// FailOpen let a request through without one.
func AccessFrom(ctx context.Context) (a waitroom.Access, ok bool) {
	p, ok := ctx.Value(accessKey{}).(*waitroom.Access)
	if !ok || p == nil {
		return waitroom.Access{}, false
	}
	return *p, true
}

// ServeHTTP answers reserved endpoints, passes bypassed and unprotected
// requests on, and lets a protected request through only with a valid
// access token. Every rule is judged on the request's canonical path
// (waitroom.CanonicalPath), and a request whose path is not canonical
// ("//checkout", "/x/../checkout", "/%2Fcheckout") reaches the next
// handler with the canonical one, so no spelling the Handler did not judge
// gets past it. A canonical path reaches it as it came, escapes included.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e := h.e
	if e.room == nil {
		e.cfg.logger.Error("waitroom: middleware: Wrap was given a nil room")
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if c := waitroom.CanonicalPath(r.URL.Path); c != r.URL.Path {
		r = withPath(r, c)
	}
	path := r.URL.Path
	if path == e.cfg.prefix || strings.HasPrefix(path, e.cfg.prefixSlash) {
		h.serveReserved(w, r, path[len(e.cfg.prefix):])
		return
	}
	if e.cfg.bypassed(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	zone, ok := e.room.MatchPath(path)
	if !ok && e.cfg.zoneFunc != nil {
		zone, ok = e.cfg.zoneFunc(r)
	}
	if !ok {
		h.next.ServeHTTP(w, r)
		return
	}

	now := e.room.Now()
	if ent, raw := e.findAccess(r.Header, zone, now, e.room.Keys()); ent != nil {
		h.pass(w, r, zone, ent, raw)
		return
	}
	h.visit(w, r, zone)
}

// withPath returns a shallow copy of r whose URL path is p: the spelling
// the Handler judged is the one the next handler sees.
func withPath(r *http.Request, p string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r2.URL = &u
	if r.RequestURI != "" {
		r2.RequestURI = u.RequestURI()
	}
	return r2
}

// bypassed reports whether a bypass rule lets r pass untouched.
func (c *config) bypassed(r *http.Request) bool {
	for _, m := range c.bypassMethods {
		if r.Method == m {
			return true
		}
	}
	for _, p := range c.bypassPaths {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return c.bypass != nil && c.bypass(r)
}

// pass hands the request to the next handler, with the visitor's access in
// its context (none when ent is nil) and the release header watched.
func (h *Handler) pass(w http.ResponseWriter, r *http.Request, zone string, ent *accessEntry, raw string) {
	if ent != nil {
		r = withAccess(r, &ent.access)
	}
	rw := h.e.writers.Get().(*responseWriter)
	*rw = responseWriter{ResponseWriter: w, e: h.e, r: r, zone: zone, ent: ent, raw: raw}
	h.next.ServeHTTP(rw, r)
	rw.finish()
	*rw = responseWriter{}
	h.e.writers.Put(rw)
}

// visit is the way of a protected request without a valid access token:
// the Room (or the edge cache) says whether the visitor goes in or waits.
func (h *Handler) visit(w http.ResponseWriter, r *http.Request, zone string) {
	e, c := h.e, h.e.cache
	ctx := r.Context()
	now := e.room.Now()
	zc := c.zone(zone) // nil on a zone func's first visit: nothing cached then
	gen, pz := zc.generation(), e.hub.zoneState(zone)

	var out waitroom.Outcome
	var err error
	v, known := e.visitor(r, zone)
	if known {
		if s, ok := c.standing(zone, v.ID, now); ok {
			h.serveStanding(w, r, zone, s, now)
			return
		}
		out, err = e.room.Visit(ctx, zone, &v, false)
	} else {
		if !h.admitNewcomer(w, r, zone, now) { // entry.go: limit and check
			return
		}
		// While the zone is marked full, or somebody waits, a newcomer
		// goes straight to the back of the line: one store operation fewer.
		out, err = e.room.Visit(ctx, zone, nil, !zc.full(now) && !zc.queued(now))
	}
	if err != nil {
		h.fail(w, r, zone, err)
		return
	}
	e.recovered()
	if out.VisitorToken != "" {
		c.newVisitor(out.VisitorToken, out.Visitor)
		e.setCookie(w, r, visitorCookie, zone, out.VisitorToken, out.Visitor.Expires)
	}
	switch out.State {
	case waitroom.StateInside:
		e.setCookie(w, r, accessCookie, zone, out.AccessToken, out.Access.Expires)
		h.pass(w, r, zone, c.admit(out.AccessToken, out.Access), out.AccessToken)
	case waitroom.StateClosed:
		h.serveStanding(w, r, zone, standingOf(out, now), now)
	default:
		if out.State != waitroom.StateWaiting {
			// Visit claims; an admitted standing here would be a Room
			// bug. Showing the line keeps the origin safe.
			out.State = waitroom.StateWaiting
		}
		s := standingOf(out, now)
		c.keepStanding(zc, gen, pz, zone, out.Visitor.ID, s)
		c.markQueued(zc, now)
		if !known {
			c.markFull(zc, gen, now)
		}
		h.serveStanding(w, r, zone, s, now)
	}
}

// fail applies the fail policy to a request the Room could not decide.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, zone string, err error) {
	e := h.e
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client has gone
	}
	e.logFailure(zone, err)
	if o := e.cfg.observer; o != nil {
		o.FailPolicy(zone, e.room.FailPolicy())
	}
	if e.room.FailPolicy() == waitroom.FailOpen {
		h.pass(w, r, zone, nil, "")
		return
	}
	h.serveUnavailable(w, r, zone)
}
