package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testConcurrentCapacity: 64 goroutines mix Enter, Register, Exchange,
// Claim, Release and Stats on one zone. The slots held never exceed the
// capacity: not as counted from the results, not in any Stats, not at any
// point of the feed replayed in order; and the final counts agree.
func testConcurrentCapacity(t *testing.T, s waitroom.Store) {
	const (
		workers  = 64
		ops      = 60
		capacity = 5
	)
	z := newZone(t, s, "race", func(z *waitroom.ZoneState) {
		z.Capacity = capacity
		z.AdmitPerSecond = 1000
	})
	// Every operation takes the next millisecond: time moves forward
	// (roughly; callers' clocks are never perfectly ordered), and stays
	// well within the claim window, the session and AbandonAfter, so no
	// slot leaks and every slot is accounted for by results.
	var clock atomic.Int64
	now := func() time.Time { return at(time.Duration(clock.Add(1)) * time.Millisecond) }

	var held holders
	var entered, admittedN, releasedN atomic.Int64
	var maxStats atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			var mine []string // visitors this worker registered
			fail := func(op string, err error) bool {
				if err != nil {
					errs <- fmt.Errorf("worker %d: %s: %w", w, op, err)
					return true
				}
				return false
			}
			for i := range ops {
				ctx := t.Context()
				switch r := rng.IntN(20); {
				case r < 3: // direct entry of a newcomer
					v := fmt.Sprintf("e-%d-%d", w, i)
					_, ok, err := s.Enter(ctx, z.Name, v, now())
					if fail("Enter", err) {
						return
					}
					if ok {
						entered.Add(1)
						if n := held.add(v); n > capacity {
							errs <- fmt.Errorf("worker %d: Enter(%s) succeeded with %d slots already held: capacity %d exceeded", w, v, n-1, capacity)
							return
						}
					}
				case r < 8: // a newcomer queues
					v := fmt.Sprintf("q-%d-%d", w, i)
					if _, err := s.Register(ctx, z.Name, v, now()); fail("Register", err) {
						return
					}
					mine = append(mine, v)
				case r < 13: // the exchanger runs
					x, err := s.Exchange(ctx, z.Name, now(), 1+rng.IntN(4))
					if fail("Exchange", err) {
						return
					}
					for _, a := range x.Admitted {
						admittedN.Add(1)
						if n := held.add(a.Visitor); n > capacity {
							errs <- fmt.Errorf("worker %d: Exchange admitted %s with %d slots already held: capacity %d exceeded", w, a.Visitor, n-1, capacity)
							return
						}
					}
				case r < 15: // a slot holder claims
					v, ok := held.any(rng.IntN)
					if !ok {
						continue
					}
					// It may have been released meanwhile: ErrNotAdmitted.
					if _, err := s.Claim(ctx, z.Name, v, now()); err != nil &&
						!isAny(err, waitroom.ErrNotAdmitted, waitroom.ErrClaimExpired) {
						fail("Claim", err)
						return
					}
				case r < 18: // a slot holder leaves
					// Forget the slot before the store frees it, so the
					// count from results never runs ahead of the store.
					v, ok := held.take(rng.IntN)
					if !ok {
						continue
					}
					ok, err := s.Release(ctx, z.Name, v, now())
					if fail("Release", err) {
						return
					}
					if ok {
						releasedN.Add(1)
					}
				case r < 19: // one of mine gives up waiting (or its slot)
					if len(mine) == 0 {
						continue
					}
					k := rng.IntN(len(mine))
					v := mine[k]
					mine = append(mine[:k], mine[k+1:]...)
					held.remove(v)
					if _, err := s.Release(ctx, z.Name, v, now()); fail("Release", err) {
						return
					}
				default: // someone watches
					st, err := s.Stats(ctx, z.Name, now())
					if fail("Stats", err) {
						return
					}
					for {
						m := maxStats.Load()
						if int64(st.Inside) <= m || maxStats.CompareAndSwap(m, int64(st.Inside)) {
							break
						}
					}
				}
			}
			errs <- nil
		})
	}
	wg.Wait()
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	require.False(t, t.Failed(), "concurrent operations failed")
	assert.LessOrEqual(t, held.max, capacity, "slots held, counted from results, exceeded the capacity")
	assert.LessOrEqual(t, int(maxStats.Load()), capacity, "Stats.Inside exceeded the capacity")

	end := now()
	st := stats(t, s, z.Name, end)
	assert.LessOrEqual(t, st.Inside, capacity, "final Stats.Inside exceeds the capacity")
	assert.Equal(t, held.len(), st.Inside, "final Stats.Inside must equal the slots held according to results")
	assert.Equal(t, uint64(entered.Load()+admittedN.Load()), st.AdmittedTotal,
		"AdmittedTotal must count every successful Enter and every admission")

	// Replay the feed: it is the order in which the store applied the
	// changes, so the slots it shows held must never exceed the capacity.
	evs := feedAll(t, s, z.Name)
	require.NotEmpty(t, evs)
	occupancy, peak := 0, 0
	tokens := make(map[string]bool)
	for i, ev := range evs {
		require.Equal(t, uint64(i+1), ev.Seq, "the feed must be gap-free under concurrency")
		switch {
		case ev.Kind == waitroom.EventAdmitted || ev.Kind == waitroom.EventEntered:
			require.False(t, tokens[ev.TokenID], "event %d: token id %q issued twice", ev.Seq, ev.TokenID)
			tokens[ev.TokenID] = true
			occupancy++
		case ev.FreesSlot():
			occupancy--
		}
		peak = max(peak, occupancy)
		require.LessOrEqual(t, occupancy, capacity, "feed replay: event %d (%v %s) makes %d slots held, capacity %d",
			ev.Seq, ev.Kind, ev.Visitor, occupancy, capacity)
	}
	assert.Equal(t, st.Inside, occupancy, "feed replay must end with Stats.Inside slots held")
	assert.Equal(t, uint64(len(evs)), st.FeedSeq, "Stats.FeedSeq is the latest event")
	t.Logf("%d entered, %d admitted, %d released, peak %d of %d slots, %d events",
		entered.Load(), admittedN.Load(), releasedN.Load(), peak, capacity, len(evs))
}

func isAny(err error, targets ...error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
