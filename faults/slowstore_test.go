package faults

import (
	"context"
	"errors"
	"net/http"
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
// round trip), while newcomers arrive at 200 a second for a second
// whatever the answers (an open loop) and the app releases a visitor 100
// times a second (Room.Release, a store call of its own, not batched). With
// the Room's bounds (a 300ms deadline, 16 calls in flight, the breaker)
// the calls fail at their deadline, then fast, and goroutines and heap
// stay flat; without them (no deadline but go-redis's 1s read timeout, no
// cap, no breaker) every request waits for the store and they pile up.
// The test measures both and checks the first, and that it holds fewer.
func TestSlowRedisBoundsPendingCalls(t *testing.T) {
	type run struct {
		sm       *sampler
		codes    map[int]int
		p50, p99 time.Duration
		busy     int64
		releases int64
	}
	measure := func(t *testing.T, opts ...waitroom.Option) run {
		p, err := faultproxy.New(sharedRedis(t))
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		s := newSale(t, openRedis(t, p.Addr()), saleZone(uniqueName("slow"), 2), opts...)
		for _, v := range s.visitors("inside", 2) {
			code, _ := v.mustGet()
			require.Equal(t, http.StatusOK, code)
		}
		p.SetLatency(400 * time.Millisecond)
		sm := startSampler()
		c := s.startArrivals(200, 200)
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
		wg.Wait()
		c.wg.Wait() // all 200 sent and answered
		sm.end()
		codes, errs := c.answered()
		assert.Zero(t, errs, "every request answered")
		_, unprotected := s.reached()
		assert.Zero(t, unprotected, "nobody without an access token reached the origin")
		p.Heal()
		return run{sm: sm, codes: codes, p50: c.percentile(50), p99: c.percentile(99), busy: busy.Load(), releases: releases.Load()}
	}

	var bounded, unbounded run
	t.Run("bounded", func(t *testing.T) {
		bounded = measure(t, waitroom.WithMaxStoreCalls(16))
		assert.Less(t, bounded.p50, 300*time.Millisecond, "answered within the deadline")
		assert.Less(t, bounded.p99, time.Second, "nobody waits for the slow store: the probe's batch and the one behind it at most")
		// The probe's batch waits its deadline, and the requests that
		// come meanwhile wait for it: 200/s for 300ms, a few goroutines
		// each (the client's, its connection's, the server's).
		assert.Less(t, bounded.sm.peak-bounded.sm.base, 800, "goroutines stay bounded")
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
		t.Logf("%s: answers %v, p50 %v, p99 %v; %d of %d releases refused as busy; %v",
			r.name, r.codes, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.busy, r.releases, r.sm)
	}
	if bounded.sm != nil && unbounded.sm != nil {
		assert.Less(t, 2*(bounded.sm.peak-bounded.sm.base), unbounded.sm.peak-unbounded.sm.base,
			"the bounds hold less than half the goroutines no bounds do")
	}
}
