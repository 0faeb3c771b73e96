package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/middleware"
)

// BenchmarkValidAccessEntry is BenchmarkValidAccess without ("off") and
// with ("on") the entry options: a limit, trusted proxies and an entry
// check. They guard newcomers only, so the path of a visitor inside must
// not pay for them: no store call, no call of the check, the same CPU.
// Run with -count: each round runs off, then on.
func BenchmarkValidAccessEntry(b *testing.B) {
	var checks atomic.Int64
	check := middleware.EntryCheckFunc(func(*http.Request, string) (middleware.EntryDecision, error) {
		checks.Add(1)
		return middleware.AllowEntry(), nil
	})
	for _, bc := range []struct {
		name string
		opts []middleware.Option
	}{
		{"off", nil},
		{"on", []middleware.Option{
			middleware.WithEntryLimit(30, 10),
			middleware.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")),
			middleware.WithEntryCheck(check),
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(b, checkoutZone(10), nil)
			var calls atomic.Int64
			h := middleware.Wrap(e.room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
			}), bc.opts...)
			defer h.Close()
			c := newClient(h)
			require.Equal(b, http.StatusOK, c.get("/checkout").StatusCode)
			access, visitor := c.cookie("wr_a_checkout"), c.cookie("wr_v_checkout")
			require.NotNil(b, access)

			req := httptest.NewRequest(http.MethodGet, site+"/checkout/pay", nil)
			req.Header.Set("Cookie", "_ga=GA1.2.3; theme=dark; "+visitor.String()+"; "+access.String()+"; lang=en")
			req.Header.Set("X-Forwarded-For", "192.0.2.77")
			w := &discardWriter{h: make(http.Header)}
			e.store.reset()
			checks.Store(0)
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
			cpu := processCPU() - cpu0
			require.EqualValues(b, b.N+1, calls.Load(), "requests did not reach the next handler")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(e.store.count())/float64(b.N), "storecalls/op")
			b.ReportMetric(float64(checks.Load())/float64(b.N), "checks/op")
		})
	}
}

// BenchmarkEntryRefused is one client's flood past its entry limit: each
// request is a newcomer the limit refuses, answered without a store call
// or a call of the entry check. What it costs is what a flood costs.
func BenchmarkEntryRefused(b *testing.B) {
	var checks atomic.Int64
	check := middleware.EntryCheckFunc(func(*http.Request, string) (middleware.EntryDecision, error) {
		checks.Add(1)
		return middleware.AllowEntry(), nil
	})
	e := newEnv(b, checkoutZone(1), nil, middleware.WithEntryLimit(30, 10), middleware.WithEntryCheck(check))
	req := httptest.NewRequest(http.MethodGet, site+"/checkout", nil)
	req.RemoteAddr = "203.0.113.5:4000"
	w := &discardWriter{h: make(http.Header)}
	for range 10 { // the burst
		e.h.ServeHTTP(w, req)
	}
	e.store.reset()
	checks.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		e.h.ServeHTTP(w, req)
	}
	b.ReportMetric(float64(e.store.count())/float64(b.N), "storecalls/op")
	b.ReportMetric(float64(checks.Load())/float64(b.N), "checks/op")
	require.Equal(b, "2", w.h.Get("Retry-After"))
	require.EqualValues(b, 9, e.waiting(b), "the burst: one inside, nine in line")
}
