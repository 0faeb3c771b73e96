package waitroom_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

var ctx = context.Background()

// newRoom returns a Room on a fresh memory store with a manual clock and
// manual stepping.
func newRoom(t *testing.T, z waitroom.Zone, opts ...waitroom.Option) (*waitroom.Room, *waitroomtest.Clock) {
	t.Helper()
	clock := waitroomtest.NewClock(t0)
	opts = append([]waitroom.Option{waitroom.WithZone(z), waitroom.WithClock(clock.Now), waitroom.WithManualStep()}, opts...)
	room, err := waitroom.New(memstore.New(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { room.Close() })
	return room, clock
}

func checkout(capacity int) waitroom.Zone {
	return waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: capacity, AdmitPerSecond: 100,
		Session: 10 * time.Minute, ClaimWindow: time.Minute, AbandonAfter: time.Minute}
}

// arrive makes n newcomers visit, in order, and returns their outcomes.
func arrive(t *testing.T, room *waitroom.Room, zone string, n int) []waitroom.Outcome {
	t.Helper()
	out := make([]waitroom.Outcome, n)
	for i := range out {
		o, err := room.Visit(ctx, zone, nil, true)
		require.NoError(t, err)
		require.NotEmpty(t, o.VisitorToken, "a newcomer gets a visitor token")
		out[i] = o
	}
	return out
}

func TestVisitDirectEntryThenQueue(t *testing.T) {
	room, _ := newRoom(t, checkout(2))
	out := arrive(t, room, "checkout", 5)
	for i, o := range out {
		if i < 2 {
			require.Equal(t, waitroom.StateInside, o.State, "visitor %d finds room", i)
			a, err := room.VerifyAccess(o.AccessToken, "checkout")
			require.NoError(t, err)
			assert.Equal(t, o.Visitor.ID, a.Visitor)
			continue
		}
		require.Equal(t, waitroom.StateWaiting, o.State, "visitor %d must wait", i)
		assert.Equal(t, int64(i-2), o.Place.Ahead, "visitor %d: people ahead", i)
		assert.Empty(t, o.AccessToken)
	}
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.Equal(t, int64(3), st.Waiting)
	assert.Equal(t, 2, st.Inside)
}

func TestReleaseAdmitsNextInOrder(t *testing.T) {
	room, _ := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 4)
	require.Equal(t, waitroom.StateInside, out[0].State)

	for next := 1; next < 4; next++ {
		released, err := room.Release(ctx, "checkout", out[next-1].Visitor.ID)
		require.NoError(t, err)
		require.True(t, released)
		require.NoError(t, room.Step(ctx))
		for i := next; i < 4; i++ {
			o, err := room.Status(ctx, "checkout", out[i].Visitor)
			require.NoError(t, err)
			if i == next {
				require.Equal(t, waitroom.StateAdmitted, o.State, "visitor %d is next", i)
			} else {
				require.Equal(t, waitroom.StateWaiting, o.State)
				require.Equal(t, int64(i-next-1), o.Place.Ahead)
			}
		}
		o, err := room.Visit(ctx, "checkout", &out[next].Visitor, false)
		require.NoError(t, err)
		require.Equal(t, waitroom.StateInside, o.State, "an admitted visitor who comes back is let in")
		require.NotEmpty(t, o.AccessToken)
	}
}

func TestSlotExpiryAdmitsNext(t *testing.T) {
	room, clock := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 2)
	require.NoError(t, room.Step(ctx))
	o, err := room.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, o.State, "the slot is still held")

	clock.Advance(10*time.Minute + time.Second) // the first visitor's session ends
	// The waiting visitor kept polling; it must not count as abandoned.
	_, err = room.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx))
	o, err = room.Visit(ctx, "checkout", &out[1].Visitor, false)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateInside, o.State)
}

func TestSaleStart(t *testing.T) {
	z := checkout(5)
	z.OpensAt = t0.Add(time.Hour)
	z.AdmitPerSecond = 8 // a burst of 2
	room, clock := newRoom(t, z)
	out := arrive(t, room, "checkout", 4)
	for i, o := range out {
		require.Equal(t, waitroom.StateWaiting, o.State, "before the sale nobody enters (visitor %d)", i)
		assert.GreaterOrEqual(t, o.ETA.Low, time.Hour, "the ETA counts the time until the opening")
		assert.True(t, o.OpensAt.Equal(z.OpensAt))
	}
	require.NoError(t, room.Step(ctx))
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, 0, st.Inside, "nobody admitted before the opening")

	clock.Set(z.OpensAt)
	for _, o := range out { // everyone kept their page open
		_, err := room.Status(ctx, "checkout", o.Visitor)
		require.NoError(t, err)
	}
	require.NoError(t, room.Step(ctx))
	clock.Advance(time.Second)
	require.NoError(t, room.Step(ctx))
	var admitted []int
	for i, o := range out {
		s, err := room.Status(ctx, "checkout", o.Visitor)
		require.NoError(t, err)
		if s.State == waitroom.StateAdmitted {
			admitted = append(admitted, i)
		}
	}
	require.Equal(t, []int{0, 1, 2, 3}, admitted, "at the opening the first in line go in, in order")
}

func TestAbandonedVisitorSkipped(t *testing.T) {
	room, clock := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 3) // 0 inside, 1 and 2 wait
	clock.Advance(50 * time.Second)
	_, err := room.Status(ctx, "checkout", out[2].Visitor) // only 2 keeps polling
	require.NoError(t, err)
	clock.Advance(20 * time.Second) // 1 unseen for 70s > AbandonAfter
	_, err = room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx))

	o, err := room.Status(ctx, "checkout", out[2].Visitor)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateAdmitted, o.State, "the abandoned visitor's turn is skipped")
	// The abandoned visitor comes back: it has lost its place and queues again.
	o, err = room.Visit(ctx, "checkout", &out[1].Visitor, false)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, o.State)
	assert.Greater(t, o.Place.Seq, out[2].Place.Seq, "a new place at the back")
}

func TestHeartbeatKeepsThePlace(t *testing.T) {
	room, clock := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 3) // 0 inside, 1 and 2 wait
	clock.Advance(50 * time.Second)
	require.NoError(t, room.Heartbeat(ctx, "checkout", out[1].Visitor)) // only 1's page is open
	clock.Advance(20 * time.Second)                                     // 2 unseen for 70s > AbandonAfter
	_, err := room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx))
	o, err := room.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateAdmitted, o.State, "the heartbeat kept 1's place")

	// Admitted: a heartbeat does nothing. Abandoned: it says so, and the
	// page asks Status, which queues the visitor again.
	assert.NoError(t, room.Heartbeat(ctx, "checkout", out[1].Visitor))
	_, err = room.Release(ctx, "checkout", out[1].Visitor.ID)
	require.NoError(t, err)
	clock.Advance(time.Second)
	require.NoError(t, room.Step(ctx)) // skips 2, abandoned
	assert.ErrorIs(t, room.Heartbeat(ctx, "checkout", out[2].Visitor), waitroom.ErrNotQueued)
	assert.ErrorIs(t, room.Heartbeat(ctx, "nope", out[2].Visitor), waitroom.ErrZoneNotFound)
	require.NoError(t, room.Close())
	assert.ErrorIs(t, room.Heartbeat(ctx, "checkout", out[2].Visitor), waitroom.ErrClosed)
}

func TestClaimWindowPassed(t *testing.T) {
	room, clock := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 3)
	_, err := room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx)) // 1 admitted, must claim within a minute
	_, err = room.Status(ctx, "checkout", out[2].Visitor)
	require.NoError(t, err)
	clock.Advance(61 * time.Second)
	_, err = room.Status(ctx, "checkout", out[2].Visitor) // 2 is still here
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx)) // 1's reserved slot leaked: 2 goes in
	o, err := room.Status(ctx, "checkout", out[2].Visitor)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateAdmitted, o.State)
	o, err = room.Visit(ctx, "checkout", &out[1].Visitor, false)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, o.State, "a visitor who missed its claim window queues again")
}

func TestClosedZone(t *testing.T) {
	z := checkout(1)
	z.ClosesAt = t0.Add(time.Hour)
	room, clock := newRoom(t, z)
	out := arrive(t, room, "checkout", 2)
	clock.Set(z.ClosesAt)
	o, err := room.Visit(ctx, "checkout", &out[1].Visitor, false)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateClosed, o.State)
	o, err = room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateClosed, o.State)
	require.Empty(t, o.AccessToken)
}

func TestZoneTemplateMakesZonesByName(t *testing.T) {
	clock := waitroomtest.NewClock(t0)
	tmpl := waitroom.Zone{Capacity: 1}
	room, err := waitroom.New(memstore.New(), waitroom.WithClock(clock.Now), waitroom.WithManualStep(),
		waitroom.WithZoneTemplate(tmpl))
	require.NoError(t, err)
	defer room.Close()
	_, ok := room.Zone("event-42")
	require.False(t, ok, "no zone before it is asked for")

	a, err := room.Visit(ctx, "event-42", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateInside, a.State)
	b, err := room.Visit(ctx, "event-42", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, b.State, "event-42 holds one")
	c, err := room.Visit(ctx, "event-43", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateInside, c.State, "each event is its own zone")

	_, err = room.Visit(ctx, "bad zone!", nil, true)
	require.Error(t, err)
}

func TestMatchLongestPrefix(t *testing.T) {
	clock := waitroomtest.NewClock(t0)
	room, err := waitroom.New(memstore.New(), waitroom.WithClock(clock.Now), waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: "shop", Paths: []string{"/shop"}, Capacity: 5}),
		waitroom.WithZone(waitroom.Zone{Name: "seats", Paths: []string{"/shop/seats/"}, Capacity: 5}))
	require.NoError(t, err)
	defer room.Close()
	for path, want := range map[string]string{
		"/shop": "shop", "/shop/": "shop", "/shop/cart": "shop", "/shop/seats": "seats", "/shop/seats/12": "seats",
		"/shops": "", "/": "", "/other/shop": "",
	} {
		got, ok := room.MatchPath(path)
		assert.Equal(t, want != "", ok, path)
		assert.Equal(t, want, got, path)
	}
}

func TestZoneValidation(t *testing.T) {
	for _, c := range []struct {
		zone waitroom.Zone
		want string
	}{
		{waitroom.Zone{Name: "z", Capacity: 0}, "waitroom: invalid zone settings: zone \"z\": capacity must be at least 1"},
		{waitroom.Zone{Name: "z", Capacity: -1}, "capacity must not be negative"},
		{waitroom.Zone{Name: "z", Capacity: 1, AdmitPerSecond: 2e9}, "admission rate must be between 0 and 1e9"},
		{waitroom.Zone{Name: "", Capacity: 1}, "zone name"},
		{waitroom.Zone{Name: "a b", Capacity: 1}, "zone name"},
		{waitroom.Zone{Name: "z", Capacity: 1, AdmitPerSecond: -1}, "admission rate"},
		{waitroom.Zone{Name: "z", Capacity: 1, Session: -time.Second}, "session must not be negative"},
		{waitroom.Zone{Name: "z", Capacity: 1, ClaimWindow: time.Millisecond}, "claim window must be at least 1s"},
		{waitroom.Zone{Name: "z", Capacity: 1, Paths: []string{"checkout"}}, "must start with '/'"},
		{waitroom.Zone{Name: "z", Capacity: 1, OpensAt: t0, ClosesAt: t0}, "not after it opens"},
	} {
		_, err := waitroom.New(memstore.New(), waitroom.WithZone(c.zone), waitroom.WithManualStep())
		require.ErrorContains(t, err, c.want)
		require.ErrorIs(t, err, waitroom.ErrInvalidZone, "a zone a Room refuses is refused as a store would: %v", err)
	}
	_, err := waitroom.New(nil)
	require.ErrorContains(t, err, "waitroom: store is nil")
	_, err = waitroom.New(memstore.New(), waitroom.WithTick(0))
	require.ErrorContains(t, err, "tick must be positive")
	_, err = waitroom.New(memstore.New(), waitroom.WithZone(checkout(1)), waitroom.WithZone(checkout(2)))
	require.ErrorContains(t, err, "given twice")
}

func TestZoneDefaults(t *testing.T) {
	room, _ := newRoom(t, waitroom.Zone{Name: "z", Capacity: 50})
	z, ok := room.Zone("z")
	require.True(t, ok)
	assert.Equal(t, 5.0, z.AdmitPerSecond)
	assert.Equal(t, waitroom.DefaultSession, z.Session)
	assert.Equal(t, waitroom.DefaultClaimWindow, z.ClaimWindow)
	assert.Equal(t, waitroom.DefaultAbandonAfter, z.AbandonAfter)
	assert.Equal(t, waitroom.DefaultDataTTL, z.DataTTL)
	assert.Equal(t, uint64(1), z.Version())
}

// TestZoneUpdateReachesOtherInstances: two Rooms share a store; a capacity
// change on one reaches the other through the change feed.
func TestZoneUpdateReachesOtherInstances(t *testing.T) {
	store := memstore.New()
	clock := waitroomtest.NewClock(t0)
	a, err := waitroom.New(store, waitroom.WithZone(checkout(1)), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	b, err := waitroom.New(store, waitroom.WithZone(checkout(1)), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer a.Close()

	var events []waitroom.EventKind
	cancel := b.Subscribe(func(e waitroom.Event) { events = append(events, e.Kind) })
	defer cancel()
	bigger := checkout(3)
	require.NoError(t, a.AddZone(ctx, bigger))
	require.NoError(t, b.Step(ctx))
	z, _ := b.Zone("checkout")
	assert.Equal(t, 3, z.Capacity, "b learned the new capacity from the feed")
	assert.Equal(t, uint64(2), z.Version())
	assert.Contains(t, events, waitroom.EventZone)
	assert.Equal(t, []string{"/checkout"}, z.Paths, "b keeps its own paths")
}

// TestStepAdmitsOnlyOnDemand is what the package example shows: no
// goroutine admits anyone until Step.
func TestStepAdmitsOnlyOnDemand(t *testing.T) {
	room, _ := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 2)
	_, err := room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	o, err := room.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, o.State, "no background exchanger with WithManualStep")
	require.NoError(t, room.Step(ctx))
	o, err = room.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateAdmitted, o.State)
}

func TestETA(t *testing.T) {
	z := checkout(10)
	z.AdmitPerSecond = 2
	z.Session = 100 * time.Second // turnover at most 10/100s = 0.1/s
	room, _ := newRoom(t, z)
	first := arrive(t, room, "checkout", 1)
	require.Equal(t, waitroom.StateInside, first[0].State)
	out := arrive(t, room, "checkout", 20) // the rate's burst of 1 is spent: all wait
	last := out[19]
	require.Equal(t, int64(19), last.Place.Ahead)
	assert.Equal(t, 10*time.Second, last.ETA.Low, "20 places at 2/s")
	assert.Equal(t, 200*time.Second, last.ETA.High, "20 places at 0.1/s")
	assert.True(t, last.ETA.Low <= last.ETA.Expected && last.ETA.Expected <= last.ETA.High)
}

// TestFeedReachesSubscribers: with background goroutines, a release on one
// Room reaches a subscriber of another Room on the same store.
func TestFeedReachesSubscribers(t *testing.T) {
	store := memstore.New()
	a, err := waitroom.New(store, waitroom.WithZone(checkout(1)))
	require.NoError(t, err)
	b, err := waitroom.New(store, waitroom.WithZone(checkout(1)))
	require.NoError(t, err)
	defer a.Close()
	defer b.Close()

	got := make(chan waitroom.Event, 16)
	defer b.Subscribe(func(e waitroom.Event) { got <- e })()
	o, err := a.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateInside, o.State)
	_, err = a.Release(ctx, "checkout", o.Visitor.ID)
	require.NoError(t, err)
	var kinds []waitroom.EventKind
	for len(kinds) < 2 {
		select {
		case e := <-got:
			kinds = append(kinds, e.Kind)
			if e.Kind == waitroom.EventReleased {
				assert.True(t, e.FreesSlot())
				assert.Equal(t, o.Visitor.ID, e.Visitor)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("events not delivered; got %v", kinds)
		}
	}
	assert.Equal(t, []waitroom.EventKind{waitroom.EventEntered, waitroom.EventReleased}, kinds)
}

// TestCloseStopsGoroutines: a Room with many zones leaves nothing running.
func TestCloseStopsGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	opts := []waitroom.Option{waitroom.WithTick(time.Millisecond)}
	for _, n := range []string{"a", "b", "c"} {
		opts = append(opts, waitroom.WithZone(waitroom.Zone{Name: n, Capacity: 1}))
	}
	room, err := waitroom.New(memstore.New(), opts...)
	require.NoError(t, err)
	_, err = room.Visit(ctx, "a", nil, true)
	require.NoError(t, err)
	require.NoError(t, room.Close())
	require.NoError(t, room.Close(), "closing twice is fine")
	_, err = room.Visit(ctx, "a", nil, true)
	require.ErrorIs(t, err, waitroom.ErrClosed)
	require.ErrorIs(t, room.Step(ctx), waitroom.ErrClosed)
}

// TestConcurrentVisitsNeverExceedCapacity: 500 newcomers at once on
// capacity 20 with the exchanger running: at no point are more than 20
// slots held, and everyone who got in holds a valid token.
func TestConcurrentVisitsNeverExceedCapacity(t *testing.T) {
	z := checkout(20)
	z.AdmitPerSecond = 1000
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(z), waitroom.WithTick(time.Millisecond))
	require.NoError(t, err)
	defer room.Close()

	var mu sync.Mutex
	inside := map[string]bool{}
	var wg sync.WaitGroup
	for range 500 {
		wg.Go(func() {
			o, err := room.Visit(ctx, "checkout", nil, true)
			if err != nil {
				t.Error(err)
				return
			}
			if o.State == waitroom.StateInside {
				mu.Lock()
				inside[o.Visitor.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.LessOrEqual(t, st.Inside, 20)
	assert.LessOrEqual(t, len(inside), 20)
	assert.Equal(t, int64(500), st.Waiting+int64(st.Inside), "everyone holds a slot or a place")
}

func TestStoreErrorsSurface(t *testing.T) {
	room, _ := newRoom(t, checkout(1))
	_, err := room.Release(ctx, "nope", "v")
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	_, err = room.Stats(ctx, "nope")
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	_, err = room.Visit(ctx, "nope", nil, true)
	require.True(t, errors.Is(err, waitroom.ErrZoneNotFound))
}

// blockingStore holds every Exchange until release is closed, counting the
// steps that run at once.
type blockingStore struct {
	waitroom.Store
	started chan struct{}
	release chan struct{}
	mu      sync.Mutex
	running int
	most    int
}

func (s *blockingStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	s.mu.Lock()
	s.running++
	s.most = max(s.most, s.running)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running--
		s.mu.Unlock()
	}()
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
	case <-ctx.Done():
		return waitroom.Exchange{}, ctx.Err()
	}
	return s.Store.Exchange(ctx, zone, now, limit)
}

// TestSlowExchangeDoesNotHoldBackTheNext: while one exchange step waits on
// a slow store, the exchanger starts the next ones (so a slow round trip
// does not cost admissions), but never more than a bounded number at once.
func TestSlowExchangeDoesNotHoldBackTheNext(t *testing.T) {
	store := &blockingStore{Store: memstore.New(), started: make(chan struct{}), release: make(chan struct{})}
	room, err := waitroom.New(store, waitroom.WithZone(checkout(1)), waitroom.WithTick(time.Millisecond))
	require.NoError(t, err)
	for i := range 3 {
		select {
		case <-store.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d exchange steps started while the first was held", i)
		}
	}
	// Let ticks pile up against the bound before releasing them all.
	for range 20 {
		select {
		case <-store.started:
		case <-time.After(50 * time.Millisecond):
		}
	}
	close(store.release)
	require.NoError(t, room.Close())
	store.mu.Lock()
	defer store.mu.Unlock()
	assert.GreaterOrEqual(t, store.most, 3)
	assert.LessOrEqual(t, store.most, 8, "steps in flight are bounded")
	assert.Equal(t, 0, store.running, "Close waits for the steps in flight")
}

// A visitor told it was let in claims with one store call; a visitor who
// claims while still waiting is told its place.
func TestClaimOfAnAdmittedVisitorIsOneStoreCall(t *testing.T) {
	clock := waitroomtest.NewClock(t0)
	store := waitroomtest.NewCountingStore(memstore.New())
	room, err := waitroom.New(store, waitroom.WithZone(checkout(1)), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()
	out := arrive(t, room, "checkout", 3) // 0 inside, 1 and 2 wait
	_, err = room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx)) // 1 admitted

	store.Reset()
	o, err := room.Claim(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateInside, o.State)
	assert.NotEmpty(t, o.AccessToken)
	// The Room batches its reads over a store that batches.
	reads := func() int64 { return store.Count("Position") + store.Batched("Position") }
	claims := func() int64 { return store.Count("Claim") + store.Batched("Claim") }
	assert.EqualValues(t, 1, claims())
	assert.EqualValues(t, 1, store.Count(), "one store call in all")
	assert.Zero(t, reads(), "no read before the claim")

	o, err = room.Claim(ctx, "checkout", out[2].Visitor)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, o.State)
	assert.EqualValues(t, 0, o.Place.Ahead)
	assert.Positive(t, o.ETA.Expected)
	assert.EqualValues(t, 1, reads(), "a claim refused: the place is read")

	// A waiting visitor's page asks again (Visit): its place is read, no
	// claim is tried first.
	store.Reset()
	o, err = room.Visit(ctx, "checkout", &out[2].Visitor, false)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, o.State)
	assert.Zero(t, claims())
	assert.EqualValues(t, 1, reads())
	assert.EqualValues(t, 1, store.Count(), "one store call in all")
}
