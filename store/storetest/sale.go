package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testSaleStart: before OpensAt everyone queues and nobody is admitted; at
// OpensAt the first in line go in, at most RateBurst at once (no credit
// banked while closed).
func testSaleStart(t *testing.T, s waitroom.Store) {
	opens := at(time.Hour)
	z := newZone(t, s, "open", func(z *waitroom.ZoneState) {
		z.Capacity = 100
		z.AdmitPerSecond = 20 // a burst of 5
		z.AbandonAfter = 2 * time.Hour
		z.OpensAt = opens
	})
	burst := int(z.RateBurst())
	ids := registerN(t, s, z.Name, "v", 30, T0)

	_, ok := enter(t, s, z.Name, "direct", at(30*time.Minute))
	assert.False(t, ok, "before OpensAt nobody enters")
	for _, now := range []time.Time{T0, at(30 * time.Minute), opens.Add(-time.Millisecond)} {
		x := exchange(t, s, z.Name, now, 100)
		assert.Empty(t, x.Admitted, "before OpensAt Exchange admits nobody (at %v)", now)
	}
	assert.Zero(t, stats(t, s, z.Name, opens).AdmittedTotal, "nobody admitted before the sale")

	x := exchange(t, s, z.Name, opens, 100)
	n := len(x.Admitted)
	assert.GreaterOrEqual(t, n, 1, "at OpensAt the first in line go in")
	assert.LessOrEqual(t, n, burst, "at OpensAt at most RateBurst (%d) go in: an hour closed banks no credit", burst)
	assert.Equal(t, ids[:n], admitted(x), "the first in line go in first")

	x2 := exchange(t, s, z.Name, opens.Add(time.Second), 100)
	total := n + len(x2.Admitted)
	assert.LessOrEqual(t, total, burst+20, "one second after opening: at most RateBurst + AdmitPerSecond admissions")
	assert.Equal(t, ids[n:total], admitted(x2), "admissions continue in queue order")
}

// testSaleEnd: from ClosesAt nobody is admitted.
func testSaleEnd(t *testing.T, s waitroom.Store) {
	closes := at(time.Hour)
	z := newZone(t, s, "close", func(z *waitroom.ZoneState) { z.Capacity = 10; z.ClosesAt = closes })
	registerN(t, s, z.Name, "v", 5, closes.Add(-time.Minute))
	x := exchange(t, s, z.Name, closes, 10)
	assert.Empty(t, x.Admitted, "at ClosesAt Exchange admits nobody")
	x = exchange(t, s, z.Name, closes.Add(time.Minute), 10)
	assert.Empty(t, x.Admitted, "after ClosesAt Exchange admits nobody")
	_, ok := enter(t, s, z.Name, "direct", closes)
	assert.False(t, ok, "at ClosesAt nobody enters")
	assert.Zero(t, stats(t, s, z.Name, closes.Add(time.Minute)).AdmittedTotal, "nobody admitted after the sale")
}

// testAdmissionRate: over a simulated minute with the exchanger stepping
// every 100ms, a long line and slots freed at once, admissions stay within
// AdmitPerSecond*w + RateBurst over every window of w seconds, and reach at
// least 95% of the bound over the minute.
func testAdmissionRate(t *testing.T, s waitroom.Store) {
	const rate = 10.0
	z := newZone(t, s, "rate", func(z *waitroom.ZoneState) {
		z.Capacity = 20
		z.AdmitPerSecond = rate
		z.AbandonAfter = time.Hour
	})
	burst := z.RateBurst()
	registerN(t, s, z.Name, "v", 700, T0)

	const step = 100 * time.Millisecond
	const steps = 600 // 0s .. 60s inclusive: 601 exchange steps
	counts := make([]int, steps+1)
	total := 0
	for k := 0; k <= steps; k++ {
		now := at(time.Duration(k) * step)
		x := exchange(t, s, z.Name, now, 1000)
		counts[k] = len(x.Admitted)
		total += counts[k]
		for _, a := range x.Admitted {
			release(t, s, z.Name, a.Visitor, now)
		}
	}
	bound := rate*60 + burst
	assert.LessOrEqual(t, float64(total), bound, "admissions over 60s must not exceed AdmitPerSecond*60 + RateBurst")
	assert.GreaterOrEqual(t, float64(total), 0.95*bound, "with a long line and free slots, admissions over 60s must reach 95%% of AdmitPerSecond*60 + RateBurst")
	for _, w := range []int{0, 1, 5, 10, 50} { // windows of w steps: w*100ms
		for k := 0; k+w <= steps; k++ {
			n := 0
			for _, c := range counts[k : k+w+1] {
				n += c
			}
			limit := rate*float64(w)*step.Seconds() + burst
			if float64(n) > limit+1e-9 {
				t.Errorf("admissions between %v and %v: %d, more than AdmitPerSecond*w + RateBurst = %.1f",
					time.Duration(k)*step, time.Duration(k+w)*step, n, limit)
				break
			}
		}
	}
	assert.Equal(t, uint64(total), stats(t, s, z.Name, at(time.Minute)).AdmittedTotal, "AdmittedTotal counts every admission")
}

// testRateBurstAfterPause: credit earned while nothing could be admitted
// is capped at RateBurst: after a pause, free slots are filled at most
// RateBurst at once.
func testRateBurstAfterPause(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "pause", func(z *waitroom.ZoneState) {
		z.Capacity = 20
		z.AdmitPerSecond = 20 // a burst of 5
		z.AbandonAfter = time.Hour
	})
	burst := int(z.RateBurst())
	ids := registerN(t, s, z.Name, "v", 60, T0)
	var in []string
	for k := 0; len(in) < z.Capacity && k < 40; k++ {
		x := exchange(t, s, z.Name, at(time.Duration(k)*250*time.Millisecond), 100)
		in = append(in, admitted(x)...)
	}
	require.Equal(t, ids[:z.Capacity], in, "the bucket fills in queue order")
	// Full for a long pause: the rate keeps earning, but nothing is admitted.
	pause := at(time.Minute)
	for _, v := range in {
		release(t, s, z.Name, v, pause)
	}
	x := exchange(t, s, z.Name, pause, 100)
	assert.LessOrEqual(t, len(x.Admitted), burst, "after a pause at most RateBurst (%d) are admitted at once, whatever the free slots", burst)
	assert.NotEmpty(t, x.Admitted, "free slots, a line and a rested rate: somebody is admitted")
}

// testSettingsChange: Exchange and Enter follow the zone's current
// settings.
func testSettingsChange(t *testing.T, s waitroom.Store) {
	st := Zone(ZoneName("chg"))
	st.Capacity = 3
	putZone(t, s, st, T0)
	ids := registerN(t, s, st.Name, "v", 8, T0)
	x := exchange(t, s, st.Name, at(time.Second), 10)
	require.Equal(t, ids[:3], admitted(x))

	st.Capacity = 1
	putZone(t, s, st, at(2*time.Second))
	release(t, s, st.Name, ids[0], at(3*time.Second))
	x = exchange(t, s, st.Name, at(4*time.Second), 10)
	assert.Empty(t, x.Admitted, "capacity lowered to 1 with 2 slots held: nobody admitted")
	assert.Equal(t, 2, stats(t, s, st.Name, at(4*time.Second)).Inside, "lowering capacity evicts nobody")

	st.Capacity = 5
	putZone(t, s, st, at(5*time.Second))
	x = exchange(t, s, st.Name, at(6*time.Second), 10)
	assert.Equal(t, ids[3:6], admitted(x), "capacity raised to 5 with 2 held: three more admitted")
}

// testStats: Stats counts waiting and inside visitors, admissions, the head
// of the line and the feed.
func testStats(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "stats", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	st := stats(t, s, z.Name, T0)
	assert.Equal(t, waitroom.ZoneStats{FeedSeq: 1}, st, "a new zone: nothing but its EventZone")

	registerN(t, s, z.Name, "v", 5, T0)
	st = stats(t, s, z.Name, at(time.Second))
	assert.Equal(t, int64(5), st.Waiting, "five waiting")
	assert.Equal(t, uint64(1), st.HeadSeq, "the head is Seq 1")
	assert.Equal(t, 0, st.Inside)

	exchange(t, s, z.Name, at(2*time.Second), 10)
	claim(t, s, z.Name, "v-1", at(3*time.Second))
	release(t, s, z.Name, "v-3", at(4*time.Second))
	st = stats(t, s, z.Name, at(5*time.Second))
	assert.Equal(t, int64(2), st.Waiting, "two admitted, one released: two waiting")
	assert.Equal(t, 2, st.Inside, "one admitted and one inside hold slots")
	assert.Equal(t, uint64(2), st.AdmittedTotal, "two admissions")
	assert.Equal(t, uint64(4), st.HeadSeq, "v-3 released, the head is v-4 (Seq 4)")
	assert.Equal(t, uint64(5), st.FeedSeq, "zone, admitted x2, claimed, released: FeedSeq 5")
	assert.True(t, st.LastAdmit.Equal(at(2*time.Second)), "LastAdmit is the last admission, got %v", st.LastAdmit)

	release(t, s, z.Name, "v-4", at(6*time.Second))
	release(t, s, z.Name, "v-5", at(6*time.Second))
	st = stats(t, s, z.Name, at(7*time.Second))
	assert.Equal(t, int64(0), st.Waiting, "nobody waits")
	assert.Equal(t, uint64(0), st.HeadSeq, "empty line: HeadSeq 0")
}

// testConcurrentRegister: visitors registering at once, each many times,
// get one place each with gap-free Seqs.
func testConcurrentRegister(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "creg", nil)
	const workers, visitors = 16, 20
	inParallel(t, workers, "concurrent Register", func(w int) error {
		for i := range visitors {
			// Every worker registers every visitor, starting at a different one.
			v := fmt.Sprintf("v-%d", (i+w)%visitors)
			if _, err := s.Register(t.Context(), z.Name, v, at(time.Duration(i)*time.Millisecond)); err != nil {
				return err
			}
		}
		return nil
	})
	onePlaceEach(t, s, z.Name, visitors)
}

// inParallel runs work(0) .. work(workers-1) at once and fails the test
// with the first error any returns.
func inParallel(t *testing.T, workers int, what string, work func(w int) error) {
	errs := make(chan error, workers)
	for w := range workers {
		go func() { errs <- work(w) }()
	}
	for range workers {
		require.NoError(t, <-errs, what)
	}
}

// onePlaceEach checks that visitors v-0 .. v-(n-1), registered many
// times over at once, hold one place each, numbered 1..n.
func onePlaceEach(t *testing.T, s waitroom.Store, zone string, n int) {
	t.Helper()
	seen := make(map[uint64]string)
	for i := range n {
		v := fmt.Sprintf("v-%d", i)
		p := position(t, s, zone, v, at(time.Second))
		require.NotZero(t, p.Seq)
		if other, dup := seen[p.Seq]; dup {
			t.Fatalf("visitors %s and %s share Seq %d", other, v, p.Seq)
		}
		seen[p.Seq] = v
		assert.LessOrEqual(t, p.Seq, uint64(n), "concurrent repeat registrations must not consume Seqs: %s has Seq %d", v, p.Seq)
	}
	assert.Equal(t, int64(n), stats(t, s, zone, at(time.Second)).Waiting, "one place per visitor")
}

// testRateNotEarnedBeforeOpening: the rate earns nothing for time before
// OpensAt. A sale that has spent its credit and is moved to open later
// starts from what it had, not from a rested burst.
func testRateNotEarnedBeforeOpening(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "reopen", func(z *waitroom.ZoneState) {
		z.Capacity = 100
		z.AdmitPerSecond = 4 // a burst of 1, one admission per 250ms
		z.AbandonAfter = time.Hour
	})
	ids := registerN(t, s, z.Name, "v", 5, T0)
	require.Equal(t, ids[:1], admitted(exchange(t, s, z.Name, T0, 10)), "the first admission spends the burst")

	z.OpensAt = at(10 * time.Second)
	putZone(t, s, z, at(time.Millisecond))
	assert.Empty(t, admitted(exchange(t, s, z.Name, at(5*time.Second), 10)), "nobody before the opening")
	assert.Empty(t, admitted(exchange(t, s, z.Name, at(10*time.Second), 10)),
		"at the opening the 10s before it have earned nothing")
	assert.Equal(t, ids[1:2], admitted(exchange(t, s, z.Name, at(10*time.Second+250*time.Millisecond), 10)),
		"250ms after the opening earn one admission")
	assert.Empty(t, admitted(exchange(t, s, z.Name, at(10*time.Second+260*time.Millisecond), 10)), "and no more")
}

// testRateFraction: a rate under one per second admits one visitor every
// 1/rate seconds, never sooner, and rests to a burst of 1.
func testRateFraction(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "slow", func(z *waitroom.ZoneState) {
		z.Capacity = 100
		z.AdmitPerSecond = 0.5
		z.AbandonAfter = time.Hour
	})
	ids := registerN(t, s, z.Name, "v", 5, T0)
	require.Equal(t, 1.0, z.RateBurst(), "a rate under 4 per second has a burst of 1")
	var got []string
	for _, d := range []time.Duration{0, 1999 * time.Millisecond, 2 * time.Second, 3 * time.Second, time.Minute} {
		got = append(got, admitted(exchange(t, s, z.Name, at(d), 10))...)
		switch d {
		case 1999 * time.Millisecond:
			assert.Equal(t, ids[:1], got, "1.999s at 0.5/s earn nothing more")
		case 3 * time.Second:
			assert.Equal(t, ids[:2], got, "2s at 0.5/s earn one admission, 1s more nothing")
		}
	}
	assert.Equal(t, ids[:3], got, "a minute's rest earns one admission, the burst, not 28")
}
