package admin

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// The dashboard is one page with its script and styles in it: no CDN, no
// charting library (a line chart on a canvas is a few dozen lines).
//
//go:embed dashboard.html
var dashboardHTML []byte

// streamInterval is how often the event stream sends every zone's figures.
const streamInterval = time.Second

// dashboard serves the page. It holds no data: what it shows comes from
// the API and the event stream, which authenticate.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	w.Write(dashboardHTML)
}

// login turns the token typed into the dashboard's form into a session
// cookie (the event stream cannot send an Authorization header).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	token := r.PostFormValue("token")
	if h.cfg.token == "" || !h.tokenMatches(token) {
		h.cfg.logger.Warn("waitroom: admin: login refused", "by", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, "wrong token")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil,
	})
	h.audit(r, "login", "")
	w.WriteHeader(http.StatusNoContent)
}

// stream sends every zone's settings and figures as a server-sent event
// at once and then every second, until the client goes or the Room
// closes.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	tick := time.NewTicker(streamInterval)
	defer tick.Stop()
	for {
		if err := h.send(r.Context(), w); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-tick.C:
		case <-r.Context().Done():
			return
		case <-h.room.Done():
			return // the Room is closing: let the server shut down
		}
	}
}

// send writes one event with every zone's report.
func (h *Handler) send(ctx context.Context, w http.ResponseWriter) error {
	zones, err := h.zones(ctx)
	if err != nil {
		_, werr := fmt.Fprintf(w, "event: unavailable\ndata: {}\n\n")
		return werr
	}
	b, err := json.Marshal(map[string]any{"at": time.Now().UTC().Format(time.RFC3339), "zones": zones})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: zones\ndata: %s\n\n", b)
	return err
}
