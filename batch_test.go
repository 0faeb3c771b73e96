package waitroom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedStore is a BatchStore whose batches wait for the gate while it is
// closed; it numbers the places it gives in the order the calls reach it.
type gatedStore struct {
	Store // only Batch is called

	gate    chan struct{} // nil: open
	entered chan int      // each batch's size, as it starts
	mu      sync.Mutex
	sizes   []int
	seq     uint64
	err     error
	ended   chan error // if set, gets the error of each batch the gate stopped
}

func (s *gatedStore) Batch(ctx context.Context, zone string, now time.Time, calls []Call) error {
	if s.entered != nil {
		s.entered <- len(calls)
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			if s.ended != nil {
				s.ended <- ctx.Err()
			}
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sizes = append(s.sizes, len(calls))
	if s.err != nil {
		return s.err
	}
	for i := range calls {
		s.seq++
		calls[i].Place = Place{Visitor: calls[i].Visitor, State: StateWaiting, Seq: s.seq}
	}
	return nil
}

func (s *gatedStore) pending(b *batcher) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

type visitResult struct {
	visitor string
	place   Place
	err     error
}

// visitAll makes n calls through b at once, after the first one (v-0) has
// reached the store, and returns a func that waits for their results.
func visitAll(t *testing.T, b *batcher, s *gatedStore, ctxs []context.Context) func() []visitResult {
	t.Helper()
	results := make(chan visitResult, len(ctxs))
	call := func(i int) {
		v := fmt.Sprintf("v-%d", i)
		p, err := b.do(ctxs[i], OpRegister, v)
		results <- visitResult{v, p, err}
	}
	go call(0)
	require.Equal(t, 1, <-s.entered, "the first call goes at once, alone")
	for i := 1; i < len(ctxs); i++ {
		go call(i)
	}
	// The others wait for the batch in flight.
	require.Eventually(t, func() bool { return s.pending(b) == len(ctxs)-1 }, 5*time.Second, time.Millisecond)
	return func() []visitResult {
		out := make([]visitResult, len(ctxs))
		for i := range out {
			out[i] = <-results
		}
		return out
	}
}

func newGated() (*gatedStore, *batcher) {
	s := &gatedStore{gate: make(chan struct{}), entered: make(chan int, 16)}
	return s, &batcher{store: s, zone: "z", clock: time.Now, flights: 1}
}

func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}

// While a batch is in flight, the calls that come wait and go together in
// the next, capped at maxBatch a batch; each caller gets its own outcome.
func TestBatcherGathersCallsWhileOneIsInFlight(t *testing.T) {
	s, b := newGated()
	const n = maxBatch + 40
	wait := visitAll(t, b, s, backgrounds(n+1))
	close(s.gate)
	seen := map[uint64]bool{}
	for _, r := range wait() {
		require.NoError(t, r.err)
		assert.Equal(t, r.visitor, r.place.Visitor, "each caller gets its own call's outcome")
		assert.False(t, seen[r.place.Seq], "Seq %d given twice", r.place.Seq)
		seen[r.place.Seq] = true
	}
	assert.Equal(t, []int{1, maxBatch, n - maxBatch}, s.sizes, "one call, then the waiting ones in batches of at most maxBatch")
	assert.Zero(t, s.pending(b))
	require.Eventually(t, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.inflight == 0
	}, 5*time.Second, time.Millisecond, "idle again")
}

// With two flights, two calls go at once, each alone; the calls that come
// while both are in flight wait and go together.
func TestBatcherFlights(t *testing.T) {
	s, b := newGated()
	b.flights = 2
	results := make(chan error, 7)
	call := func(i int) {
		_, err := b.do(context.Background(), OpHeartbeat, fmt.Sprintf("v-%d", i))
		results <- err
	}
	go call(0)
	require.Equal(t, 1, <-s.entered)
	go call(1)
	require.Equal(t, 1, <-s.entered, "a second flight was free")
	for i := 2; i < 7; i++ {
		go call(i)
	}
	require.Eventually(t, func() bool { return s.pending(b) == 5 }, 5*time.Second, time.Millisecond)
	close(s.gate)
	for range 7 {
		require.NoError(t, <-results)
	}
	assert.ElementsMatch(t, []int{1, 1, 5}, s.sizes)
}

// A quiet zone's calls go one by one, each at once, on the caller's own
// goroutine.
func TestBatcherQuietCallsGoAlone(t *testing.T) {
	s := &gatedStore{}
	b := newBatcher(s, "z", time.Now)
	for i := range 3 {
		p, err := b.do(context.Background(), OpPosition, fmt.Sprintf("v-%d", i))
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), p.Seq)
	}
	assert.Equal(t, []int{1, 1, 1}, s.sizes)
}

// A caller that gives up while it waits gets an error at once, and its
// call is not sent.
func TestBatcherDropsCallsOfCallersWhoLeft(t *testing.T) {
	s, b := newGated()
	ctxs := backgrounds(4)
	gone, cancel := context.WithCancel(context.Background())
	ctxs[2] = gone
	wait := visitAll(t, b, s, ctxs)
	cancel()
	close(s.gate)
	for _, r := range wait() {
		if r.visitor == "v-2" {
			require.Error(t, r.err)
			assert.ErrorIs(t, r.err, context.Canceled)
			assert.ErrorIs(t, r.err, ErrStoreUnavailable, "a caller who gave up is a store call that did not answer in time")
			continue
		}
		require.NoError(t, r.err)
	}
	assert.Equal(t, []int{1, 2}, s.sizes, "the call of the caller who left is not sent")
}

// A batch's error reaches every caller in it.
func TestBatcherErrorReachesEveryCaller(t *testing.T) {
	s, b := newGated()
	s.err = fmt.Errorf("%w: boom", ErrStoreUnavailable)
	wait := visitAll(t, b, s, backgrounds(5))
	close(s.gate)
	for _, r := range wait() {
		assert.True(t, errors.Is(r.err, ErrStoreUnavailable), "%s: %v", r.visitor, r.err)
	}
	assert.Equal(t, []int{1, 4}, s.sizes)
}

// A batch's context ends when every caller in it has given up: the store
// call stops.
func TestBatcherBatchEndsWhenEveryCallerHasLeft(t *testing.T) {
	s, b := newGated()
	s.ended = make(chan error, 2)
	ctxs := make([]context.Context, 3)
	cancels := make([]context.CancelFunc, 3)
	for i := range ctxs {
		ctxs[i], cancels[i] = context.WithCancel(context.Background())
	}
	wait := visitAll(t, b, s, ctxs)
	cancels[0]() // the first batch, v-0 alone, ends with its caller
	assert.ErrorIs(t, <-s.ended, context.Canceled)
	require.Equal(t, 2, <-s.entered, "then v-1 and v-2 go together")
	cancels[1]()
	cancels[2]()
	assert.ErrorIs(t, <-s.ended, context.Canceled, "the batch's context ended with its last caller")
	for _, r := range wait() {
		assert.ErrorIs(t, r.err, context.Canceled, r.visitor)
	}
}
