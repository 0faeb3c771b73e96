// Package bench measures what the waiting room costs, side by side with a
// baseline in the same run: a request with a valid access token through a
// waiting-room-wrapped httputil.ReverseProxy against the bare proxy, and
// the cached waiting page of a full zone against a bare hello handler.
// Its benchmarks alternate the two sides in rounds over real loopback
// connections and report the median ratio of their throughputs:
//
//	go test -run '^$' -bench . -benchtime 40000x ./bench/
package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// NewTransport returns an http.Transport sized for many concurrent
// connections to one host, for the proxies and the load clients alike.
func NewTransport() *http.Transport { return middleware.ProxyTransport() }

// Server is an http.Handler served on a loopback port.
type Server struct {
	URL string
	srv *http.Server
}

// Serve serves h on 127.0.0.1 on a free port until Close.
func Serve(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("waitroom: bench: %w", err)
	}
	s := &Server{URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server and closes its connections.
func (s *Server) Close() error { return s.srv.Close() }

// Hello is the bare handler: a few bytes of text.
var Hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "hello\n")
})

// NewProxy returns an httputil.ReverseProxy to target with NewTransport.
func NewProxy(target string) (*httputil.ReverseProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("waitroom: bench: %w", err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = NewTransport()
	return p, nil
}

// CountingStore is a waitroomtest.CountingStore that tells the calls a
// request may make (waitroomtest.RequestOps) from the background ones.
type CountingStore struct{ *waitroomtest.CountingStore }

// RequestCalls returns the number of request-path calls so far.
func (s CountingStore) RequestCalls() int64 { return s.Count(waitroomtest.RequestOps...) }

// BackgroundCalls returns the number of background calls so far.
func (s CountingStore) BackgroundCalls() int64 { return s.Count() - s.RequestCalls() }

// Zone and path of the benchmarks.
const (
	ZoneName = "checkout"
	Path     = "/checkout/pay"
)

// Room is a waiting room over a counting memory store, with one zone
// protecting /checkout.
type Room struct {
	*waitroom.Room
	Store CountingStore
}

// NewRoom returns a Room whose zone holds capacity visitors and admits
// without a rate limit worth the name. Waiting visitors' standings are
// kept in the edge cache for a minute (WithPositionTTL in Wrap's options
// below), so the zone's abandonment timeout is 10 minutes.
func NewRoom(capacity int) (*Room, error) {
	cs := CountingStore{waitroomtest.NewCountingStore(memstore.New())}
	r, err := waitroom.New(cs, waitroom.WithZone(waitroom.Zone{
		Name: ZoneName, Paths: []string{"/checkout"}, Capacity: capacity, AdmitPerSecond: 1e6,
		Session: time.Hour, ClaimWindow: time.Minute, AbandonAfter: 10 * time.Minute,
	}))
	if err != nil {
		return nil, err
	}
	return &Room{Room: r, Store: cs}, nil
}

// Wrap wraps next with the middleware, its edge cache keeping waiting
// visitors' standings for a minute.
func (r *Room) Wrap(next http.Handler) *middleware.Handler {
	return middleware.Wrap(r.Room, next, middleware.WithPositionTTL(time.Minute))
}

// Cookie returns the value of the first Set-Cookie named name in resp.
func Cookie(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// Visit requests base+Path once with the header given (nil: none) and
// returns the response with its body read.
func Visit(c *http.Client, base string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, base+Path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// Side is one side of a comparison: where to send requests and what each
// worker sends.
type Side struct {
	Name    string
	URL     string        // base URL; requests go to URL+Path
	Headers []http.Header // one per worker, used in turn (nil: none)
	Status  int           // the expected status code
}

// Load sends n requests to s from workers goroutines at once and returns
// how long they took. Every response must have s.Status.
func Load(c *http.Client, s Side, n, workers int) (time.Duration, error) {
	target := s.URL + Path
	var next atomic.Int64
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	start := time.Now()
	for w := range workers {
		var h http.Header
		if len(s.Headers) > 0 {
			h = s.Headers[w%len(s.Headers)]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodGet, target, nil)
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != s.Status {
						err = fmt.Errorf("waitroom: bench: %s: status %d, want %d", s.Name, resp.StatusCode, s.Status)
					}
				}
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// Comparison is the result of Compare.
type Comparison struct {
	Rounds       int
	BaseRate     float64 // baseline requests per second, median over rounds
	SubjectRate  float64 // subject requests per second, median over rounds
	MedianRatio  float64 // median over rounds of subject/baseline throughput
	MinRatio     float64
	MaxRatio     float64
	RequestsEach int // requests per side per round
}

// Compare runs rounds rounds, each sending perRound requests to base and
// to subject in turn (the order alternating from round to round), and
// compares their throughputs.
func Compare(c *http.Client, base, subject Side, rounds, perRound, workers int) (Comparison, error) {
	if rounds < 1 || perRound < 1 || workers < 1 {
		return Comparison{}, errors.New("waitroom: bench: rounds, requests and workers must be positive")
	}
	var ratios, baseRates, subjRates []float64
	for r := range rounds {
		var db, ds time.Duration
		var err error
		if r%2 == 0 {
			if db, err = Load(c, base, perRound, workers); err == nil {
				ds, err = Load(c, subject, perRound, workers)
			}
		} else {
			if ds, err = Load(c, subject, perRound, workers); err == nil {
				db, err = Load(c, base, perRound, workers)
			}
		}
		if err != nil {
			return Comparison{}, err
		}
		br, sr := float64(perRound)/db.Seconds(), float64(perRound)/ds.Seconds()
		baseRates, subjRates, ratios = append(baseRates, br), append(subjRates, sr), append(ratios, sr/br)
	}
	return Comparison{
		Rounds: rounds, BaseRate: median(baseRates), SubjectRate: median(subjRates),
		MedianRatio: median(ratios), MinRatio: slices.Min(ratios), MaxRatio: slices.Max(ratios),
		RequestsEach: perRound,
	}, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
