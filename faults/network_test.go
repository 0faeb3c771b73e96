package faults

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/faultproxy"
)

// networkSale is a sale over the shared test Redis reached through a
// fault proxy, with a store deadline of 500ms and two visitors inside (the zone full) and a crowd of
// newcomers to come.
func networkSale(t *testing.T, opts ...waitroom.Option) (*sale, *faultproxy.Proxy, []*visitor) {
	t.Helper()
	p, err := faultproxy.New(sharedRedis(t))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	opts = append([]waitroom.Option{waitroom.WithStoreTimeout(500 * time.Millisecond)}, opts...)
	s := newSale(t, openRedis(t, p.Addr()), saleZone(uniqueName("net"), 2), opts...)
	inside := s.visitors("inside", 2)
	for _, v := range inside {
		code, _ := v.mustGet()
		require.Equal(t, http.StatusOK, code, "%s goes straight in", v.name)
	}
	return s, p, inside
}

// breakerOpened and breakerClosed report whether the Room has logged its
// breaker's opening, or its closing, count times or more.
func breakerOpened(s *sale, count int) bool {
	return strings.Count(s.logs.String(), "circuit breaker open,") >= count
}

func breakerClosed(s *sale, count int) bool {
	return strings.Count(s.logs.String(), "circuit breaker closed") >= count
}

// servedAgain polls until a newcomer is queued again (429), and returns
// how long that took.
func servedAgain(t *testing.T, s *sale) time.Duration {
	t.Helper()
	v := s.visitor("again")
	return waitFor(t, 15*time.Second, func() bool {
		code, _, err := v.get()
		return err == nil && code == http.StatusTooManyRequests
	}, "a newcomer is queued again")
}

// checkFailClosed checks what fail-closed promises: nobody without an
// access token reached the origin, and the visitors inside still come in.
func checkFailClosed(t *testing.T, s *sale, inside []*visitor) {
	t.Helper()
	_, unprotected := s.reached()
	assert.Zero(t, unprotected, "nobody without an access token reached the origin")
	for _, v := range inside {
		code, _ := v.mustGet()
		assert.Equal(t, http.StatusOK, code, "%s's access token works", v.name)
	}
	for _, who := range s.reachedBy() {
		assert.Contains(t, ids(inside), who, "only the visitors inside reached the origin")
	}
}

// TestNetworkFaults puts the network faults of internal/faultproxy
// between a running Room and the shared test Redis while a crowd of
// newcomers arrives (8 at a time, each asking as soon as the one before
// was answered), and checks that fail-closed holds throughout, that the
// breaker opens when calls fail and probes back once the network heals,
// and that goroutines stay bounded.
func TestNetworkFaults(t *testing.T) {
	// Latency under the store deadline (500ms) slows the sale and breaks
	// nothing; latency over it fails every call at its deadline, the
	// breaker opens and newcomers get 503 at once.
	t.Run("latency", func(t *testing.T) {
		s, p, inside := networkSale(t)
		p.SetLatency(20 * time.Millisecond) // a 40ms round trip
		c := s.startCrowd(8)
		waitFor(t, 10*time.Second, func() bool { codes, _ := c.answered(); return codes[http.StatusTooManyRequests] >= 40 },
			"the crowd queues through a slow network")
		c.end()
		slow, _ := c.answered()
		slowP50 := c.percentile(50)
		assert.False(t, breakerOpened(s, 1), "a slow network under the deadline opens nothing")

		sm := startSampler()
		p.SetLatency(400 * time.Millisecond) // an 800ms round trip, past the deadline
		c = s.startCrowd(8)
		opened := waitFor(t, 10*time.Second, func() bool { return breakerOpened(s, 1) }, "the breaker opens")
		c.end()
		c = s.startCrowd(8)
		waitFor(t, 10*time.Second, func() bool { codes, _ := c.answered(); return codes[http.StatusServiceUnavailable] >= 100 },
			"newcomers get 503 while the breaker is open")
		c.end()
		sm.end()
		fast, errs := c.answered()
		fastP50, fastP99 := c.percentile(50), c.percentile(99)
		assert.Zero(t, errs)
		// Only the probe (one call each cool-down) waits for its
		// deadline, with the visitors batched with it and those behind.
		assert.Less(t, fastP50, 100*time.Millisecond, "with the breaker open a 503 does not wait for the deadline")
		assert.Less(t, fastP99, 1500*time.Millisecond, "the probe's batch, and the one behind it, at most")
		checkFailClosed(t, s, inside)

		p.Heal()
		back := servedAgain(t, s)
		waitFor(t, 5*time.Second, func() bool { return breakerClosed(s, 1) }, "the probe closes the breaker")
		t.Logf("40ms round trip: %v, p50 %v; 800ms round trip: breaker open after %v, then %v, p50 %v, p99 %v; queued again %v after healing; %v",
			slow, slowP50.Round(time.Millisecond), opened.Round(time.Millisecond), fast, fastP50.Round(time.Microsecond),
			fastP99.Round(time.Millisecond), back.Round(time.Millisecond), sm)
		assert.Less(t, sm.peak-sm.base, 500, "goroutines stay bounded")
	})

	// Connections reset under the crowd, every 20ms for a second:
	// go-redis retries a command whose connection was reset on a new one
	// (MaxRetries 3), which every script of the store bears, since each
	// is idempotent per visitor (or, for Exchange, just another step).
	// Were a reply lost for good after Redis ran the script, the place it
	// gave would be held by nobody (the visitor got 503 and no cookie)
	// until skipped as abandoned: the test counts those places.
	t.Run("drops", func(t *testing.T) {
		s, p, inside := networkSale(t)
		sm := startSampler()
		c := s.startCrowd(8)
		drops := 0
		tick := time.NewTicker(20 * time.Millisecond)
		for range 50 {
			<-tick.C
			drops += p.Drop()
		}
		tick.Stop()
		c.end()
		sm.end()
		codes, errs := c.answered()
		assert.Zero(t, errs)
		checkFailClosed(t, s, inside)
		back := servedAgain(t, s)

		// Every visitor told it has a place holds one, and one only.
		st, err := s.room.Stats(t.Context(), s.zone)
		require.NoError(t, err)
		seqs := make(map[uint64]bool)
		for _, pl := range places(t, s.room.Store(), s, c.queued) {
			assert.False(t, seqs[pl.Seq], "one place per visitor")
			seqs[pl.Seq] = true
		}
		held := int64(len(c.queued)) + 1 // and the newcomer servedAgain queued
		ghosts := st.Waiting - held
		assert.GreaterOrEqual(t, ghosts, int64(0))
		t.Logf("%d connections reset; answers %v; %d places held by nobody (a lost reply); queued again %v after; breaker opened %d times; %v",
			drops, codes, ghosts, back.Round(time.Millisecond), strings.Count(s.logs.String(), "circuit breaker open,"), sm)
		assert.Less(t, sm.peak-sm.base, 500, "goroutines stay bounded")
	})

	// Half-open: every connection stays open and goes silent, as when
	// Redis's host vanishes without a word. Only the deadlines notice:
	// calls end at 500ms, the breaker opens, and once the network heals
	// the probe finds Redis again.
	t.Run("half-open", func(t *testing.T) {
		s, p, inside := networkSale(t)
		sm := startSampler()
		p.SetHalfOpen(true)
		c := s.startCrowd(8)
		opened := waitFor(t, 10*time.Second, func() bool { return breakerOpened(s, 1) }, "the breaker opens")
		waitFor(t, 10*time.Second, func() bool { codes, _ := c.answered(); return codes[http.StatusServiceUnavailable] >= 100 },
			"newcomers get 503")
		c.end()
		sm.end()
		codes, errs := c.answered()
		assert.Zero(t, errs)
		checkFailClosed(t, s, inside)
		st := p.Stats()

		p.SetHalfOpen(false)
		back := servedAgain(t, s)
		waitFor(t, 5*time.Second, func() bool { return breakerClosed(s, 1) }, "the probe closes the breaker")
		t.Logf("breaker open %v after the network went silent; answers %v; %d connections open, %d bytes swallowed; queued again %v after healing; %v",
			opened.Round(time.Millisecond), codes, st.Open, st.Swallowed, back.Round(time.Millisecond), sm)
		assert.Less(t, sm.peak-sm.base, 500, "goroutines stay bounded")
	})
}
