package middleware

import (
	"context"
	"errors"
	"net/http"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/ident"
)

// serveReserved answers a request under the prefix; sub is the path after
// it. The push channels (ws, events) carry the status endpoint's report;
// wait is the shell of WithShellPage.
func (h *Handler) serveReserved(w http.ResponseWriter, r *http.Request, sub string) {
	if sub != "/wait" { // the shell's answers say how they may be stored
		w.Header().Set("Cache-Control", "no-store")
	}
	switch sub {
	case "/ws":
		h.serveWebSocket(w, r)
	case "/events":
		h.serveEvents(w, r)
	case "/status":
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.serveStatus(w, r)
	case "/wait":
		if !h.e.cfg.shell {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.serveShell(w, r)
	case "/claim":
		if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		h.serveClaim(w, r)
	case "/release":
		if !allowMethods(w, r, http.MethodPost) {
			return
		}
		h.serveRelease(w, r)
	default:
		writeError(w, http.StatusNotFound, "not found")
	}
}

// zoneParam returns the zone named by the query, or answers 400.
func zoneParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	zone := r.URL.Query().Get("zone")
	if !ident.ValidZone(zone) {
		writeError(w, http.StatusBadRequest, "missing or malformed zone")
		return "", false
	}
	return zone, true
}

// serveStatus reports the standing of the request's visitor in a zone. It
// never claims: an admitted visitor is told to go to the claim endpoint.
func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	e, c := h.e, h.e.cache
	zone, ok := zoneParam(w, r)
	if !ok {
		return
	}
	v, ok := e.visitor(r, zone)
	if !ok {
		h.noPlace(w, zone)
		return
	}
	now := e.room.Now()
	if s, ok := c.standing(zone, v.ID, now); ok {
		writeJSON(w, http.StatusOK, e.pageData(e.cfg.returnURL(r), zone, s, now).report())
		return
	}
	zc := c.zone(zone)
	gen, pz := zc.generation(), e.hub.zoneState(zone)
	out, err := e.room.Status(r.Context(), zone, v)
	if err != nil {
		h.endpointFailure(w, r, zone, err)
		return
	}
	e.recovered()
	s := standingOf(out, now)
	c.keepStanding(zc, gen, pz, zone, v.ID, s)
	writeJSON(w, http.StatusOK, e.pageData(e.cfg.returnURL(r), zone, s, now).report())
}

// noPlace answers a request that holds no valid place in zone's line: 404
// with state "none" (the page then reloads the protected URL, which queues
// it again), or 400 if the Room knows no such zone.
func (h *Handler) noPlace(w http.ResponseWriter, zone string) {
	if _, known := h.e.room.Zone(zone); !known {
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	writeJSON(w, http.StatusNotFound, report{State: stateNone, Zone: zone})
}

// serveClaim turns an admitted visitor's turn into an access cookie and
// sends it back to the URL it first asked for.
func (h *Handler) serveClaim(w http.ResponseWriter, r *http.Request) {
	e := h.e
	ret := r.URL.Query().Get("return")
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
			h.noPlace(w, zone)
			return
		}
		seeOther(w, ret) // the protected page queues a newcomer
		return
	}
	now := e.room.Now()
	out, err := e.room.Claim(r.Context(), zone, v)
	if err != nil {
		if asJSON {
			h.endpointFailure(w, r, zone, err)
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
		e.cache.forget(zone, v.ID)
		e.cache.admit(out.AccessToken, out.Access)
		e.setCookie(w, r, accessCookie, zone, out.AccessToken, out.Access.Expires)
		seeOther(w, ret)
	case waitroom.StateClosed:
		if asJSON {
			writeJSON(w, http.StatusGone, e.pageData(e.cfg.returnURL(r), zone, standingOf(out, now), now).report())
			return
		}
		seeOther(w, ret)
	default:
		if asJSON {
			writeJSON(w, http.StatusConflict, e.pageData(e.cfg.returnURL(r), zone, standingOf(out, now), now).report())
			return
		}
		seeOther(w, ret)
	}
}

// serveRelease gives up the visitor's slot or place in line and clears its
// cookies. Releasing nothing is no error.
func (h *Handler) serveRelease(w http.ResponseWriter, r *http.Request) {
	e := h.e
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
			h.endpointFailure(w, r, zone, err)
			return
		}
		e.cache.revoke(raw, ent.access)
	}
	if hasPlace && (ent == nil || ent.access.Visitor != v.ID) {
		if _, err := e.room.Release(ctx, zone, v.ID); err != nil {
			h.endpointFailure(w, r, zone, err)
			return
		}
	}
	if hasPlace {
		e.cache.forget(zone, v.ID)
	}
	e.clearCookie(w.Header(), r, accessCookie, zone)
	e.clearCookie(w.Header(), r, visitorCookie, zone)
	w.WriteHeader(http.StatusNoContent)
}

// endpointFailure answers a reserved endpoint whose Room call failed.
func (h *Handler) endpointFailure(w http.ResponseWriter, r *http.Request, zone string, err error) {
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return
	case errors.Is(err, waitroom.ErrZoneNotFound):
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	h.e.logFailure(zone, err)
	w.Header().Set("Retry-After", itoa(unavailableRetry))
	writeJSON(w, http.StatusServiceUnavailable, report{State: stateUnavailable, Zone: zone, RetryAfterSeconds: unavailableRetry})
}
