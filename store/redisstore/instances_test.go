package redisstore_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/waitroomtest"
)

// instance is one app instance: its own Redis client and Store, Room,
// middleware (with its own edge cache) and HTTP server.
type instance struct {
	room  *waitroom.Room
	store waitroom.Store
	url   string
}

// origin is the protected app: it counts the visitors inside at once and
// records who reached it, and ends each visit with the release header. It
// holds every visitor of an exchange step until all of them are inside
// together, so the count reaches what the store let in at once.
type origin struct {
	cur, peak atomic.Int64
	batch     atomic.Int64 // the exchange step the test is in

	mu      sync.Mutex
	reached []originVisit
	expect  int           // visitors of the current step
	arrived int           // of them inside so far
	gate    chan struct{} // closed when all of them are inside
}

// expectBatch makes the origin hold the next n visitors until all n are
// inside.
func (o *origin) expectBatch(n int) {
	o.mu.Lock()
	o.expect, o.arrived, o.gate = n, 0, make(chan struct{})
	o.mu.Unlock()
}

type originVisit struct {
	visitor string
	batch   int64
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.cur.Add(1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
	a, ok := middleware.AccessFrom(r.Context())
	o.mu.Lock()
	if !ok {
		a.Visitor = "(no access)"
	}
	o.reached = append(o.reached, originVisit{a.Visitor, o.batch.Load()})
	o.arrived++
	gate := o.gate
	if o.arrived == o.expect {
		close(gate)
	}
	o.mu.Unlock()
	select {
	case <-gate:
	case <-time.After(10 * time.Second):
		// More visitors than the store admitted, or fewer: the test's
		// checks report it; do not hang.
	}
	o.cur.Add(-1)
	w.Header().Set(middleware.DefaultReleaseHeader, "done")
	io.WriteString(w, "checkout")
}

// TestThreeInstances runs three instances over one Redis, each with its
// own Room, middleware and edge cache, sharing a key ring. 1000 visitors
// queue through the three of them before the sale opens; then the
// instances run the exchanger in turn, and each admitted visitor comes in
// through another instance than the one it queued on, and leaves. The
// origin never sees more than the capacity at once; the store admits in
// exactly the order it registered the visitors; every visitor is admitted
// and reaches the origin exactly once.
func TestThreeInstances(t *testing.T) {
	const (
		visitors  = 1000
		capacity  = 10
		instances = 3
	)
	ctx := t.Context()
	clock := waitroomtest.NewClock(waitroomtest.Start)
	opens := clock.Now().Add(time.Minute)
	zone := waitroom.Zone{
		Name: uniqueZone("three"), Paths: []string{"/buy"}, Capacity: capacity, AdmitPerSecond: 100,
		Session: 10 * time.Minute, ClaimWindow: 10 * time.Minute, AbandonAfter: 10 * time.Minute, OpensAt: opens,
	}
	keys := testKeys(t)
	quiet := slog.New(slog.DiscardHandler)
	org := &origin{}

	// Admissions as each instance's change feed reports them.
	var (
		feedMu    sync.Mutex
		feedSeen  [instances][]waitroom.Event
		firstSeen sync.Map // visitor id -> struct{}: admission already handed to the visitor
	)
	admittedCh := make(chan string, visitors*2)
	var insts []*instance
	for i := range instances {
		store := newStore(t, sharedClient(t))
		room, err := waitroom.New(store, waitroom.WithZone(zone), waitroom.WithManualStep(),
			waitroom.WithClock(clock.Now), waitroom.WithKeys(keys), waitroom.WithLogger(quiet))
		require.NoError(t, err)
		t.Cleanup(func() { room.Close() })
		room.Subscribe(func(ev waitroom.Event) {
			if ev.Kind != waitroom.EventAdmitted || ev.Zone != zone.Name {
				return
			}
			feedMu.Lock()
			feedSeen[i] = append(feedSeen[i], ev)
			feedMu.Unlock()
			if _, dup := firstSeen.LoadOrStore(ev.Visitor, struct{}{}); !dup {
				admittedCh <- ev.Visitor
			}
		})
		h := middleware.Wrap(room, org, middleware.WithLogger(quiet))
		t.Cleanup(func() { h.Close() })
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		insts = append(insts, &instance{room: room, store: store, url: srv.URL})
	}

	// Before the sale: every visitor queues, through instance i%3, 50 at a
	// time.
	type queued struct {
		v    *visitor
		home int // the instance it queued on
		id   string
		seq  uint64
	}
	all := make([]*queued, visitors)
	byID := make(map[string]*queued, visitors)
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	sem := make(chan struct{}, 50)
	for i := range all {
		all[i] = &queued{v: newVisitor(t, fmt.Sprintf("visitor-%d", i)), home: i % instances}
		wg.Add(1)
		sem <- struct{}{}
		go func(q *queued) {
			defer wg.Done()
			defer func() { <-sem }()
			code, err := q.v.fetch(insts[q.home].url + "/buy")
			if err == nil && code != http.StatusTooManyRequests {
				err = fmt.Errorf("%s: status %d before the sale, want 429", q.v.name, code)
			}
			errs <- err
		}(all[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Zero(t, len(org.reached), "nobody reaches the origin before the sale")
	for _, q := range all {
		q.id = q.v.id(t, insts[q.home].room, zone.Name, insts[q.home].url)
		p, err := insts[q.home].store.Position(ctx, zone.Name, q.id, clock.Now())
		require.NoError(t, err)
		require.Equal(t, waitroom.StateWaiting, p.State)
		q.seq = p.Seq
		byID[q.id] = q
	}
	require.Len(t, byID, visitors, "every visitor has a place of its own")
	st, err := insts[0].room.Stats(ctx, zone.Name)
	require.NoError(t, err)
	require.EqualValues(t, visitors, st.Waiting, "a thousand places in line")

	// The sale opens. The instances run the exchanger in turn, 100ms of
	// the clock apart; each admitted visitor comes in through the next
	// instance after its own, and leaves (the origin's release header).
	clock.Set(opens)
	done := make(chan error, visitors)
	var handed int
	for step := 0; handed < visitors; step++ {
		require.Less(t, step, 10*visitors/capacity, "admissions stalled: %d of %d admitted", handed, visitors)
		org.batch.Store(int64(step))
		clock.Advance(100 * time.Millisecond)
		require.NoError(t, insts[step%instances].room.Step(ctx))
		var batch []*queued
	drain:
		for {
			select {
			case id := <-admittedCh:
				q := byID[id]
				require.NotNil(t, q, "admitted visitor %q never queued", id)
				batch = append(batch, q)
			default:
				break drain
			}
		}
		n := len(batch)
		require.LessOrEqual(t, n, capacity, "one step admits at most the capacity")
		org.expectBatch(n)
		for _, q := range batch {
			go func() {
				code, err := q.v.fetch(insts[(q.home+1)%instances].url + "/buy")
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("%s: status %d after admission, want 200", q.v.name, code)
				}
				done <- err
			}()
		}
		for range n {
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Fatal("an admitted visitor did not get through within 30s")
			}
		}
		handed += n
	}
	// Let every instance read the feed to its end.
	for _, in := range insts {
		require.NoError(t, in.room.Step(ctx))
	}

	assert.LessOrEqual(t, org.peak.Load(), int64(capacity), "the origin never sees more than the capacity at once")
	t.Logf("peak concurrency at the origin: %d of %d", org.peak.Load(), capacity)

	// Every visitor reached the origin exactly once, batch after batch in
	// queue order.
	require.Len(t, org.reached, visitors, "every visitor reaches the origin once")
	count := make(map[string]int)
	maxSeq := make(map[int64]uint64)
	minSeq := make(map[int64]uint64)
	for _, r := range org.reached {
		count[r.visitor]++
		q := byID[r.visitor]
		require.NotNil(t, q, "the origin saw %q, who never queued", r.visitor)
		if m, ok := minSeq[r.batch]; !ok || q.seq < m {
			minSeq[r.batch] = q.seq
		}
		maxSeq[r.batch] = max(maxSeq[r.batch], q.seq)
	}
	for id, n := range count {
		require.Equal(t, 1, n, "visitor %s reached the origin %d times", id, n)
	}
	batches := make([]int64, 0, len(maxSeq))
	for b := range maxSeq {
		batches = append(batches, b)
	}
	sort.Slice(batches, func(i, j int) bool { return batches[i] < batches[j] })
	for i := 1; i < len(batches); i++ {
		assert.Less(t, maxSeq[batches[i-1]], minSeq[batches[i]],
			"every visitor of step %d queued before every visitor of step %d", batches[i-1], batches[i])
	}

	// The store admitted in registration order: every instance's feed
	// shows the admissions with Seq 1..1000 in order, each visitor once.
	seqs := make([]uint64, 0, visitors)
	for _, q := range all {
		seqs = append(seqs, q.seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, evs := range feedSeen {
		require.Len(t, evs, visitors, "instance %d's feed reports every admission once", i)
		inversions := 0
		got := make([]uint64, len(evs))
		for k, ev := range evs {
			got[k] = ev.QueueSeq
			if k > 0 && ev.QueueSeq < evs[k-1].QueueSeq {
				inversions++
			}
			require.Equal(t, byID[ev.Visitor].seq, ev.QueueSeq, "an admission carries the visitor's Seq")
		}
		assert.Zero(t, inversions, "instance %d: admissions out of queue order", i)
		assert.Equal(t, seqs, got, "instance %d: admission order equals registration order", i)
	}
	st, err = insts[1].room.Stats(ctx, zone.Name)
	require.NoError(t, err)
	assert.Zero(t, st.Waiting, "nobody is left in line")
	assert.Zero(t, st.Inside, "every visitor left")
	assert.EqualValues(t, visitors, st.AdmittedTotal, "a thousand admissions, no more")
}

// fetch is get for goroutines other than the test's: it returns errors.
func (v *visitor) fetch(rawURL string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: GET %s: %w", v.name, rawURL, err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
