package middleware

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// This file serves the push endpoints: {prefix}/ws (websocket) and
// {prefix}/events (server-sent events). Both pass the same checks
// (openPush), then hand the connection to its watcher (watcher.go), which
// the notifier (hub.go) wakes.

// serveWebSocket answers {prefix}/ws: a websocket that pushes the
// visitor's reports.
func (h *Handler) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !h.e.cfg.websocket {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, "websocket handshake expected")
		return
	}
	wt := h.openPush(w, r, false)
	if wt == nil {
		return
	}
	defer h.e.hub.remove(wt)
	// The origin was checked by openPush, by this Handler's rule.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered: a malformed handshake
	}
	conn.SetReadLimit(512) // the client sends nothing but control frames
	c := &socketConn{conn: conn, ctx: conn.CloseRead(context.Background()), writeTimeout: h.e.cfg.writeTimeout}
	switch wt.serve(c) {
	case endFinal:
		conn.Close(websocket.StatusNormalClosure, "")
	case endServer:
		conn.Close(websocket.StatusGoingAway, "server closing")
	default:
		conn.CloseNow()
	}
}

// socketConn is a websocket as a pushConn.
type socketConn struct {
	conn         *websocket.Conn
	ctx          context.Context // ends when the connection does (CloseRead)
	writeTimeout time.Duration
}

func (c *socketConn) send(msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.writeTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, msg)
}

func (c *socketConn) ping(ctx context.Context) error { return c.conn.Ping(ctx) }

func (c *socketConn) context() context.Context { return c.ctx }

// serveEvents answers {prefix}/events: an event stream (text/event-stream)
// that pushes the visitor's reports, one "data:" line each.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request) {
	e := h.e
	if !e.cfg.events {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if !allowMethods(w, r, http.MethodGet) {
		return
	}
	if !canFlush(w) {
		writeError(w, http.StatusNotImplemented, "event streams are not supported here")
		return
	}
	wt := h.openPush(w, r, true)
	if wt == nil {
		return
	}
	defer e.hub.remove(wt)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Accel-Buffering", "no") // proxies (nginx) must not buffer the stream
	w.WriteHeader(http.StatusOK)
	c := &streamConn{w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	// One write deadline for the whole stream, which ends by its lifetime
	// and the final report's linger: a client that stops reading holds a
	// write no longer than writeTimeout past that. A deadline per write
	// would cost two calls into an HTTP/2 connection's goroutine per
	// report, and there it is a timer that resets the stream when it
	// fires, written to or not. The lifetime is counted on the Room's
	// clock; the deadline is the network's, on the wall clock.
	_ = c.rc.SetWriteDeadline(time.Now().Add(wt.lifeLeft() + finalLinger + e.cfg.writeTimeout)) // not every server supports it
	// The reconnection time goes out with the first report, in one write.
	if _, err := io.WriteString(w, "retry: "+itoa(eventsRetry)+"\n\n"); err != nil {
		return
	}
	wt.serve(c)
}

// streamConn is an event stream as a pushConn.
type streamConn struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	ctx context.Context
}

func (c *streamConn) write(s string) error {
	if _, err := io.WriteString(c.w, s); err != nil {
		return err
	}
	return c.rc.Flush()
}

// send writes one report. The stream's one deadline bounds it (see
// serveEvents).
func (c *streamConn) send(msg []byte) error {
	return c.write("data: " + string(msg) + "\n\n")
}

func (c *streamConn) ping(context.Context) error { return nil }

func (c *streamConn) context() context.Context { return c.ctx }

// canFlush reports whether w, or a writer it wraps, can flush.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// openPush runs the checks every push connection passes, registers its
// watcher and reads the visitor's standing (a heartbeat). It answers a
// refused request itself and then returns nil:
//
//	400 missing, malformed or unknown zone
//	403 an Origin the Handler does not allow
//	401 no valid visitor token for the zone (missing, forged, expired, another zone's)
//	429 the client address has too many connections open (Retry-After)
//	503 too many connections in all, the Handler is closed, or the store failed (Retry-After)
func (h *Handler) openPush(w http.ResponseWriter, r *http.Request, events bool) *watcher {
	e := h.e
	zone, ok := zoneParam(w, r)
	if !ok {
		return nil
	}
	if !e.cfg.originAllowed(r) {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return nil
	}
	v, ok := e.visitor(r, zone)
	if !ok {
		if _, known := e.room.Zone(zone); !known {
			writeError(w, http.StatusBadRequest, "unknown zone")
			return nil
		}
		writeError(w, http.StatusUnauthorized, "no place in line for this zone")
		return nil
	}
	wt := newWatcher(e.hub, zone, v, e.cfg.clientIP(r), e.cfg.returnURL(r), events)
	if refused := e.hub.add(wt); refused != nil {
		w.Header().Set("Retry-After", itoa(unavailableRetry))
		writeError(w, refused.code, refused.msg)
		return nil
	}
	e.hub.watchServer(r)
	// Registered first, read second: an admission in between reaches the
	// watcher through the feed. The read is the edge's, when it has the
	// visitor's place from its last request (a quarter of the abandonment
	// timeout at most) and the line's head is short of it: a page opening
	// its stream right after it was told to wait costs the store nothing.
	now := e.room.Now()
	if z, ok := e.room.Zone(zone); ok {
		if cs, ok := e.cache.recentStanding(zone, v.ID, now, z.AbandonAfter/4); ok && wt.behind(cs.pz, cs.seq) {
			wt.startFrom(cs.standing, z)
			return wt
		}
	}
	out, err := e.room.Status(r.Context(), zone, v)
	if err != nil {
		e.hub.remove(wt)
		h.endpointFailure(w, r, zone, err)
		return nil
	}
	e.recovered()
	z, _ := e.room.Zone(zone)
	wt.start(out, z)
	return wt
}

// originAllowed applies the origin rule (WithOrigins, WithOriginCheck) to
// a push request. A request without an Origin header is not a browser's
// cross-site request and passes.
func (c *config) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if c.originCheck != nil {
		return c.originCheck(r, origin)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null", sent by sandboxed and file: pages
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pattern := range c.origins {
		target := u.Host
		if strings.Contains(pattern, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// headerHasToken reports whether a comma-separated header lists token,
// ignoring case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[http.CanonicalHeaderKey(name)] {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
