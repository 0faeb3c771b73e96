package middleware

import (
	"net/http"
)

// This file serves the shell of the waiting page (WithShellPage): the
// page a visitor in line refreshes, the same for every visitor of a zone
// and return URL, so that any cache may answer it.

// serveShell answers {prefix}/wait?zone=Z&return=U with the shell of
// zone's waiting page for the return URL U (config.returnURL): status
// 200, public, with an ETag. It reads no cookie and sets none, and asks
// the store nothing: the page's script asks for the visitor's standing.
// An unknown zone gets 400, as at the status endpoint.
func (h *Handler) serveShell(w http.ResponseWriter, r *http.Request) {
	e := h.e
	zone, ok := zoneParam(w, r)
	if !ok {
		return
	}
	z, known := e.room.Zone(zone)
	if !known {
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	ret := e.cfg.returnURL(r)
	// Until its first report the page polls at the pace of a short wait.
	every := min(retryAfter(0, z.AbandonAfter), e.cfg.maxRetryAfter)
	k := pageKey{zone: zone, uri: ret, shell: true, retryAfter: every}
	if p, ok := e.cache.page(k); ok {
		p.answer(w, r)
		return
	}
	d := e.shellData(ret, zone, every)
	p, ok := h.render(d, false)
	if ok {
		e.cache.keepPage(k, p)
	}
	p.answer(w, r)
}

// shellData is the PageData of the shell of zone for the return URL ret:
// a waiting page without a standing.
func (e *edge) shellData(ret, zone string, every int) *PageData {
	d := &PageData{State: "waiting", Zone: zone, StatusCode: http.StatusOK, Shell: true, RetryAfter: every,
		StatusURL: e.cfg.prefix + "/status?zone=" + zone, ReturnURL: ret}
	q := endpointQuery(zone, ret)
	d.ClaimURL = e.cfg.prefix + "/claim?" + q
	if e.cfg.websocket {
		d.WebSocketURL = e.cfg.prefix + "/ws?" + q
	}
	if e.cfg.events {
		d.EventsURL = e.cfg.prefix + "/events?" + q
	}
	return d
}
