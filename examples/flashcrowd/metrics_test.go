package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func intLess(a, b int) bool { return a < b }

func TestCountInversions(t *testing.T) {
	for _, tc := range []struct {
		xs   []int
		want int64
	}{
		{nil, 0},
		{[]int{7}, 0},
		{[]int{1, 2, 3, 4}, 0},
		{[]int{2, 1, 3, 4}, 1},
		{[]int{2, 3, 1}, 2},
		{[]int{4, 3, 2, 1}, 6},
		{[]int{1, 1, 1}, 0}, // ties are no inversion
		{[]int{3, 1, 2, 5, 4}, 3},
	} {
		xs := append([]int(nil), tc.xs...)
		assert.Equal(t, tc.want, countInversions(xs, intLess), "%v", tc.xs)
		assert.Equal(t, tc.xs, xs, "input left unchanged")
	}
}

func TestCountInversionsMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 60 {
		xs := make([]int, n)
		for i := range xs {
			xs[i] = r.IntN(20)
		}
		var want int64
		for i := range xs {
			for j := i + 1; j < len(xs); j++ {
				if xs[j] < xs[i] {
					want++
				}
			}
		}
		require.Equal(t, want, countInversions(xs, intLess), "%v", xs)
	}
}

func TestKendallTau(t *testing.T) {
	assert.Equal(t, 1.0, kendallTau(0, 0))
	assert.Equal(t, 1.0, kendallTau(0, 1))
	assert.Equal(t, 1.0, kendallTau(0, 10))
	assert.Equal(t, -1.0, kendallTau(6, 4)) // 4 items reversed: all 6 pairs discordant
	assert.InDelta(t, 1-2.0/6, kendallTau(1, 4), 1e-12)
}

func TestCompareOrders(t *testing.T) {
	// Queued visitors 1, 2, 3 let in in order; a direct entrant came in
	// after 3 had been let in (key 3, feed position 9), then 4.
	fair := []arrivalKey{{1, 0}, {2, 0}, {3, 0}, {3, 9}, {4, 0}}
	assert.Equal(t, orderStats{Inversions: 0, KendallTau: 1}, compareOrders(fair))

	// 2 let in before 1, and 4 before the direct entrant.
	unfair := []arrivalKey{{2, 0}, {1, 0}, {3, 0}, {4, 0}, {3, 9}}
	got := compareOrders(unfair)
	assert.Equal(t, int64(2), got.Inversions)
	assert.InDelta(t, 1-2*2.0/10, got.KendallTau, 1e-12)

	// Two direct entrants after the same queue number keep feed order.
	assert.Equal(t, int64(1), compareOrders([]arrivalKey{{5, 12}, {5, 11}}).Inversions)
}

func TestLineJumps(t *testing.T) {
	// a is answered at 10ms, before b sends at 20ms; c overlaps both.
	a := visit{Sent: at(0), Answered: at(10), Admitted: 0}
	b := visit{Sent: at(20), Answered: at(25), Admitted: 1}
	c := visit{Sent: at(5), Answered: at(22), Admitted: 2}
	assert.Equal(t, int64(0), lineJumps([]visit{a, b, c}), "b is after a; c has no order with either")

	// b goes in before a although a was in line first: one jump.
	a.Admitted, b.Admitted = 1, 0
	assert.Equal(t, int64(1), lineJumps([]visit{a, b, c}))

	// Now c is answered at 15, before b sent at 20: b let in before c is
	// a jump too.
	c.Answered = at(15)
	a.Admitted, b.Admitted, c.Admitted = 2, 0, 1
	assert.Equal(t, int64(2), lineJumps([]visit{a, b, c}))

	assert.Equal(t, int64(0), lineJumps(nil))
}

func TestLineJumpsMatchesPairCount(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vs := make([]visit, 200)
	ranks := r.Perm(len(vs))
	for i := range vs {
		sent := at(r.IntN(1000))
		vs[i] = visit{Sent: sent, Answered: sent.Add(time.Duration(r.IntN(50)) * time.Millisecond), Admitted: ranks[i]}
	}
	var want int64
	for _, a := range vs {
		for _, b := range vs {
			if a.Answered.Before(b.Sent) && b.Admitted < a.Admitted {
				want++
			}
		}
	}
	assert.Equal(t, want, lineJumps(vs))
}

func TestBusyIntervals(t *testing.T) {
	ss := []sample{
		{At: at(0), Waiting: 0},
		{At: at(100), Waiting: 3},
		{At: at(200), Waiting: 5},
		{At: at(300), Waiting: 0},
		{At: at(400), Waiting: 0},
		{At: at(500), Waiting: 1},
		{At: at(600), Waiting: 2},
	}
	assert.Equal(t, []interval{{at(100), at(300)}, {at(500), at(600)}}, busyIntervals(ss))
	assert.Empty(t, busyIntervals(nil))
}

func TestAdmitRate(t *testing.T) {
	// A burst of 25 at 0, then 10 every 100ms for 5s: 100/s.
	var ts []time.Time
	for range 25 {
		ts = append(ts, at(0))
	}
	for tick := 1; tick <= 50; tick++ {
		for range 10 {
			ts = append(ts, at(100*tick))
		}
	}
	// Admissions before the line formed do not count.
	ts = append(ts, at(-700), at(-300))
	rate, span := admitRate(ts, []interval{{at(0), at(5000)}})
	assert.InDelta(t, 100, rate, 1e-9)
	assert.Equal(t, 5*time.Second, span)
	assert.InDelta(t, 0, rateErrorPct(rate, 100), 1e-9)

	// Two busy spans: 10/s over 1s, then 30/s over 2s: 70 in 3s.
	ts = nil
	for i := 0; i <= 10; i++ {
		ts = append(ts, at(100*i))
	}
	for i := 0; i <= 60; i++ {
		ts = append(ts, at(10_000+i*2000/60))
	}
	rate, span = admitRate(ts, []interval{{at(0), at(1000)}, {at(10_000), at(12_000)}})
	assert.InDelta(t, 70.0/3, rate, 1e-9)
	assert.Equal(t, 3*time.Second, span)

	rate, span = admitRate([]time.Time{at(0), at(0)}, []interval{{at(0), at(1000)}})
	assert.Zero(t, rate)
	assert.Zero(t, span)

	// 10 every 100ms for 2s, then the process stalls for a second: the
	// limiter keeps a quarter second of credit (25) and drops the rest,
	// then 10 per tick again for 2s. The stall is the machine's, not the
	// room's: the stretches around it are measured.
	ts = nil
	for tick := 0; tick <= 20; tick++ {
		for range 10 {
			ts = append(ts, at(100*tick))
		}
	}
	for range 25 {
		ts = append(ts, at(3000))
	}
	for tick := 31; tick <= 50; tick++ {
		for range 10 {
			ts = append(ts, at(100*tick))
		}
	}
	busy := []interval{{at(0), at(5000)}}
	raw, rawSpan := admitRate(ts, busy)
	assert.InDelta(t, 425.0/5, raw, 1e-9, "counting the stall: 425 in 5s")
	assert.Equal(t, 5*time.Second, rawSpan)
	var beats []time.Time
	for ms := 0; ms <= 2000; ms += 100 {
		beats = append(beats, at(ms))
	}
	for ms := 3000; ms <= 5000; ms += 100 {
		beats = append(beats, at(ms))
	}
	st := stalls(beats, 100*time.Millisecond)
	assert.Equal(t, []interval{{at(2000), at(3000)}}, st)
	parts := splitAt(busy, st)
	assert.Equal(t, []interval{{at(0), at(2000)}, {at(3000), at(5000)}}, parts)
	rate, span = admitRate(ts, parts)
	assert.Equal(t, 4*time.Second, span)
	assert.InDelta(t, 100, rate, 1e-9, "200 after the first instant in 2s, twice")

	assert.Equal(t, []interval{{at(0), at(1000)}, {at(2000), at(2500)}, {at(4000), at(6000)}},
		splitAt([]interval{{at(0), at(6000)}}, []interval{{at(1000), at(2000)}, {at(2500), at(4000)}, {at(7000), at(8000)}}))
	assert.Equal(t, []interval{{at(1000), at(2000)}},
		splitAt([]interval{{at(1000), at(2000)}}, []interval{{at(0), at(500)}, {at(2500), at(3000)}}))

	assert.InDelta(t, -5, rateErrorPct(95, 100), 1e-9)
	assert.InDelta(t, 10, rateErrorPct(110, 100), 1e-9)
}

func TestMaxInWindow(t *testing.T) {
	ts := []time.Time{at(0), at(100), at(900), at(1000), at(1050), at(3000)}
	assert.Equal(t, 4, maxInWindow(ts, time.Second)) // 100, 900, 1000, 1050
	assert.Equal(t, 0, maxInWindow(nil, time.Second))
}

func TestLost(t *testing.T) {
	assert.Equal(t, 0, lost(0, 100, 20), "nobody waiting")
	assert.Equal(t, 10, lost(10, 100, 20), "80 free slots, 10 waiting: all 10 lost")
	assert.Equal(t, 5, lost(10, 100, 95), "5 free slots: 5 lost")
	assert.Equal(t, 0, lost(10, 100, 100), "room full: waiting, not lost")
	assert.Equal(t, 0, lost(10, 100, 120), "over capacity is not free room")
}

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Second)
	}
	assert.Equal(t, 50*time.Second, percentile(ds, 50))
	assert.Equal(t, 99*time.Second, percentile(ds, 99))
	assert.Equal(t, 100*time.Second, percentile(ds, 100))
	assert.Equal(t, 1*time.Second, percentile(ds, 0))
	assert.Equal(t, time.Duration(0), percentile(nil, 50))
	assert.Equal(t, 100*time.Second, ds[0], "input left unchanged")
}
