package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/waitroom/waitroom"
)

// serveReserved answers a request under the prefix; sub is the path after
// it. The push channels (ws, events) carry the status endpoint's report.
func (e *edge) serveReserved(w http.ResponseWriter, r *http.Request, sub string) {
	w.Header().Set("Cache-Control", "no-store")
	switch sub {
	case "/ws":
		e.serveWebSocket(w, r)
	case "/events":
		e.serveEvents(w, r)
	case "/status":
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		e.serveStatus(w, r)
	case "/claim":
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		e.serveClaim(w, r)
	case "/release":
		if !allowMethods(w, r, http.MethodPost) {
			return
		}
		e.serveRelease(w, r)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := methods[0]
	for _, m := range methods[1:] {
		allow += ", " + m
	}
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method not allowed")
	return false
}

// zoneParam returns the zone named by the query, or answers 400.
func zoneParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	zone := r.URL.Query().Get("zone")
	if !validZoneName(zone) {
		writeError(w, http.StatusBadRequest, "missing or malformed zone")
		return "", false
	}
	return zone, true
}

// validZoneName reports whether s is a possible zone name: 1-64 letters,
// digits, '.', '_' or '-' (the rule of waitroom.Zone.Name).
func validZoneName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// serveStatus reports the standing of the request's visitor in a zone. It
// never claims: an admitted visitor is told to go to the claim endpoint.
func (e *edge) serveStatus(w http.ResponseWriter, r *http.Request) {
	zone, ok := zoneParam(w, r)
	if !ok {
		return
	}
	v, ok := e.visitor(r, zone)
	if !ok {
		e.noPlace(w, zone)
		return
	}
	now := e.room.Now()
	if s, ok := e.cachedStanding(zone, v.ID, now); ok {
		writeJSON(w, http.StatusOK, e.pageData(e.returnURL(r), zone, s, now).report())
		return
	}
	zc := e.zoneCache(zone)
	gen, pz := zc.generation(), e.push.zoneState(zone)
	out, err := e.room.Status(r.Context(), zone, v)
	if err != nil {
		e.endpointFailure(w, r, zone, err)
		return
	}
	e.recovered()
	s := standingOf(out)
	e.keepStanding(zc, gen, pz, zone, v.ID, s, now)
	writeJSON(w, http.StatusOK, e.pageData(e.returnURL(r), zone, s, now).report())
}

// noPlace answers a request that holds no valid place in zone's line: 404
// with state "none" (the page then reloads the protected URL, which queues
// it again), or 400 if the Room knows no such zone.
func (e *edge) noPlace(w http.ResponseWriter, zone string) {
	if _, known := e.room.Zone(zone); !known {
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	writeJSON(w, http.StatusNotFound, report{State: "none", Zone: zone})
}

// serveClaim turns an admitted visitor's turn into an access cookie and
// sends it back to the URL it first asked for.
func (e *edge) serveClaim(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ret := q.Get("return")
	if ret == "" {
		ret = "/"
	}
	if !safeReturn(ret) {
		writeError(w, http.StatusBadRequest, "return must be a path on this site")
		return
	}
	zone, ok := zoneParam(w, r)
	if !ok {
		return
	}
	asJSON := acceptsJSON(r)
	v, ok := e.visitor(r, zone)
	if !ok {
		if asJSON {
			e.noPlace(w, zone)
			return
		}
		seeOther(w, ret) // the protected page queues a newcomer
		return
	}
	now := e.room.Now()
	out, err := e.room.Claim(r.Context(), zone, v)
	if err != nil {
		if asJSON {
			e.endpointFailure(w, r, zone, err)
			return
		}
		if !errors.Is(err, context.Canceled) {
			e.logFailure(zone, err)
		}
		seeOther(w, ret) // the protected page applies the fail policy
		return
	}
	e.recovered()
	switch out.State {
	case waitroom.StateInside:
		e.forget(zone, v.ID)
		e.admit(out.AccessToken, out.Access)
		e.setCookie(w, r, accessCookie, zone, out.AccessToken, out.Access.Expires)
		seeOther(w, ret)
	case waitroom.StateClosed:
		if asJSON {
			writeJSON(w, http.StatusGone, e.pageData(e.returnURL(r), zone, standingOf(out), now).report())
			return
		}
		seeOther(w, ret)
	default:
		if asJSON {
			writeJSON(w, http.StatusConflict, e.pageData(e.returnURL(r), zone, standingOf(out), now).report())
			return
		}
		seeOther(w, ret)
	}
}

// serveRelease gives up the visitor's slot or place in line and clears its
// cookies. Releasing nothing is no error.
func (e *edge) serveRelease(w http.ResponseWriter, r *http.Request) {
	zone, ok := zoneParam(w, r)
	if !ok {
		return
	}
	ent, raw := e.findAccess(r.Header, zone, e.room.Now(), e.room.Keys())
	v, hasPlace := e.visitor(r, zone)
	ctx, cancel := context.WithTimeout(r.Context(), releaseTimeout)
	defer cancel()
	if ent != nil {
		if _, err := e.room.Release(ctx, zone, ent.access.Visitor); err != nil {
			e.endpointFailure(w, r, zone, err)
			return
		}
		e.revoke(raw, ent.access)
	}
	if hasPlace && (ent == nil || ent.access.Visitor != v.ID) {
		if _, err := e.room.Release(ctx, zone, v.ID); err != nil {
			e.endpointFailure(w, r, zone, err)
			return
		}
	}
	if hasPlace {
		e.forget(zone, v.ID)
	}
	e.clearCookie(w.Header(), r, accessCookie, zone)
	e.clearCookie(w.Header(), r, visitorCookie, zone)
	w.WriteHeader(http.StatusNoContent)
}

// releaseTimeout bounds a release's store call; a release through the
// response header runs even if the client has gone.
const releaseTimeout = 5 * time.Second

// releaseAccess ends the visit of an access token on the origin's word
// (release header): the token stops working here at once and its cookie is
// cleared, even if the store cannot be told (the slot then leaks when its
// session ends).
func (e *edge) releaseAccess(ctx context.Context, h http.Header, r *http.Request, zone string, a waitroom.Access, raw string) {
	e.revoke(raw, a)
	e.clearCookie(h, r, accessCookie, zone)
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	if _, err := e.room.Release(ctx, zone, a.Visitor); err != nil {
		e.cfg.logger.Warn("waitroom: middleware: release failed; the slot leaks when its session ends",
			"zone", zone, "err", err)
	}
}

// endpointFailure answers a reserved endpoint whose Room call failed.
func (e *edge) endpointFailure(w http.ResponseWriter, r *http.Request, zone string, err error) {
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return
	case errors.Is(err, waitroom.ErrZoneNotFound):
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	e.logFailure(zone, err)
	w.Header().Set("Retry-After", itoa(unavailableRetry))
	writeJSON(w, http.StatusServiceUnavailable, report{State: stateUnavailable, Zone: zone, RetryAfterSeconds: unavailableRetry})
}

// findAccess returns the first valid access token for zone among the
// request's access cookies.
func (e *edge) findAccess(h http.Header, zone string, now time.Time, keys *waitroom.KeyRing) (ent *accessEntry, raw string) {
	eachCookie(h, accessCookie, zone, func(v string) bool {
		if ent = e.checkAccess(v, zone, keys, now); ent != nil {
			raw = v
			return false
		}
		return true
	})
	return ent, raw
}

// safeReturn reports whether s may be redirected to: a path on this site.
// It refuses absolute and scheme-relative URLs ("//host", "/\host"),
// backslashes, control and non-ASCII bytes: no open redirect.
func safeReturn(s string) bool {
	if len(s) == 0 || len(s) > 2048 || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

func seeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}
