package faults

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/faultproxy"
)

// TestSlowRedisBoundsPendingCalls: Redis answers, but slowly (the fault
// proxy adds 400ms each way in front of the shared test Redis: an 800ms
// round trip), while newcomers arrive at 200 a second for a second and a
// half whatever the answers (an open loop) and the app releases a visitor 100
// times a second (Room.Release, a store call of its own, not batched). With
// the Room's bounds (a 500ms deadline, 16 calls in flight, the breaker)
// the calls fail at their deadline, then fast, and goroutines and heap
// stay flat; without them (no deadline but go-redis's 1s read timeout, no
// cap, no breaker) every request waits for the store and they pile up.
// The test measures both and checks the first, and that it holds fewer.
func TestSlowRedisBoundsPendingCalls(t *testing.T) {
	type run struct {
		sm       *sampler
		atEnd    int   // goroutines when the last newcomer arrived
		waiting  int64 // newcomers waiting for an answer then
		codes    map[int]int
		p50, p99 time.Duration // of the second half's arrivals
		busy     int64
		releases int64
	}
	measure := func(t *testing.T, opts ...waitroom.Option) run {
		p, err := faultproxy.New(sharedRedis(t))
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		opts = append([]waitroom.Option{waitroom.WithStoreTimeout(500 * time.Millisecond)}, opts...)
		s := newSale(t, openRedis(t, p.Addr()), saleZone(uniqueName("slow"), 2), opts...)
		for _, v := range s.visitors("inside", 2) {
			code, _ := v.mustGet()
			require.Equal(t, http.StatusOK, code)
		}
		p.SetLatency(400 * time.Millisecond)
		sm := startSampler()
		start := time.Now()
		c := s.startArrivals(200, 300)
		var busy, releases atomic.Int64
		var wg sync.WaitGroup
		release := time.NewTicker(10 * time.Millisecond)
		for range 100 {
			<-release.C
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := s.room.Release(ctx, s.zone, "nobody")
				releases.Add(1)
				if errors.Is(err, waitroom.ErrStoreBusy) {
					busy.Add(1)
				}
			})
		}
		release.Stop()
		<-c.sent
		atEnd, waiting := runtime.NumGoroutine(), c.inflight.Load()
		wg.Wait()
		c.wg.Wait() // all 300 answered
		sm.end()
		codes, errs := c.answered()
		assert.Zero(t, errs, "every request answered")
		_, unprotected := s.reached()
		assert.Zero(t, unprotected, "nobody without an access token reached the origin")
		p.Heal()
		half := start.Add(750 * time.Millisecond)
		return run{sm: sm, atEnd: atEnd, waiting: waiting, codes: codes, p50: c.percentileSince(50, half), p99: c.percentileSince(99, half),
			busy: busy.Load(), releases: releases.Load()}
	}

	var bounded, unbounded run
	t.Run("bounded", func(t *testing.T) {
		bounded = measure(t, waitroom.WithMaxStoreCalls(16))
		// Until the breaker opens (three calls past their 500ms
		// deadline) the newcomers wait for their batch, and those that
		// came meanwhile for the next: a peak of goroutines (a few per
		// request: the client's, its connection's, the server's) that
		// the deadline bounds. Once it is open they are answered at once.
		assert.Less(t, bounded.p50, 100*time.Millisecond, "answered at once with the breaker open")
		assert.Less(t, bounded.p99, 1500*time.Millisecond, "nobody waits past the deadline of two batches")
		assert.Less(t, bounded.sm.peak-bounded.sm.base, 2000, "goroutines stay bounded")
		assert.Less(t, bounded.waiting, int64(50), "no pile-up: only the requests of the last moments wait")
		assert.Less(t, bounded.sm.peakHeap-bounded.sm.baseHeap, uint64(64<<20), "heap stays bounded")
	})
	t.Run("unbounded", func(t *testing.T) {
		unbounded = measure(t, waitroom.WithStoreTimeout(time.Hour), waitroom.WithBreaker(0, 0),
			waitroom.WithMaxStoreCalls(1<<30))
	})
	for _, r := range []struct {
		name string
		run
	}{{"with the bounds", bounded}, {"without", unbounded}} {
		if r.sm == nil {
			continue
		}
		t.Logf("%s: answers %v; second half's p50 %v, p99 %v; %d of %d releases refused as busy; as the last newcomer came %d newcomers waited and %d goroutines ran; %v",
			r.name, r.codes, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.busy, r.releases, r.waiting, r.atEnd, r.sm)
	}
	if bounded.sm != nil && unbounded.sm != nil {
		assert.Less(t, 2*(bounded.atEnd-bounded.sm.base), unbounded.atEnd-unbounded.sm.base,
			"the bounds hold less than half the goroutines no bounds do")
		assert.Less(t, 4*bounded.waiting, unbounded.waiting, "and a small part of the waiting requests")
	}
}
