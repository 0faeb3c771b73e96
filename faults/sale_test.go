package faults

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/waitroomtest"
)

// This file holds the sale every scenario breaks: a running Room (its own
// exchanger and feed reader, on the real clock, since real processes
// keep real time), the middleware in front of an origin that records who
// reaches it, and visitors with cookie jars.

// sale is a Room, its middleware and an origin, served over HTTP.
type sale struct {
	t     *testing.T
	zone  string
	room  *waitroom.Room
	web   *httptest.Server
	hc    *http.Transport // the visitors' connections
	logs  *waitroomtest.Log
	mwLog *waitroomtest.Log

	mu   sync.Mutex
	hits map[string]int // origin hits by visitor, "" for a request without access
}

// saleZone is the zone of a scenario: capacity visitors inside, 20
// admissions a second, sessions long enough to outlast the test.
func saleZone(name string, capacity int) waitroom.Zone {
	return waitroom.Zone{Name: name, Paths: []string{"/buy"}, Capacity: capacity, AdmitPerSecond: 20,
		Session: 10 * time.Minute, ClaimWindow: time.Minute, AbandonAfter: 5 * time.Minute}
}

// testKeys is the key ring of every scenario's Rooms: given, not read from
// the store, so a store that loses its data does not void the tokens.
func testKeys(t testing.TB) *waitroom.KeyRing {
	t.Helper()
	k, err := waitroom.NewHMACKey("faults", []byte("faults-test-secret-0123456789abcdef"))
	require.NoError(t, err)
	ring, err := waitroom.NewKeyRing(k)
	require.NoError(t, err)
	return ring
}

// newSale starts a Room over store with zone and a fast exchanger, a
// store deadline of a second (the race detector on two busy cores makes a
// first call, which loads its script, take a few hundred milliseconds)
// and a quick breaker (3 failures, 300ms), then opts.
func newSale(t *testing.T, store waitroom.Store, zone waitroom.Zone, opts ...waitroom.Option) *sale {
	t.Helper()
	s := &sale{t: t, zone: zone.Name, logs: &waitroomtest.Log{}, mwLog: &waitroomtest.Log{}, hits: make(map[string]int)}
	opts = append([]waitroom.Option{waitroom.WithZone(zone), waitroom.WithTick(20 * time.Millisecond),
		waitroom.WithKeys(testKeys(t)), waitroom.WithLogger(s.logs.Logger()),
		waitroom.WithStoreTimeout(time.Second), waitroom.WithBreaker(3, 300*time.Millisecond)}, opts...)
	room, err := waitroom.New(store, opts...) // closes the store
	require.NoError(t, err)
	s.room = room
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, _ := middleware.AccessFrom(r.Context())
		s.mu.Lock()
		s.hits[a.Visitor]++
		s.mu.Unlock()
		io.WriteString(w, "origin")
	})
	h := middleware.Wrap(room, origin, middleware.WithLogger(s.mwLog.Logger()))
	s.web = httptest.NewServer(h)
	s.hc = &http.Transport{MaxIdleConnsPerHost: 100}
	t.Cleanup(func() {
		s.hc.CloseIdleConnections()
		s.web.Close()
		h.Close()
		room.Close()
	})
	return s
}

// reached returns the origin's hits: the total, and those of requests
// without an access token.
func (s *sale) reached() (total, unprotected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v, n := range s.hits {
		total += n
		if v == "" {
			unprotected += n
		}
	}
	return total, unprotected
}

// reachedBy returns the visitors who reached the origin, sorted.
func (s *sale) reachedBy() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var vs []string
	for v := range s.hits {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// visitor is a browser: a cookie jar and a name.
type visitor struct {
	s    *sale
	name string
	c    *http.Client
}

func (s *sale) visitor(name string) *visitor {
	jar, _ := cookiejar.New(nil)
	return &visitor{s: s, name: name, c: &http.Client{Jar: jar, Transport: s.hc, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// visitors returns n new visitors named prefix-0, prefix-1, ...
func (s *sale) visitors(prefix string, n int) []*visitor {
	vs := make([]*visitor, n)
	for i := range vs {
		vs[i] = s.visitor(fmt.Sprintf("%s-%d", prefix, i))
	}
	return vs
}

// report is the part of the middleware's JSON a scenario reads.
type report struct {
	State    string `json:"state"`
	Position int64  `json:"position"`
}

// get asks for the protected page as JSON and returns the status and the
// report (zero for the origin's answer).
func (v *visitor) get() (int, report, error) {
	req, err := http.NewRequest(http.MethodGet, v.s.web.URL+"/buy", nil)
	if err != nil {
		return 0, report{}, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := v.c.Do(req)
	if err != nil {
		return 0, report{}, fmt.Errorf("%s: %w", v.name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, report{}, err
	}
	var rep report
	if res.StatusCode != http.StatusOK {
		json.Unmarshal(body, &rep)
	}
	return res.StatusCode, rep, nil
}

// mustGet is get, failing the test on a transport error.
func (v *visitor) mustGet() (int, report) {
	v.s.t.Helper()
	code, rep, err := v.get()
	require.NoError(v.s.t, err)
	return code, rep
}

// id returns the visitor's id, from its access cookie or else its visitor
// cookie ("" if it holds neither).
func (v *visitor) id() string {
	u, _ := url.Parse(v.s.web.URL)
	var vid string
	for _, c := range v.c.Jar.Cookies(u) {
		switch {
		case strings.HasPrefix(c.Name, "wr_a_"):
			if a, err := v.s.room.VerifyAccess(c.Value, v.s.zone); err == nil {
				return a.Visitor
			}
		case strings.HasPrefix(c.Name, "wr_v_"):
			if vt, err := v.s.room.VerifyVisitor(c.Value, v.s.zone); err == nil {
				vid = vt.ID
			}
		}
	}
	return vid
}

// discard is a logger for the parts a scenario does not read.
func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
