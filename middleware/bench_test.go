package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/middleware"
)

// discardWriter is the cheapest ResponseWriter, so the benchmarks measure
// the middleware, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkValidAccess is the path of every request of a visitor inside:
// an access token found in the edge cache, then the next handler.
func BenchmarkValidAccess(b *testing.B) {
	e := newEnv(b, checkoutZone(10), nil)
	var calls atomic.Int64
	h := middleware.Wrap(e.room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
	}))
	defer h.Close()
	c := newClient(h)
	require.Equal(b, http.StatusOK, c.get("/checkout").StatusCode)
	access, visitor := c.cookie("wr_a_checkout"), c.cookie("wr_v_checkout")
	require.NotNil(b, access)

	req := httptest.NewRequest(http.MethodGet, site+"/checkout/pay", nil)
	req.Header.Set("Cookie", "_ga=GA1.2.3; theme=dark; "+visitor.String()+"; "+access.String()+"; lang=en")
	w := &discardWriter{h: make(http.Header)}
	e.store.reset()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	require.EqualValues(b, b.N+1, calls.Load(), "requests did not reach the next handler")
	require.Zero(b, e.store.count())
}

// BenchmarkFullZoneCached is a waiting visitor refreshing while the zone is
// full: the edge cache answers, the store is not asked.
func BenchmarkFullZoneCached(b *testing.B) {
	benchmarkFullZone(b, "/checkout", "application/json")
}

// BenchmarkFullZoneCachedPage is BenchmarkFullZoneCached for a browser:
// the waiting page, from the edge cache and the rendered pages.
func BenchmarkFullZoneCachedPage(b *testing.B) {
	benchmarkFullZone(b, "/checkout/seat?row=7", "text/html,application/xhtml+xml,*/*;q=0.8")
}

// benchmarkFullZone has a waiting visitor ask for target with accept,
// again and again, while the zone is full.
func benchmarkFullZone(b *testing.B, target, accept string) {
	e := newEnv(b, checkoutZone(1), nil)
	require.Equal(b, http.StatusOK, e.client().get("/checkout").StatusCode)
	c := e.client()
	require.Equal(b, http.StatusTooManyRequests, c.get("/checkout").StatusCode)

	req := httptest.NewRequest(http.MethodGet, site+target, nil)
	req.Header.Set("Accept", accept)
	req.Header.Set("Cookie", c.cookie("wr_v_checkout").String())
	w := &discardWriter{h: make(http.Header)}
	e.store.reset()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		e.h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(e.store.count())/float64(b.N), "storecalls/op")
	require.Equal(b, "6", w.h.Get("Retry-After"))
}

type refKey struct{}

// BenchmarkReferenceWithContext is the least any middleware pays that
// hands the next handler a request context with a value in it
// (r.WithContext(context.WithValue(...))): the yardstick to read
// BenchmarkValidAccess against on a busy machine.
func BenchmarkReferenceWithContext(b *testing.B) {
	req := httptest.NewRequest(http.MethodGet, site+"/checkout/pay", nil)
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	w := &discardWriter{h: make(http.Header)}
	v := new(int)
	b.ReportAllocs()
	for b.Loop() {
		next.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), refKey{}, v)))
	}
}

// BenchmarkConditionalRefresh is a waiting visitor's browser refreshing a
// waiting page served with status 200, whose ETag it holds, while the
// line stands still: 304 from the edge cache.
func BenchmarkConditionalRefresh(b *testing.B) {
	e := newEnv(b, checkoutZone(1), nil, middleware.WithStatus(http.StatusOK))
	require.Equal(b, http.StatusOK, e.client().get("/checkout").StatusCode)
	c := e.client()
	res := c.get("/checkout/seat?row=7")
	require.NotEmpty(b, res.Header.Get("ETag"))
	req := httptest.NewRequest(http.MethodGet, site+"/checkout/seat?row=7", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	req.Header.Set("Cookie", c.cookie("wr_v_checkout").String())
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	benchmarkRefresh(b, e, req)
}

// BenchmarkShellRefresh is a waiting visitor's browser refreshing the
// shell (WithShellPage), whose ETag it holds: 304, no cookie read.
func BenchmarkShellRefresh(b *testing.B) {
	e := newEnv(b, checkoutZone(1), nil, middleware.WithShellPage(time.Minute))
	require.Equal(b, http.StatusOK, e.client().get("/checkout").StatusCode)
	c := e.client()
	require.Equal(b, http.StatusTooManyRequests, c.get("/checkout/seat?row=7").StatusCode)
	res := c.get(shellURL)
	require.NotEmpty(b, res.Header.Get("ETag"))
	req := httptest.NewRequest(http.MethodGet, site+shellURL, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	req.Header.Set("Cookie", c.cookie("wr_v_checkout").String())
	req.Header.Set("If-None-Match", res.Header.Get("ETag"))
	benchmarkRefresh(b, e, req)
}

// benchmarkRefresh sends req again and again and expects 304 each time.
func benchmarkRefresh(b *testing.B, e *env, req *http.Request) {
	w := &statusWriter{discardWriter: discardWriter{h: make(http.Header)}}
	e.store.reset()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		e.h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(e.store.count())/float64(b.N), "storecalls/op")
	require.Equal(b, http.StatusNotModified, w.code)
}

// statusWriter is a discardWriter that keeps the status.
type statusWriter struct {
	discardWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) { w.code = code }
