package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/metrics"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

// processCPU is the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkObserver is the cost of metrics on the two hot paths: a
// visitor inside with a valid access token, and a waiting visitor's repeat
// request answered from the cached waiting page. Each path is served by
// two handlers, without and with Metrics as the Room's and the
// middleware's Observer, in alternating rounds of b.N/16 requests each;
// the benchmark reports the median of the rounds' CPU-time ratios (with /
// without) and each side's CPU time per request:
//
//	go test -run '^$' -bench Observer -benchtime 400000x ./metrics/
func BenchmarkObserver(b *testing.B) {
	const rounds = 16
	for _, path := range []string{"access", "page"} {
		b.Run(path, func(b *testing.B) {
			m := metrics.New()
			off, offCookie := hotPath(b, path, nil, nil)
			on, onCookie := hotPath(b, path, []waitroom.Option{waitroom.WithObserver(m)}, []middleware.Option{middleware.WithObserver(m)})
			request := func(cookie string) *http.Request {
				req := httptest.NewRequest("GET", "/checkout", nil)
				req.Header.Set("Cookie", cookie)
				return req
			}
			offReq, onReq := request(offCookie), request(onCookie)
			per := max(b.N/(2*rounds), 1)
			run := func(h http.Handler, req *http.Request) time.Duration {
				cpu0 := processCPU()
				for range per {
					h.ServeHTTP(httptest.NewRecorder(), req)
				}
				return processCPU() - cpu0
			}
			run(off, offReq) // warm both up
			run(on, onReq)
			b.ResetTimer()
			var ratios []float64
			var offCPU, onCPU time.Duration
			for range rounds {
				a, c := run(off, offReq), run(on, onReq)
				offCPU, onCPU = offCPU+a, onCPU+c
				ratios = append(ratios, float64(c)/float64(max(a, 1)))
			}
			sort.Float64s(ratios)
			b.ReportMetric(ratios[len(ratios)/2], "cpu-ratio")
			b.ReportMetric(float64(offCPU.Nanoseconds())/float64(rounds*per), "off-cpu-ns/req")
			b.ReportMetric(float64(onCPU.Nanoseconds())/float64(rounds*per), "on-cpu-ns/req")
		})
	}
}

// hotPath returns a middleware over a zone of capacity 1 and the cookie of
// a visitor on path: "access" (inside) or "page" (waiting, its page
// cached after the first request).
func hotPath(b *testing.B, path string, ro []waitroom.Option, mo []middleware.Option) (http.Handler, string) {
	r, err := waitroom.New(memstore.New(), append(ro, waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1}))...)
	require.NoError(b, err)
	b.Cleanup(func() { r.Close() })
	h := middleware.Wrap(r, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), mo...)
	b.Cleanup(func() { h.Close() })
	visit := func(want string) string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/checkout", nil))
		for _, c := range rec.Result().Cookies() {
			if strings.HasPrefix(c.Name, want) {
				return c.Name + "=" + c.Value
			}
		}
		b.Fatalf("no %s cookie", want)
		return ""
	}
	inside := visit("wr_a_")
	if path == "access" {
		return h, inside
	}
	return h, visit("wr_v_")
}
