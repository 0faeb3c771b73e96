package middleware

import (
	"context"
	"io"
	"net/http"
)

// responseWriter wraps the ResponseWriter of a request that passes to the
// next handler, to act on the release header before the response's header
// is sent. It is pooled: a ResponseWriter may not be used after ServeHTTP
// returns, so the Handler takes it back then.
type responseWriter struct {
	http.ResponseWriter
	e    *edge
	r    *http.Request
	zone string
	ent  *accessEntry // the visitor inside; nil when none (fail-open)
	raw  string       // ent's token as the visitor sent it
	sent bool         // the final header has been sent
}

// Unwrap returns the wrapped ResponseWriter, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader acts on the release header, then sends the header.
// Informational (1xx) responses are checked too, since they carry the
// header map.
func (w *responseWriter) WriteHeader(code int) {
	if !w.sent {
		w.beforeHeader()
		if code >= 200 || code == http.StatusSwitchingProtocols {
			w.sent = true
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.sent {
		w.beforeHeader()
		w.sent = true
	}
	return w.ResponseWriter.Write(p)
}

// Flush sends what was written so far, as http.Flusher.
func (w *responseWriter) Flush() {
	if !w.sent {
		w.beforeHeader()
		w.sent = true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// ReadFrom keeps io.Copy on the wrapped writer's fast path (sendfile).
func (w *responseWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.sent {
		w.beforeHeader()
		w.sent = true
	}
	return io.Copy(w.ResponseWriter, src)
}

// finish runs after the next handler returned: a response it never wrote
// is sent by net/http with the header as it stands.
func (w *responseWriter) finish() {
	if !w.sent {
		w.beforeHeader()
		w.sent = true
	}
}

// beforeHeader removes the release header and, if it was there, releases
// the slot of the visitor inside.
func (w *responseWriter) beforeHeader() {
	h := w.ResponseWriter.Header()
	if _, ok := h[w.e.cfg.releaseHeader]; !ok {
		return
	}
	delete(h, w.e.cfg.releaseHeader)
	if w.ent == nil {
		return
	}
	ent := w.ent
	w.ent = nil // release once, whatever the handler writes next
	w.e.releaseAccess(context.WithoutCancel(w.r.Context()), h, w.r, w.zone, ent.access, w.raw)
}
