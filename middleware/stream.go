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
// {prefix}/events (server-sent events). Both pass the same checks, then
// hand the connection to its watcher (push.go).

// serveWebSocket answers {prefix}/ws: a websocket that pushes the
// visitor's reports.
func (e *edge) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !e.cfg.websocket {
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
	wt := e.openPush(w, r, false)
	if wt == nil {
		return
	}
	defer e.push.remove(wt)
	// The origin was checked by openPush, by this Handler's rule.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept answered: a malformed handshake
	}
	conn.SetReadLimit(512) // the client sends nothing but control frames
	c := &socketConn{conn: conn, ctx: conn.CloseRead(context.Background())}
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
	conn *websocket.Conn
	ctx  context.Context // ends when the connection does (CloseRead)
}

func (c *socketConn) send(msg []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return c.conn.Write(ctx, websocket.MessageText, msg)
}

func (c *socketConn) ping(ctx context.Context) error { return c.conn.Ping(ctx) }

func (c *socketConn) context() context.Context { return c.ctx }

// serveEvents answers {prefix}/events: an event stream (text/event-stream)
// that pushes the visitor's reports, one "data:" line each.
func (e *edge) serveEvents(w http.ResponseWriter, r *http.Request) {
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
	wt := e.openPush(w, r, true)
	if wt == nil {
		return
	}
	defer e.push.remove(wt)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // proxies (nginx) must not buffer the stream
	w.WriteHeader(http.StatusOK)
	c := &streamConn{w: w, rc: http.NewResponseController(w), ctx: r.Context()}
	// One write deadline for the whole stream, which ends by its lifetime
	// and the final report's linger: a client that stops reading holds a
	// write no longer than writeTimeout past that. A deadline per write
	// would cost two calls into an HTTP/2 connection's goroutine per
	// report, and there it is a timer that resets the stream when it
	// fires, written to or not.
	end := time.Unix(0, wt.endAt.Load())
	_ = c.rc.SetWriteDeadline(end.Add(finalLinger + writeTimeout)) // not every server supports it
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
func (e *edge) openPush(w http.ResponseWriter, r *http.Request, events bool) *watcher {
	zone, ok := zoneParam(w, r)
	if !ok {
		return nil
	}
	if !e.originAllowed(r) {
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
	wt := newWatcher(e.push, zone, v, e.cfg.clientIP(r), e.returnURL(r), events)
	if refused := e.push.add(wt); refused != nil {
		w.Header().Set("Retry-After", itoa(unavailableRetry))
		writeError(w, refused.code, refused.msg)
		return nil
	}
	e.push.watchServer(r)
	// Registered first, read second: an admission in between reaches the
	// watcher through the feed. The read is the edge's, when it has the
	// visitor's place from its last request (a quarter of the abandonment
	// timeout at most) and the line's head is short of it: a page opening
	// its stream right after it was told to wait costs the store nothing.
	now := e.room.Now()
	if z, ok := e.room.Zone(zone); ok {
		if c, ok := e.recentStanding(zone, v.ID, now, z.AbandonAfter/4); ok && wt.behind(c.pz, c.seq) {
			wt.startFrom(c.standing, c.at, z)
			return wt
		}
	}
	out, err := e.room.Status(r.Context(), zone, v)
	if err != nil {
		e.push.remove(wt)
		e.endpointFailure(w, r, zone, err)
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
func (e *edge) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if e.cfg.originCheck != nil {
		return e.cfg.originCheck(r, origin)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // includes "null", sent by sandboxed and file: pages
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pattern := range e.cfg.origins {
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
