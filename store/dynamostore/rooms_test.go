package dynamostore

import (
	"cmp"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/storetest"
	"github.com/waitroom/waitroom/waitroomtest"
)

// shop is the origin behind the waiting rooms: it counts the visitors in it
// at once, holds every request until the test opens its gate, and ends each
// visit with the release header.
type shop struct {
	inFlight, maxInFlight atomic.Int64
	arrived               chan struct{} // one per request that reaches the shop

	mu     sync.Mutex
	gate   chan struct{}
	served map[string]int // visitor -> times let in
	round  map[string]int // visitor -> round it was let in
	now    int
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	a, ok := middleware.AccessFrom(r.Context())
	s.mu.Lock()
	gate := s.gate
	if ok {
		s.served[a.Visitor]++
		s.round[a.Visitor] = s.now
	}
	s.mu.Unlock()
	s.arrived <- struct{}{}
	<-gate
	w.Header().Set(middleware.DefaultReleaseHeader, "1")
	io.WriteString(w, "inside")
}

// browser is one visitor: its own cookie jar; each request goes to any of
// the instances, as behind a load balancer.
type browser struct {
	jar      *cookiejar.Jar
	position int64
}

func (b *browser) get(h http.Handler) (int, int64) {
	req := httptest.NewRequest(http.MethodGet, "http://shop.example/checkout", nil)
	req.Header.Set("Accept", "application/json")
	for _, c := range b.jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b.jar.SetCookies(req.URL, res.Cookies())
	var rep struct {
		Position int64 `json:"position"`
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		json.NewDecoder(res.Body).Decode(&rep)
	}
	return res.StatusCode, rep.Position
}

// TestThreeRoomsOneTable: three instances (a Room, its Store and the
// middleware each) share one table; 500 visitors with cookie jars send
// requests to any of them. The shop never holds more than the capacity,
// visitors go in in queue order, and each goes in exactly once.
func TestThreeRoomsOneTable(t *testing.T) {
	const visitors, capacity, instances = 500, 10, 3
	db, _ := localClients(t)
	table := newTable(t, db)
	clock := waitroomtest.NewClock(storetest.T0)
	zone := waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: capacity,
		AdmitPerSecond: 4 * capacity, // a burst of capacity: one round fills the zone
		AbandonAfter:   time.Hour,    // only the head of the line asks below
		Session:        10 * time.Minute,
	}
	sh := &shop{arrived: make(chan struct{}, visitors), served: make(map[string]int), round: make(map[string]int)}
	stores := make([]*Store, instances)
	rooms := make([]*waitroom.Room, instances)
	handlers := make([]http.Handler, instances)
	for i := range rooms {
		stores[i] = newStore(t, db, table)
		keys, err := stores[i].SharedKeys(t.Context())
		require.NoError(t, err)
		rooms[i], err = waitroom.New(stores[i], slowStore, waitroom.WithZone(zone), waitroom.WithClock(clock.Now),
			waitroom.WithManualStep(), waitroom.WithKeys(keys))
		require.NoError(t, err)
		h := middleware.Wrap(rooms[i], sh, middleware.WithLogger(discardLogger()))
		t.Cleanup(func() { h.Close(); rooms[i].Close() })
		handlers[i] = h
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	anyInstance := func() http.Handler {
		rngMu.Lock()
		defer rngMu.Unlock()
		return handlers[rng.IntN(instances)]
	}

	// round sends one request per browser at once, each to any instance.
	// The shop holds what it gets until every request has reached it or
	// been answered without it, so everyone let in is inside together.
	round := func(bs []*browser) (in []*browser) {
		sh.mu.Lock()
		sh.gate = make(chan struct{})
		gate := sh.gate
		sh.now++
		sh.mu.Unlock()
		codes := make([]int, len(bs))
		var wg sync.WaitGroup
		for i, b := range bs {
			wg.Go(func() {
				code, pos := b.get(anyInstance())
				codes[i] = code
				if code != http.StatusOK {
					b.position = pos
					sh.arrived <- struct{}{}
				}
			})
		}
		for range bs {
			<-sh.arrived
		}
		close(gate)
		wg.Wait()
		for i, code := range codes {
			switch code {
			case http.StatusOK:
				in = append(in, bs[i])
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("status %d", code)
			}
		}
		return in
	}
	step := func() {
		var wg sync.WaitGroup
		for _, r := range rooms {
			wg.Go(func() { assert.NoError(t, r.Step(t.Context())) }) // the exchangers race
		}
		wg.Wait()
	}

	browsers := make([]*browser, visitors)
	for i := range browsers {
		jar, _ := cookiejar.New(nil)
		browsers[i] = &browser{jar: jar}
	}
	in := round(browsers)
	assert.Len(t, in, capacity, "the first requests fill the zone exactly")
	line := slices.DeleteFunc(slices.Clone(browsers), func(b *browser) bool { return slices.Contains(in, b) })
	slices.SortFunc(line, func(a, b *browser) int { return cmp.Compare(a.position, b.position) })

	for rounds := 0; len(line) > 0; rounds++ {
		require.Less(t, rounds, 10*visitors/capacity, "the line must move")
		clock.Advance(time.Second)
		step()
		head := line[:min(len(line), 2*capacity)]
		got := round(head)
		line = slices.DeleteFunc(line, func(b *browser) bool { return slices.Contains(got, b) })
	}

	assert.LessOrEqual(t, sh.maxInFlight.Load(), int64(capacity), "the shop never holds more than the capacity")
	assert.Equal(t, int64(capacity), sh.maxInFlight.Load(), "the zone was full at times")
	require.Len(t, sh.served, visitors, "every visitor got in")
	for v, n := range sh.served {
		require.Equal(t, 1, n, "visitor %s got in %d times", v, n)
	}

	// The feed is the order the store let visitors in: queue order, and
	// every visitor's round agrees with it.
	evs := readAll(t, stores[0], zone.Name)
	var lastSeq uint64
	var order []string
	entered := 0
	for _, ev := range evs {
		switch ev.Kind {
		case waitroom.EventAdmitted:
			require.Greater(t, ev.QueueSeq, lastSeq, "admissions in queue order")
			lastSeq = ev.QueueSeq
			order = append(order, ev.Visitor)
		case waitroom.EventEntered:
			entered++
		}
	}
	assert.Equal(t, visitors, entered+len(order), "one admission or direct entry per visitor")
	inversions := 0
	for i := 1; i < len(order); i++ {
		if sh.round[order[i]] < sh.round[order[i-1]] {
			inversions++
		}
	}
	assert.Zero(t, inversions, "visitors go in in queue order")
	t.Logf("%d visitors, %d direct entries, %d admissions in %d rounds, %d events; capacity used %+v",
		visitors, entered, len(order), sh.now, len(evs), sumCapacity(stores))
}

func sumCapacity(stores []*Store) Capacity {
	var c Capacity
	for _, s := range stores {
		u := s.ConsumedCapacity()
		c.ReadUnits += u.ReadUnits
		c.WriteUnits += u.WriteUnits
		c.Requests += u.Requests
	}
	return c
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
