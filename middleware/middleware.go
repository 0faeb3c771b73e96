// Package middleware puts a waitroom.Room in front of an http.Handler: it
// lets visitors with a valid access token through, queues everyone else on
// a waiting page (or JSON) that follows their place in line live, and
// serves the endpoints the page uses (status, claim, release, and the
// websocket and event stream that push its updates).
//
// A request for a path of a zone goes through these steps:
//
//  1. The path is made canonical (waitroom.CanonicalPath: slashes merged,
//     dot segments resolved); the next handler gets that spelling. Bypass
//     rules (WithBypassPaths, WithBypassMethods, WithBypass) and requests
//     no zone protects (Room.Match) pass on.
//  2. A valid access cookie for the zone ("wr_a_<zone>") passes to the next
//     handler, with the Access in the request context (AccessFrom). This is
//     checked locally: a cache hit or a signature check, never a store call.
//  3. Otherwise the visitor cookie ("wr_v_<zone>") names the visitor's place
//     in line; a missing, forged, expired or foreign one makes a newcomer.
//     The Room decides (Room.Visit): the visitor goes in (direct entry, or
//     its turn has come), or waits, or the sale has ended.
//  4. A waiting visitor gets the waiting page with status 429 and
//     Retry-After, or JSON when it accepts application/json. Its repeat
//     requests and the page's polls are answered from the edge cache for
//     WithPositionTTL; the change feed drops the entry when it is let in.
//
// When the store fails, the Room's FailPolicy applies: FailClosed answers
// 503 with the waiting page (access tokens already issued keep working,
// since step 2 needs no store), FailOpen passes to the next handler. Error
// texts are logged, never sent.
//
// The next handler ends a visit early by setting the release header
// (WithReleaseHeader) on its response, or by calling Room.Release with the
// visitor of AccessFrom.
//
// Reserved endpoints, under the prefix (WithPrefix, default "/.waitroom"):
//
//	GET  {prefix}/status?zone=Z          the visitor's standing, as JSON (never claims)
//	GET  {prefix}/claim?zone=Z&return=U  claims an admitted visitor's slot, sets the access cookie, 303 to U
//	POST {prefix}/release?zone=Z         gives up the slot or the place in line, clears the cookies, 204
//	GET  {prefix}/ws?zone=Z&return=U     websocket: pushes the visitor's standing (WithWebSocket)
//	GET  {prefix}/events?zone=Z&return=U server-sent events: the same messages (WithServerSentEvents)
//
// JSON bodies (waiting page, status endpoint, push messages) have the
// fields state ("waiting", "admitted", "inside", "closed", "unavailable" or
// "none"), zone, position (ahead+1 while waiting), ahead, eta_seconds,
// eta_low_seconds, eta_high_seconds, opens_at (RFC 3339, omitted when open),
// retry_after_seconds, for the page's script progress (0-100), eta_text and
// eta_range_text, and when the state is "admitted" or "inside", claim_url:
// the claim endpoint for the zone and the return URL (the request's return
// parameter where it is a path on this site outside the prefix, else "/").
//
// # Live updates
//
// The waiting page follows the line over the best channel that works: a
// websocket, else server-sent events, else polling the status endpoint
// every retry_after_seconds, else (no JavaScript) a <meta> refresh of the
// protected URL. A push connection sends one text message (websocket) or
// one "data:" event (event stream) with the report above when it opens and
// whenever the report changes: the line's moves are read from the Room's
// change feed, so admissions made by any instance count, and they are
// coalesced to at most one message per WithPushInterval. The visitor's own
// turn is pushed at once as a report with state "admitted" and claim_url;
// the page closes the connection and goes to claim_url, which sets the
// access cookie and returns the visitor to the URL it first asked for. A
// report with state "closed" (the sale has ended) is final too. After a
// final report the server closes a connection the client has not closed
// within 5 seconds (websocket status 1000, end of stream).
//
// An open connection is the visitor's heartbeat: it calls Room.Heartbeat
// (one store write) every quarter of the zone's AbandonAfter, so its place
// is kept, and a visitor whose connection dropped is skipped AbandonAfter
// after its last heartbeat. Its position between heartbeats comes from the
// change feed; it reads the store (Room.Status) when it opens, and after
// lost events, a failed call or the end of its place. Position updates
// are paced by the visitor's wait: after one, the connection sleeps
// through the line's moves for a quarter of its shortest wait, from the
// push interval to 15 seconds; the turn is sent at once. A websocket is pinged every 20 seconds (at most every
// AbandonAfter/2) and closed if no pong comes within 10; an event stream
// ends after 30 seconds (at most AbandonAfter/2) and the browser opens it
// again, so a client that vanished without closing stops counting as
// present.
//
// A push handshake is refused with a JSON error and these codes: 400 for a
// missing, malformed or unknown zone; 401 without a valid visitor token for
// the zone (missing, forged, expired, another zone's: load the protected
// page first); 403 for an Origin the Handler does not allow (same host by
// default, see WithOrigins and WithOriginCheck); 429 past the connections
// per client address, 503 past the connections in all, after Close, or
// when the store fails, both with Retry-After (WithMaxConnectionsPerIP,
// WithMaxConnections); 404 when the endpoint is turned off; 426 for a
// request to {prefix}/ws that is not a websocket handshake. A refused page
// falls back to the next channel.
//
// Handler.Close closes every push connection (websocket status 1001, end
// of stream) and waits for their goroutines; so does closing the Room
// (within a quarter second) and shutting down the http.Server that serves
// them (http.Server.Shutdown: the Handler registers itself with
// RegisterOnShutdown when it first serves a push connection).
//
// Status codes: waiting 429 (WithStatus); sale ended 410 Gone; store
// failure 503 with Retry-After. The status endpoint answers 200 for every
// standing, 400 for a missing or unknown zone, and 404 (state "none") when
// the request holds no valid place in the zone's line. The claim endpoint
// answers 400 unless return is a path on this site ("/...", not "//..."),
// else 303 to it whatever the outcome (the page there shows the standing);
// clients asking for JSON get 409 while still waiting, 410 when the sale
// has ended and 404 without a place instead.
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
		e.serveReserved(w, r, path[len(e.cfg.prefix):])
		return
	}
	if e.bypassed(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	zone, ok := e.room.Match(r)
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

func (e *edge) bypassed(r *http.Request) bool {
	for _, m := range e.cfg.bypassMethods {
		if r.Method == m {
			return true
		}
	}
	for _, p := range e.cfg.bypassPaths {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return e.cfg.bypass != nil && e.cfg.bypass(r)
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
	e := h.e
	ctx := r.Context()
	now := e.room.Now()
	zc := e.zoneCache(zone) // nil on a zone func's first visit: nothing cached then
	gen, pz := zc.generation(), e.push.zoneState(zone)

	var out waitroom.Outcome
	var err error
	v, known := e.visitor(r, zone)
	if known {
		if s, ok := e.cachedStanding(zone, v.ID, now); ok {
			e.serveStanding(w, r, zone, s, now)
			return
		}
		out, err = e.room.Visit(ctx, zone, &v, false)
	} else {
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
		e.newVisitor(out.VisitorToken, out.Visitor)
		e.setCookie(w, r, visitorCookie, zone, out.VisitorToken, out.Visitor.Expires)
	}
	switch out.State {
	case waitroom.StateInside:
		e.setCookie(w, r, accessCookie, zone, out.AccessToken, out.Access.Expires)
		h.pass(w, r, zone, e.admit(out.AccessToken, out.Access), out.AccessToken)
	case waitroom.StateClosed:
		e.serveStanding(w, r, zone, standingOf(out), now)
	default:
		if out.State != waitroom.StateWaiting {
			// Visit claims; an admitted standing here would be a Room
			// bug. Showing the line keeps the origin safe.
			out.State = waitroom.StateWaiting
		}
		s := standingOf(out)
		e.keepStanding(zc, gen, pz, zone, out.Visitor.ID, s, now)
		e.markQueued(zc, now)
		if !known {
			e.markFull(zc, gen, now)
		}
		e.serveStanding(w, r, zone, s, now)
	}
}

// visitor returns the visitor of the first valid visitor cookie for zone.
func (e *edge) visitor(r *http.Request, zone string) (v waitroom.Visitor, ok bool) {
	now, keys := e.room.Now(), e.room.Keys()
	eachCookie(r.Header, visitorCookie, zone, func(raw string) bool {
		v, ok = e.checkVisitor(raw, zone, keys, now)
		return !ok
	})
	return v, ok
}

// fail applies the fail policy to a request the Room could not decide.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, zone string, err error) {
	e := h.e
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client has gone
	}
	e.logFailure(zone, err)
	if e.room.FailPolicy() == waitroom.FailOpen {
		h.pass(w, r, zone, nil, "")
		return
	}
	e.serveUnavailable(w, r, zone)
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
