package waitroom

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// maxBatch caps the calls of one batch: a Redis script of 256 calls runs
// for a few milliseconds, during which Redis serves nobody else.
// maxFlights caps the batches of one zone in flight at once: one, so
// that under load the calls gather into as few round trips as they can
// (on a crowded machine each round trip costs a turn of every goroutine
// that waits to run; a flash crowd over Redis on two cores did best with
// one batch in flight and batches of at most 256; see BENCHMARKS.md).
const (
	maxBatch   = 256
	maxFlights = 1
)

// A batcher gathers the store calls a zone's visitors make at the same
// time into batches (a group commit), with at most flights batches in
// flight: a caller that finds one free makes its call at once, as a batch
// of one with whoever waits; callers that come while every flight is
// taken wait and go together in the next batch. A quiet zone pays nothing
// for it, and a crowd costs the store one round trip per batch instead of
// one per visitor: the busier the store, the larger the batches. Calls go
// in the order in which they came, and a call whose caller has given up
// is dropped before it is sent.
type batcher struct {
	store   BatchStore
	zone    string
	clock   func() time.Time
	flights int // batches in flight at most (maxFlights)

	mu       sync.Mutex
	pending  []*batchCall
	inflight int // callers or goroutines making batches
}

func newBatcher(s BatchStore, zone string, clock func() time.Time) *batcher {
	return &batcher{store: s, zone: zone, clock: clock, flights: maxFlights}
}

type batchCall struct {
	ctx  context.Context
	call Call
	err  error // the batch's error
	done chan struct{}
}

// do makes one visitor's call through the batcher.
func (b *batcher) do(ctx context.Context, op Op, visitor string) (Place, error) {
	c := &batchCall{ctx: ctx, call: Call{Op: op, Visitor: visitor}, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	lead := b.inflight < b.flights
	if lead {
		b.inflight++
	}
	b.mu.Unlock()
	if lead {
		// A flight was free: c goes now, with whoever waits; the next
		// batch goes on without c.
		b.flush(b.take())
		b.handOff()
	}
	select {
	case <-c.done:
		if c.err != nil {
			return Place{}, c.err
		}
		return c.call.Place, c.call.Err
	case <-ctx.Done():
		return Place{}, fmt.Errorf("%w: %v %s: %w", ErrStoreUnavailable, op, b.zone, context.Cause(ctx))
	}
}

// take removes the next batch from the line: up to maxBatch calls whose
// callers still wait.
func (b *batcher) take() []*batchCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch []*batchCall
	n := 0
	for ; n < len(b.pending) && len(batch) < maxBatch; n++ {
		if c := b.pending[n]; c.ctx.Err() == nil {
			batch = append(batch, c)
		}
	}
	rest := b.pending[n:]
	clear(b.pending[:n])
	if len(rest) == 0 {
		b.pending = b.pending[:0]
	} else {
		b.pending = append(make([]*batchCall, 0, len(rest)), rest...)
	}
	return batch
}

// handOff makes the batches of those who came meanwhile on a goroutine of
// their own, or frees the flight.
func (b *batcher) handOff() {
	if b.done() {
		return
	}
	go func() {
		for {
			b.flush(b.take())
			if b.done() {
				return
			}
		}
	}()
}

// done frees the caller's flight if nobody waits.
func (b *batcher) done() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) > 0 {
		return false
	}
	b.inflight--
	return true
}

// flush sends one batch and hands each caller its outcome. The batch's
// context ends when every caller's has.
func (b *batcher) flush(batch []*batchCall) {
	if len(batch) == 0 {
		return
	}
	ctx := batch[0].ctx
	if len(batch) > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		var left atomic.Int64
		left.Store(int64(len(batch)))
		for _, c := range batch {
			stop := context.AfterFunc(c.ctx, func() {
				if left.Add(-1) == 0 {
					cancel()
				}
			})
			defer stop()
		}
	}
	calls := make([]Call, len(batch))
	for i, c := range batch {
		calls[i] = c.call
	}
	err := b.store.Batch(ctx, b.zone, b.clock(), calls)
	for i, c := range batch {
		c.call, c.err = calls[i], err
		close(c.done)
	}
}
