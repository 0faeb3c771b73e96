package middleware

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/waitroom/waitroom/internal/ident"
)

// This file serves the shell of the waiting page (WithShellPage): the
// page a visitor in line refreshes, the same for every visitor of a zone
// and return URL, so that any cache may answer it.

// serveShell answers {prefix}/wait?zone=Z&return=U with the shell of
// zone's waiting page for the return URL U (config.returnURL): status
// 200, public, with an ETag. It reads no cookie and sets none, and asks
// the store nothing: the page's script asks for the visitor's standing.
// An unknown zone gets 400, as at the status endpoint.
//
// The whole crowd refreshes it, so a refresh of a shell already rendered
// parses nothing: the rendered shells are kept by the return parameter
// as the query spells it (or, for a query shellQuery cannot read, as
// url.QueryEscape spells it).
func (h *Handler) serveShell(w http.ResponseWriter, r *http.Request) {
	e := h.e
	zone, rawRet, plain := shellQuery(r.URL.RawQuery)
	if !plain {
		q := r.URL.Query()
		zone, rawRet = q.Get("zone"), url.QueryEscape(q.Get("return"))
	}
	if !ident.ValidZone(zone) {
		writeError(w, http.StatusBadRequest, "missing or malformed zone")
		return
	}
	z, known := e.room.Zone(zone)
	if !known {
		writeError(w, http.StatusBadRequest, "unknown zone")
		return
	}
	// Until its first report the page polls at the pace of a short wait.
	every := min(retryAfter(0, z.AbandonAfter), e.cfg.maxRetryAfter)
	k := pageKey{zone: zone, uri: rawRet, shell: true, retryAfter: every}
	keep := len(rawRet) <= maxKeyURI
	if keep {
		if p, ok := e.cache.page(k); ok {
			p.answer(w, r)
			return
		}
	}
	ret, err := url.QueryUnescape(rawRet)
	if err != nil {
		ret = ""
	}
	p, ok := h.render(e.shellData(e.cfg.returnParam(ret), zone, every), false)
	if ok && keep {
		k.uri = strings.Clone(rawRet) // not the whole query
		e.cache.keepPage(k, p)
	}
	p.answer(w, r)
}

// shellQuery returns the zone and return parameters of a raw query, each
// the first of its name as url.Values.Get reads them, the return one as
// the query spells it. plain is false for a query it cannot read so
// (an escaped key or zone, a semicolon): the caller parses it then.
func shellQuery(raw string) (zone, rawRet string, plain bool) {
	if strings.IndexByte(raw, ';') >= 0 {
		return "", "", false
	}
	var haveZone, haveRet bool
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(key, "%+") {
			return "", "", false
		}
		switch {
		case key == "zone" && !haveZone:
			if strings.ContainsAny(val, "%+") {
				return "", "", false
			}
			zone, haveZone = val, true
		case key == "return" && !haveRet:
			rawRet, haveRet = val, true
		}
	}
	return zone, rawRet, true
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
