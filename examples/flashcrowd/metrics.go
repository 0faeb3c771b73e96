package main

import (
	"math"
	"slices"
	"sort"
	"time"
)

// This file holds the report's arithmetic, kept free of I/O so that it is
// tested on hand-made sequences.

// countInversions returns the number of pairs i < j with less(xs[j],
// xs[i]): how far xs is from sorted. It runs in O(n log n) (merge sort on a
// copy) and leaves xs unchanged.
func countInversions[T any](xs []T, less func(a, b T) bool) int64 {
	a := slices.Clone(xs)
	buf := make([]T, len(a))
	var inv int64
	for width := 1; width < len(a); width *= 2 {
		for lo := 0; lo < len(a)-width; lo += 2 * width {
			mid, hi := lo+width, min(lo+2*width, len(a))
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if less(a[j], a[i]) {
					// a[j] jumps every element left in the first half.
					inv += int64(mid - i)
					buf[k] = a[j]
					j++
				} else {
					buf[k] = a[i]
					i++
				}
				k++
			}
			k += copy(buf[k:], a[i:mid])
			copy(buf[k:], a[j:hi])
			copy(a[lo:hi], buf[lo:hi])
		}
	}
	return inv
}

// kendallTau is Kendall's rank correlation (tau-a) of two orders of n
// items that differ by inv discordant pairs: 1 when they agree, -1 when one
// is the other reversed. It is 1 for fewer than two items.
func kendallTau(inv int64, n int) float64 {
	if n < 2 {
		return 1
	}
	pairs := float64(n) * float64(n-1) / 2
	return 1 - 2*float64(inv)/pairs
}

// arrivalKey orders visitors by arrival in the store's view: the queue
// number the store gave them (seq), then sub. A visitor let in by direct
// entry never had a queue number: it arrived after every visitor whose
// number was given out before its entry (the queue was empty then), so its
// key is the highest queue number seen in the feed before its entry, with
// sub its own feed position; a queued visitor has sub 0.
type arrivalKey struct{ seq, sub uint64 }

func (a arrivalKey) less(b arrivalKey) bool {
	return a.seq < b.seq || a.seq == b.seq && a.sub < b.sub
}

// orderStats compares the arrival order with the admission order.
type orderStats struct {
	Inversions int64   // pairs let in out of arrival order
	KendallTau float64 // rank correlation of the two orders
}

// compareOrders takes the arrival keys of the admitted visitors listed in
// the order they were let in.
func compareOrders(byAdmission []arrivalKey) orderStats {
	inv := countInversions(byAdmission, arrivalKey.less)
	return orderStats{Inversions: inv, KendallTau: kendallTau(inv, len(byAdmission))}
}

// visit is one visitor's timeline as the client saw it, for lineJumps.
type visit struct {
	Sent     time.Time // its first request left
	Answered time.Time // the answer to its first request came back
	Admitted int       // its rank in the admission order
}

// lineJumps counts the pairs of admitted visitors (a, b) where a had its
// answer (a place in line, or entry) before b even sent its first request,
// yet b was let in before a. Unlike store numbers this needs no trust in
// the store: it is the order a person in the crowd can see. Pairs whose
// first requests overlapped in time have no order and are not counted.
func lineJumps(vs []visit) int64 {
	byAnswer := slices.Clone(vs)
	sort.Slice(byAnswer, func(i, j int) bool { return byAnswer[i].Answered.Before(byAnswer[j].Answered) })
	bySent := slices.Clone(vs)
	sort.Slice(bySent, func(i, j int) bool { return bySent[i].Sent.Before(bySent[j].Sent) })

	maxRank := 0
	for _, v := range vs {
		maxRank = max(maxRank, v.Admitted)
	}
	tree := make([]int64, maxRank+2) // Fenwick tree over admission ranks
	add := func(r int) {
		for i := r + 1; i < len(tree); i += i & -i {
			tree[i]++
		}
	}
	countUpTo := func(r int) (n int64) { // ranks <= r
		for i := r + 1; i > 0; i -= i & -i {
			n += tree[i]
		}
		return n
	}
	var jumps, added int64
	next := 0
	for _, b := range bySent {
		for next < len(byAnswer) && byAnswer[next].Answered.Before(b.Sent) {
			add(byAnswer[next].Admitted)
			added++
			next++
		}
		jumps += added - countUpTo(b.Admitted) // earlier visitors let in after b
	}
	return jumps
}

// interval is a span of time [From, To].
type interval struct{ From, To time.Time }

// sample is the room's state at one instant of the run.
type sample struct {
	At       time.Time
	Arrived  int // visitors who have sent their first request
	Admitted int // admissions so far (the store's, or the clients' in URL mode)
	Waiting  int // places in line
	Inside   int // slots held (admitted and inside)
	InOrigin int // requests in the origin at once (-1: unknown)
}

// busyIntervals returns the spans during which somebody waited in line:
// from the first sample that saw a queue to the first that saw none. Only
// then is the admission rate the room's limit rather than the arrivals'.
func busyIntervals(samples []sample) []interval {
	var out []interval
	var from time.Time
	busy := false
	for _, s := range samples {
		switch {
		case s.Waiting > 0 && !busy:
			busy, from = true, s.At
		case s.Waiting == 0 && busy:
			busy = false
			out = append(out, interval{from, s.At})
		}
	}
	if busy && len(samples) > 0 {
		out = append(out, interval{from, samples[len(samples)-1].At})
	}
	return out
}

// stalls returns the spans during which the process did not run on time:
// where two beats of a clock that ticks every period are more than one
// and a half periods apart. A rate limiter keeps only a burst's worth of credit, so
// an exchanger that the scheduler of a busy, shared machine leaves waiting
// loses admissions that the room itself would have made.
func stalls(beats []time.Time, period time.Duration) []interval {
	var out []interval
	for i := 1; i < len(beats); i++ {
		if beats[i].Sub(beats[i-1]) > period+period/2 {
			out = append(out, interval{beats[i-1], beats[i]})
		}
	}
	return out
}

// splitAt returns the parts of the intervals outside the stalls (both
// sorted by time).
func splitAt(ivs, stalled []interval) []interval {
	var out []interval
	for _, iv := range ivs {
		from := iv.From
		for _, st := range stalled {
			if !st.To.After(from) || !st.From.Before(iv.To) {
				continue
			}
			if st.From.After(from) {
				out = append(out, interval{from, st.From})
			}
			from = st.To
		}
		if iv.To.After(from) {
			out = append(out, interval{from, iv.To})
		}
	}
	return out
}

// admitRate measures admissions per second over the intervals. An
// interval counts the admissions after its first one up to its last one,
// over the time between the two: a rate limiter lets a burst through at
// once (at the start, or after a stall) and then a steady flow, and the
// flow is what is measured. It returns 0 when no interval holds two
// admissions at different instants.
func admitRate(admissions []time.Time, ivs []interval) (rate float64, span time.Duration) {
	ts := slices.Clone(admissions)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	var n int
	for _, iv := range ivs {
		lo := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(iv.From) })
		hi := sort.Search(len(ts), func(i int) bool { return ts[i].After(iv.To) })
		if hi-lo < 2 {
			continue
		}
		first, last := ts[lo], ts[hi-1]
		if !last.After(first) {
			continue
		}
		for _, t := range ts[lo:hi] {
			if t.After(first) {
				n++
			}
		}
		span += last.Sub(first)
	}
	if span <= 0 {
		return 0, 0
	}
	return float64(n) / span.Seconds(), span
}

// rateErrorPct is the measured rate's error against the target, in percent.
func rateErrorPct(measured, target float64) float64 {
	if target <= 0 {
		return 0
	}
	return 100 * (measured - target) / target
}

// maxInWindow returns the largest number of instants within any window of
// length w (both ends included).
func maxInWindow(ts []time.Time, w time.Duration) int {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range s {
		for s[hi].Sub(s[lo]) > w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// lost counts the visitors still waiting at the end although the room had
// room for them: at most the free slots of the bucket at the end. A
// visitor waiting while every slot is held is not lost, only not yet in.
func lost(stillWaiting, capacity, insideAtEnd int) int {
	free := max(capacity-insideAtEnd, 0)
	return min(max(stillWaiting, 0), free)
}

// percentile returns the p-th percentile (0-100) of ds by the nearest-rank
// method; 0 for no values.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
