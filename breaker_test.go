package waitroom

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBreaker walks a breaker through an outage, step by step at fixed
// instants: a run of failures opens it, calls fail fast during the
// cool-down, one probe goes after it, a failed probe opens it again, an
// answered one closes it.
func TestBreaker(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	const ms = time.Millisecond
	b := newBreaker(3, time.Second)

	type step struct {
		at     time.Duration
		res    callResult // recorded if the call was allowed
		ok     bool       // allowed
		probe  bool
		change breakerChange
		state  breakerState // after it
	}
	steps := []step{
		{0, callFailed, true, false, breakerSame, breakerClosed},
		{1 * ms, callFailed, true, false, breakerSame, breakerClosed},
		{2 * ms, callAnswered, true, false, breakerSame, breakerClosed}, // an answer ends the run
		{3 * ms, callFailed, true, false, breakerSame, breakerClosed},
		{4 * ms, callGaveUp, true, false, breakerSame, breakerClosed}, // neither way
		{5 * ms, callFailed, true, false, breakerSame, breakerClosed},
		{6 * ms, callFailed, true, false, breakerOpened, breakerOpen}, // three in a row
		{7 * ms, 0, false, false, breakerSame, breakerOpen},
		{1005 * ms, 0, false, false, breakerSame, breakerOpen},                   // cool-down not over
		{1006 * ms, callFailed, true, true, breakerSame, breakerOpen},            // the probe fails
		{1500 * ms, 0, false, false, breakerSame, breakerOpen},                   // another cool-down
		{2006 * ms, callGaveUp, true, true, breakerSame, breakerOpen},            // its caller gives up
		{2007 * ms, callAnswered, true, true, breakerClosedAgain, breakerClosed}, // the next call probes at once
		{2008 * ms, callFailed, true, false, breakerSame, breakerClosed},         // a new run starts from zero
	}
	for i, s := range steps {
		ok, probe := b.allow(at(s.at), false)
		require.Equal(t, s.ok, ok, "step %d: allowed", i)
		assert.Equal(t, s.probe, probe, "step %d: probe", i)
		if ok {
			change, down := b.record(probe, s.res, at(s.at))
			assert.Equal(t, s.change, change, "step %d: change", i)
			if change == breakerClosedAgain {
				assert.Equal(t, 2001*ms, down, "open from the first opening to the answered probe")
			}
		}
		assert.Equal(t, s.state, b.current(), "step %d: state", i)
	}
}

// While the probe is in flight every other call fails fast, and the
// results of calls that were in flight when the breaker opened change
// nothing.
func TestBreakerOneProbeAtATime(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	b := newBreaker(1, time.Second)
	ok, _ := b.allow(t0, false)
	require.True(t, ok)
	late, _ := b.allow(t0, false) // in flight as the breaker opens
	require.True(t, late)
	change, _ := b.record(false, callFailed, t0)
	require.Equal(t, breakerOpened, change)

	t1 := t0.Add(time.Second)
	ok, probe := b.allow(t1, false)
	require.True(t, ok)
	require.True(t, probe)
	for range 3 {
		ok, _ := b.allow(t1, true)
		assert.False(t, ok, "one probe at a time")
	}
	change, _ = b.record(false, callAnswered, t1)
	assert.Equal(t, breakerSame, change, "a call from before the opening does not close it")
	assert.Equal(t, breakerProbing, b.current())
	change, _ = b.record(true, callAnswered, t1)
	assert.Equal(t, breakerClosedAgain, change)
}

// A late call (a batch) probes only after twice the cool-down, so that
// an exchange step or a claim probes first; after that it may.
func TestBreakerLateCallsProbeLast(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	b := newBreaker(1, time.Second)
	b.allow(t0, false)
	b.record(false, callFailed, t0)
	ok, _ := b.allow(t0.Add(time.Second), true)
	assert.False(t, ok, "a batch does not probe at the cool-down")
	ok, _ = b.allow(t0.Add(2*time.Second-time.Millisecond), true)
	assert.False(t, ok)
	ok, probe := b.allow(t0.Add(2*time.Second), true)
	assert.True(t, ok, "nobody else probed: the batch does")
	assert.True(t, probe)
	change, _ := b.record(true, callFailed, t0.Add(2*time.Second))
	require.Equal(t, breakerSame, change)
	ok, probe = b.allow(t0.Add(3*time.Second), false)
	assert.True(t, ok && probe, "an exchange step probes a cool-down after the failed probe")
}
