package waitroom_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// faultyStore is a memory store that fails, hangs or holds its calls on
// demand, and counts the calls that reach it.
type faultyStore struct {
	waitroom.BatchStore

	down    atomic.Bool // calls fail with ErrStoreUnavailable
	hang    atomic.Bool // calls wait for their context to end, and return its error as it is
	calls   atomic.Int64
	gate    chan struct{} // if set, Release waits for it to close
	held    chan struct{} // if set, told of each Release that waits at the gate
	mu      sync.Mutex
	lastDue time.Duration // the time left to a ReadFeed's deadline as it came
}

func newFaultyStore() *faultyStore { return &faultyStore{BatchStore: memstore.New()} }

func (s *faultyStore) fault(ctx context.Context) error {
	s.calls.Add(1)
	if s.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.down.Load() {
		return fmt.Errorf("faulty store: %w: connection refused", waitroom.ErrStoreUnavailable)
	}
	return nil
}

func (s *faultyStore) Batch(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) error {
	if err := s.fault(ctx); err != nil {
		return err
	}
	return s.BatchStore.Batch(ctx, zone, now, calls)
}

func (s *faultyStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	if err := s.fault(ctx); err != nil {
		return waitroom.Exchange{}, err
	}
	return s.BatchStore.Exchange(ctx, zone, now, limit)
}

func (s *faultyStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	if err := s.fault(ctx); err != nil {
		return false, err
	}
	if s.gate != nil {
		s.held <- struct{}{}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return s.BatchStore.Release(ctx, zone, visitor, now)
}

func (s *faultyStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	if d, ok := ctx.Deadline(); ok {
		s.mu.Lock()
		s.lastDue = time.Until(d)
		s.mu.Unlock()
	}
	if err := s.fault(ctx); err != nil {
		return nil, err
	}
	return s.BatchStore.ReadFeed(ctx, zone, after, limit, wait)
}

// guardedRoom returns a Room over s with a manual clock and manual
// stepping, its log kept.
func guardedRoom(t *testing.T, s waitroom.Store, opts ...waitroom.Option) (*waitroom.Room, *waitroomtest.Clock, *waitroomtest.Log) {
	t.Helper()
	clock := waitroomtest.NewClock(t0)
	logs := &waitroomtest.Log{}
	opts = append([]waitroom.Option{waitroom.WithZone(checkout(1)), waitroom.WithClock(clock.Now),
		waitroom.WithManualStep(), waitroom.WithLogger(logs.Logger())}, opts...)
	room, err := waitroom.New(s, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { room.Close() })
	return room, clock, logs
}

// A store call that outlasts the Room's store timeout fails with
// ErrStoreUnavailable, even from a store that answers with its context's
// bare error: the fail policy applies.
func TestStoreTimeout(t *testing.T) {
	s := newFaultyStore()
	room, _, _ := guardedRoom(t, s, waitroom.WithStoreTimeout(20*time.Millisecond))
	s.hang.Store(true)
	start := time.Now()
	_, err := room.Visit(ctx, "checkout", nil, true)
	took := time.Since(start)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no answer within 20ms")
	assert.Less(t, took, 5*time.Second, "the deadline ended the call")
	require.ErrorIs(t, room.Step(ctx), waitroom.ErrStoreUnavailable, "the exchanger's calls have the deadline too")
}

// ReadFeed's deadline is its wait plus the timeout.
func TestStoreTimeoutOfAWaitingRead(t *testing.T) {
	s := newFaultyStore()
	room, _, _ := guardedRoom(t, s, waitroom.WithStoreTimeout(time.Second))
	_, err := room.Store().ReadFeed(ctx, "checkout", 0, 10, 3*time.Second)
	require.NoError(t, err)
	s.mu.Lock()
	due := s.lastDue
	s.mu.Unlock()
	assert.Greater(t, due, 3500*time.Millisecond)
	assert.LessOrEqual(t, due, 4*time.Second)
}

// TestBreakerOpensAndProbes: after the store fails WithBreaker's number
// of calls in a row, calls fail fast without reaching it, until the
// cool-down has passed on the Room's clock; then one call probes, and
// its answer closes the breaker. Opening and closing are logged once
// each.
func TestBreakerOpensAndProbes(t *testing.T) {
	s := newFaultyStore()
	room, clock, logs := guardedRoom(t, s, waitroom.WithBreaker(3, 5*time.Second))
	_, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err, "the store works")

	s.down.Store(true)
	for i := range 3 {
		_, err := room.Visit(ctx, "checkout", nil, true)
		require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "call %d", i)
		require.NotErrorIs(t, err, waitroom.ErrCircuitOpen, "call %d reached the store", i)
	}
	reached := s.calls.Load()
	for range 5 {
		_, err := room.Visit(ctx, "checkout", nil, true)
		require.ErrorIs(t, err, waitroom.ErrCircuitOpen)
		require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "the fail policy applies")
	}
	require.ErrorIs(t, room.Step(ctx), waitroom.ErrCircuitOpen, "the exchanger fails fast too")
	assert.Equal(t, reached, s.calls.Load(), "no call reached the store while the breaker was open")
	require.Len(t, logs.Lines("WARN"), 1, logs.String())
	assert.Contains(t, logs.Lines("WARN")[0], "circuit breaker open")
	assert.Contains(t, logs.Lines("WARN")[0], "connection refused", "the last failure is logged")

	s.down.Store(false)
	_, err = room.Visit(ctx, "checkout", nil, true)
	require.ErrorIs(t, err, waitroom.ErrCircuitOpen, "the store is back, but the cool-down has not passed")

	clock.Advance(5 * time.Second)
	_, err = room.Visit(ctx, "checkout", nil, true)
	require.ErrorIs(t, err, waitroom.ErrCircuitOpen, "a batch does not probe at the cool-down: it would hold its zone's visitors")
	s.down.Store(true)
	reached = s.calls.Load()
	require.ErrorIs(t, room.Step(ctx), waitroom.ErrStoreUnavailable)
	assert.Equal(t, reached+1, s.calls.Load(), "the exchange step probed the store, and it alone")
	_, err = room.Visit(ctx, "checkout", nil, true)
	require.ErrorIs(t, err, waitroom.ErrCircuitOpen, "the probe failed: open for another cool-down")

	clock.Advance(5 * time.Second)
	s.down.Store(false)
	require.NoError(t, room.Step(ctx), "the probe is answered")
	out, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err, "closed again")
	assert.Equal(t, waitroom.StateWaiting, out.State)
	info := logs.Lines("INFO")
	require.Len(t, info, 1, logs.String())
	assert.Contains(t, info[0], "circuit breaker closed")
	assert.Contains(t, info[0], "open_for=10s")
	assert.Len(t, logs.Lines("WARN"), 1, "a failed probe logs nothing more")

	// With no other call to probe, a batch probes after twice the
	// cool-down.
	s.down.Store(true)
	for range 3 {
		room.Visit(ctx, "checkout", nil, true)
	}
	s.down.Store(false)
	clock.Advance(10 * time.Second)
	_, err = room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err, "the batch probed")
}

// Calls whose caller gave up say nothing of the store: they do not open
// the breaker.
func TestBreakerIgnoresCallersWhoLeft(t *testing.T) {
	s := newFaultyStore()
	room, _, _ := guardedRoom(t, s, waitroom.WithBreaker(1, time.Second), waitroom.WithStoreTimeout(time.Minute))
	s.hang.Store(true)
	for range 3 {
		c, cancel := context.WithCancel(ctx)
		cancel()
		_, err := room.Visit(c, "checkout", nil, true)
		require.ErrorIs(t, err, context.Canceled)
	}
	s.hang.Store(false)
	_, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err, "the breaker stayed closed")
}

// TestMaxStoreCalls: past the cap a call fails at once with ErrStoreBusy,
// without reaching the store; that counts for nothing with the breaker;
// a waiting feed read is not capped.
func TestMaxStoreCalls(t *testing.T) {
	s := newFaultyStore()
	s.gate, s.held = make(chan struct{}), make(chan struct{})
	room, _, _ := guardedRoom(t, s, waitroom.WithMaxStoreCalls(2), waitroom.WithBreaker(1, time.Hour))
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			_, err := room.Release(ctx, "checkout", fmt.Sprint("held-", i))
			assert.NoError(t, err)
		})
	}
	<-s.held
	<-s.held
	reached := s.calls.Load()
	for range 3 {
		_, err := room.Release(ctx, "checkout", "third")
		require.ErrorIs(t, err, waitroom.ErrStoreBusy)
		require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "the fail policy applies")
	}
	_, err := room.Visit(ctx, "checkout", nil, true)
	require.ErrorIs(t, err, waitroom.ErrStoreBusy, "a batch counts as a call")
	assert.Equal(t, reached, s.calls.Load(), "no refused call reached the store")
	_, err = room.Store().ReadFeed(ctx, "checkout", 0, 10, 0)
	require.NoError(t, err, "ReadFeed is not capped")

	close(s.gate)
	wg.Wait()
	s.gate = nil
	_, err = room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err, "the refusals did not open the breaker")
}

// The Room's store stays a BatchStore behind the guard, so visits are
// still batched.
func TestGuardKeepsBatches(t *testing.T) {
	room, _, _ := guardedRoom(t, newFaultyStore())
	_, ok := room.Store().(waitroom.BatchStore)
	assert.True(t, ok)
	plain, _, _ := guardedRoom(t, waitroomtest.NewCountingStore(memstore.New()))
	_, ok = plain.Store().(waitroom.BatchStore)
	assert.False(t, ok, "a store that does not batch is not made one")
}

func TestStoreBoundsValidation(t *testing.T) {
	for _, tc := range []struct {
		opt  waitroom.Option
		want string
	}{
		{waitroom.WithStoreTimeout(0), "store timeout must be positive"},
		{waitroom.WithMaxStoreCalls(0), "max store calls must be positive"},
		{waitroom.WithBreaker(-1, time.Second), "breaker failures must not be negative"},
		{waitroom.WithBreaker(3, 0), "breaker cool-down must be positive"},
	} {
		_, err := waitroom.New(memstore.New(), tc.opt)
		require.Error(t, err, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.True(t, strings.HasPrefix(err.Error(), "waitroom: "), err.Error())
	}
	room, err := waitroom.New(memstore.New(), waitroom.WithBreaker(0, 0), waitroom.WithManualStep())
	require.NoError(t, err, "failures 0 turns the breaker off")
	room.Close()
}
