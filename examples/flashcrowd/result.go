package main

import (
	"fmt"
	"sort"
	"time"
)

// Result is what a run measured. See report.go for the meaning of each
// figure in the report.
type Result struct {
	Config    Config
	Started   time.Time
	Duration  time.Duration
	EndReason string // "done", "stalled", "timeout" or "interrupted"

	Arrived, Admitted, Direct, Closed, Failed, StillWaiting int
	Lost                                                    int
	InsideAtEnd                                             int    // slots held at the end (-1: unknown)
	StoreCalls                                              int64  // the instances' store calls (-1: unknown), the report's sampler included
	VisitorStoreCalls                                       int64  // those made for visitors' requests and pages
	StoreCallsByOp                                          string // the same by operation
	Errors, Requests                                        int64
	Polls, Requeued                                         int
	Streams, Frames                                         int // event streams opened, reports read from them
	ErrorSamples                                            []string

	OrderSource string     // where the two orders come from
	Order       orderStats // arrival order vs admission order
	LineJumps   int64      // see lineJumps
	Readmitted  int        // visitors the store let in more than once (claim window passed)
	Unmatched   int        // visitors in the origin that the feed never let in
	FeedResyncs int        // times the feed reader lost events (order figures then incomplete)

	MaxOriginConcurrency int // requests in the origin at once, at most (-1: unknown)
	OriginVisitors       int // distinct visitors the origin saw (-1: unknown)

	AdmitRateTarget, AdmitRateMeasured, AdmitRateErrorPct float64
	AdmitRateRaw                                          float64       // the rate counting the stalls
	BusySpan                                              time.Duration // the time the rate is measured over
	Stalled                                               time.Duration // time the process did not run on time (left out of BusySpan)
	MaxAdmitted1s                                         int           // admissions in the busiest second
	RateBound1s                                           float64       // what the room allows in any second: rate + burst

	WaitP50, WaitP90, WaitP99, WaitMax time.Duration

	// The first requests: how long their answers took, and of that how
	// long they waited for one of the crowd's sockets (the simulator's
	// share, not the room's).
	FirstP99, FirstMax, SocketWaitP99, SocketWaitMax time.Duration

	Samples   []sample
	Arrivals  []time.Time // first requests sent
	Admission []time.Time // admissions (store clock, or the clients' in URL mode)

	Warnings      int
	FirstWarnings []string

	// A simulation's own figures (nil for a live run), and the chart's
	// counts per second, which it keeps instead of Arrivals and
	// Admission.
	Sim                              *simFigures
	MaxInsideFeed                    int // slots held at once, as the change feed tells them
	arrivalsPerSec, admissionsPerSec []int
}

// admissionRecord is one admission in the store's change feed.
type admissionRecord struct {
	visitor string
	key     arrivalKey
	at      time.Time
}

// measure turns the visitors' timelines and the feed into the report's
// figures.
func (res *Result) measure(vs []*virtualVisitor, feed *feedLog, st *stack, c *counters, beats []time.Time) {
	cfg := res.Config
	res.Errors, res.Requests = c.errors.Load(), c.requests.Load()
	var waits, firsts, sockets []time.Duration
	for _, v := range vs {
		if !v.sent.IsZero() {
			res.Arrived++
			res.Arrivals = append(res.Arrivals, v.sent)
			if !v.answered.IsZero() {
				firsts = append(firsts, v.answered.Sub(v.sent))
				sockets = append(sockets, v.socketWait)
			}
		}
		res.Polls += v.polls
		res.Streams += v.streams
		res.Frames += v.frames
		res.Requeued += v.requeued
		if v.lastError != "" && len(res.ErrorSamples) < 5 {
			res.ErrorSamples = append(res.ErrorSamples, v.lastError)
		}
		switch v.outcome.Load() {
		case outcomeAdmitted:
			res.Admitted++
			if v.direct {
				res.Direct++
			}
			waits = append(waits, v.admitted.Sub(v.sent))
		case outcomeClosed:
			res.Closed++
		case outcomeFailed:
			res.Failed++
		default:
			if !v.sent.IsZero() {
				res.StillWaiting++
			}
		}
	}
	res.WaitP50, res.WaitP90, res.WaitP99 = percentile(waits, 50), percentile(waits, 90), percentile(waits, 99)
	res.WaitMax = percentile(waits, 100)
	res.FirstP99, res.FirstMax = percentile(firsts, 99), percentile(firsts, 100)
	res.SocketWaitP99, res.SocketWaitMax = percentile(sockets, 99), percentile(sockets, 100)

	capacity := cfg.Capacity
	inside := res.InsideAtEnd
	if inside < 0 {
		inside = 0 // URL mode: the clients cannot see the bucket
	}
	res.Lost = lost(res.StillWaiting, capacity, inside)

	// Admission order, and each admitted visitor's rank in it.
	rank := make(map[string]int)
	if len(st.rooms) > 0 {
		res.OrderSource = "store: queue number vs change-feed order"
		feed.mu.Lock()
		records := feed.records
		feed.mu.Unlock()
		res.FeedResyncs = int(feed.resyncs.Load())
		last := make(map[string]int, len(records))
		for i, r := range records {
			if _, again := last[r.visitor]; again {
				res.Readmitted++
			}
			last[r.visitor] = i
		}
		keys := make([]arrivalKey, 0, len(last))
		for i, r := range records {
			res.Admission = append(res.Admission, r.at)
			if last[r.visitor] == i {
				rank[r.visitor] = len(keys)
				keys = append(keys, r.key)
			}
		}
		res.Order = compareOrders(keys)
	} else {
		// URL mode: arrival is the order of the answers to the first
		// requests, admission the order the clients got in.
		res.OrderSource = "clients: order of first answers vs order let in"
		var in []*virtualVisitor
		for _, v := range vs {
			if v.outcome.Load() == outcomeAdmitted {
				in = append(in, v)
				res.Admission = append(res.Admission, v.admitted)
			}
		}
		sort.SliceStable(in, func(i, j int) bool { return in[i].admitted.Before(in[j].admitted) })
		keys := make([]arrivalKey, len(in))
		byAnswer := make([]*virtualVisitor, len(in))
		copy(byAnswer, in)
		sort.SliceStable(byAnswer, func(i, j int) bool { return byAnswer[i].answered.Before(byAnswer[j].answered) })
		answerRank := make(map[int]uint64, len(in))
		for i, v := range byAnswer {
			answerRank[v.idx] = uint64(i)
		}
		for i, v := range in {
			keys[i] = arrivalKey{answerRank[v.idx], 0}
			rank[v.id] = i
		}
		res.Order = compareOrders(keys)
	}
	var visits []visit
	for _, v := range vs {
		if v.outcome.Load() != outcomeAdmitted {
			continue
		}
		r, ok := rank[v.id]
		if !ok {
			res.Unmatched++
			continue
		}
		visits = append(visits, visit{Sent: v.sent, Answered: v.answered, Admitted: r})
	}
	res.LineJumps = lineJumps(visits)
	if debugLog != nil && res.LineJumps > 0 {
		debugJumps(vs, rank)
	}

	res.AdmitRateTarget = cfg.Rate
	busy := busyIntervals(res.Samples)
	stalled := stalls(beats, cfg.SampleEvery)
	for _, st := range stalled {
		res.Stalled += st.To.Sub(st.From)
	}
	res.AdmitRateRaw, _ = admitRate(res.Admission, busy)
	rate, span := admitRate(res.Admission, splitAt(busy, stalled))
	res.AdmitRateMeasured, res.BusySpan = rate, span
	res.AdmitRateErrorPct = rateErrorPct(rate, cfg.Rate)
	res.MaxAdmitted1s = maxInWindow(res.Admission, time.Second)
	res.RateBound1s = cfg.Rate + max(cfg.Rate/4, 1) // waitroom.ZoneState.RateBurst
}

// debugJumps prints a few line jumps with the two visitors' timelines.
func debugJumps(vs []*virtualVisitor, rank map[string]int) {
	n := 0
	for _, a := range vs {
		ra, ok := rank[a.id]
		if !ok || a.outcome.Load() != outcomeAdmitted {
			continue
		}
		for _, b := range vs {
			rb, ok := rank[b.id]
			if !ok || b.outcome.Load() != outcomeAdmitted || !a.answered.Before(b.sent) || rb >= ra {
				continue
			}
			fmt.Fprintf(debugLog, "line jump: a=%d %s rank %d sent %v answered %v direct %v requeued %d polls %d | b=%d %s rank %d sent %v answered %v direct %v\n",
				a.idx, a.id, ra, a.sent.Format("05.000"), a.answered.Format("05.000"), a.direct, a.requeued, a.polls,
				b.idx, b.id, rb, b.sent.Format("05.000"), b.answered.Format("05.000"), b.direct)
			if n++; n >= 10 {
				return
			}
		}
	}
}
