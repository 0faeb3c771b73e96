package main

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom/middleware"
)

// Headers by which a virtual visitor tells the origin who it is and how it
// behaves inside. The proxy forwards them untouched; they stand for what a
// real shop learns from the visitor's clicks.
const (
	headerVisitor = "X-Flashcrowd-Visitor" // the visitor's index in the run
	headerThink   = "X-Flashcrowd-Think"   // how long it stays, in milliseconds
	headerLeave   = "X-Flashcrowd-Leave"   // "release" or "expire"
	headerOrigin  = "X-Flashcrowd-Origin"  // set by the origin on its answers
)

// origin is the instrumented shop behind the waiting room. A visitor's
// request stays in it for the visitor's think time (the time it spends in
// checkout), so the number of requests in it at once is the number of
// visitors the shop serves at once. It records the first time each visitor
// reaches it.
type origin struct {
	srv *http.Server
	url string

	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	requests    atomic.Int64

	mu    sync.Mutex
	first map[int]time.Time // visitor index -> first request
	stop  chan struct{}     // closed by close: ends held requests
	once  sync.Once
}

// startOrigin serves the origin on a loopback port.
func startOrigin() (*origin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	o := &origin{url: "http://" + ln.Addr().String(), first: make(map[int]time.Time), stop: make(chan struct{})}
	o.srv = &http.Server{Handler: o, ReadHeaderTimeout: 10 * time.Second}
	go o.srv.Serve(ln)
	return o, nil
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	for {
		m := o.maxInFlight.Load()
		if n <= m || o.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	o.requests.Add(1)
	now := time.Now()
	if idx, err := strconv.Atoi(r.Header.Get(headerVisitor)); err == nil {
		o.mu.Lock()
		if _, seen := o.first[idx]; !seen {
			o.first[idx] = now
		}
		o.mu.Unlock()
	}
	if ms, err := strconv.Atoi(r.Header.Get(headerThink)); err == nil && ms > 0 {
		t := time.NewTimer(time.Duration(ms) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		case <-o.stop:
			t.Stop()
		}
	}
	if r.Header.Get(headerLeave) == "release" {
		// Checkout done: the waiting room gives the slot to the next in
		// line and strips the header.
		w.Header().Set(middleware.DefaultReleaseHeader, "1")
	}
	w.Header().Set(headerOrigin, "1")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("checkout\n"))
}

// visitorsSeen returns how many distinct visitors reached the origin.
func (o *origin) visitorsSeen() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.first)
}

func (o *origin) close() {
	o.once.Do(func() { close(o.stop) })
	o.srv.Close()
}
