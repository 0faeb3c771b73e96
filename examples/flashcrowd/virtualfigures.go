package main

import (
	"math"
	"time"
)

// The figures a simulation (virtual.go) is measured by, and how they are
// drawn from its run.

// holdSum adds up values of one second: slot holds in nanoseconds, or the
// bucket's fill.
type holdSum struct {
	sum float64
	n   int
}

// addAt adds v to the second sec of sums.
func addAt(sums *[]holdSum, sec int, v float64) {
	for len(*sums) <= sec {
		*sums = append(*sums, holdSum{})
	}
	(*sums)[sec].sum += v
	(*sums)[sec].n++
}

// over is the mean of the sums of the seconds secs (0 if none).
func over(sums []holdSum, secs []int) float64 {
	var t holdSum
	for _, sec := range secs {
		if sec < len(sums) {
			t.sum += sums[sec].sum
			t.n += sums[sec].n
		}
	}
	if t.n == 0 {
		return 0
	}
	return t.sum / float64(t.n)
}

// simFigures are what only a simulation measures.
type simFigures struct {
	WallStart    time.Time
	WallDuration time.Duration

	StoreOperations int64 // store operations, each call inside a batch counted

	PeakWaiting           int64         // places in line once every visitor arrived (-1: unknown)
	PeakAt                time.Duration // when
	HeapPerWaiting        float64       // memory store: heap growth per place in line, bytes (-1: not measured)
	RedisMemoryPerWaiting float64       // Redis: used_memory growth per place in line, bytes (-1: not measured)
	RedisCPUPerVisitor    float64       // Redis: server CPU (used_cpu_sys + used_cpu_user) per visitor, µs (-1: not measured)
	DynamoReadPerVisitor  float64       // DynamoDB: read capacity units per visitor (-1: not measured)
	DynamoWritePerVisitor float64       // DynamoDB: write capacity units per visitor

	MeanHold    time.Duration // a slot's hold, from admission to release or leak, of those let in in the steady part
	Fill        float64       // the bucket's fill after the steps of the steady part (slots held / capacity)
	SlotBound   float64       // the admissions per second the capacity allows (capacity / MeanHold)
	Goal        float64       // min(rate, SlotBound): what the outflow should be
	Binds       string        // "rate" or "capacity"
	SteadySecs  int           // seconds of the sale's steady part
	SteadyRate  float64       // admissions per second over it
	GoalError   float64       // SteadyRate against Goal, %
	WindowSecs  int           // the window of WorstLow and WorstHigh: 1 s, or as long as 20 admissions take
	WorstLow    float64       // the slowest window of the steady part, admissions per second
	WorstHigh   float64       // the fastest
	WorstError  float64       // the window furthest from Goal, %
	Abandoned   int           // visitors the exchanger skipped for lack of heartbeat
	Requeued    int           // visitors queued again (claim window passed)
	Calls       int64         // the visitors' calls on the Room
	MaxInWindow int           // admissions in the busiest second
}

// measure turns the run into the report's figures.
func (s *simRun) measure(res *Result) {
	cfg, fig := s.cfg, res.Sim
	res.Errors, res.Requests, res.ErrorSamples = s.errors.Load(), s.calls.Load(), s.errs
	fig.Calls, fig.Abandoned, fig.Requeued = s.calls.Load(), s.abandoned, s.requeued
	res.Requeued = s.requeued
	var waits []time.Duration
	for i := range s.vs {
		v := &s.vs[i]
		if v.state != simPending {
			res.Arrived++
		}
		if v.admitted >= 0 {
			res.Admitted++
			waits = append(waits, v.admitted-(v.arrival+s.q-1)/s.q*s.q)
			if v.direct {
				res.Direct++
			}
		}
		if v.state == simWaiting {
			res.StillWaiting++
		}
	}
	res.Closed, res.Failed = int(s.closed.Load()), int(s.failed.Load())
	res.WaitP50, res.WaitP90, res.WaitP99 = percentile(waits, 50), percentile(waits, 90), percentile(waits, 99)
	res.WaitMax = percentile(waits, 100)
	// A simulated visitor keeps its page open: a place the exchanger
	// skipped as abandoned is a place lost. One still waiting at a
	// timeout holds its place.
	res.Lost = s.abandoned
	res.OrderSource = "store: queue number vs change-feed order"
	res.Order = compareOrders(s.keys)
	res.MaxOriginConcurrency = int(s.maxOrigin.Load())
	res.OriginVisitors = int(s.holds.Load())
	res.MaxInsideFeed = s.maxInside

	perSec := s.perSecond()
	for len(perSec) < len(s.lineAt) {
		perSec = append(perSec, 0) // seconds with a line and no admission
	}
	steady := steadySeconds(s.lineAt)
	fig.SteadySecs = len(steady)
	// The holds of the visitors let in during the steady part bound its
	// rate (Little's law); without one, all of them.
	if h := over(s.holdSec, steady); h > 0 {
		fig.MeanHold = time.Duration(h)
	} else if n := s.holds.Load(); n > 0 {
		fig.MeanHold = time.Duration(s.holdNanos.Load() / n)
	}
	fig.SlotBound = cfg.slotBound(fig.MeanHold)
	fig.Goal, fig.Binds = cfg.Rate, "rate"
	if fig.SlotBound < cfg.Rate {
		fig.Goal, fig.Binds = fig.SlotBound, "capacity"
	}
	fig.Fill = over(s.fill, steady)
	var n int
	for _, sec := range steady {
		n += perSec[sec]
	}
	if len(steady) > 0 {
		fig.SteadyRate = float64(n) / float64(len(steady))
	}
	fig.GoalError = rateErrorPct(fig.SteadyRate, fig.Goal)
	fig.WindowSecs = max(1, int(math.Ceil(20/fig.Goal)))
	fig.WorstLow, fig.WorstHigh = windowRates(perSec, steady, fig.WindowSecs)
	fig.WorstError = rateErrorPct(fig.WorstLow, fig.Goal)
	if e := rateErrorPct(fig.WorstHigh, fig.Goal); math.Abs(e) > math.Abs(fig.WorstError) {
		fig.WorstError = e
	}
	fig.MaxInWindow = s.maxPerSecond()

	res.AdmitRateTarget = cfg.Rate
	res.AdmitRateMeasured, res.AdmitRateRaw = fig.SteadyRate, fig.SteadyRate
	res.AdmitRateErrorPct = rateErrorPct(fig.SteadyRate, cfg.Rate)
	res.BusySpan = time.Duration(len(steady)) * time.Second
	res.MaxAdmitted1s = fig.MaxInWindow
	res.RateBound1s = cfg.Rate + max(cfg.Rate/4, 1) // waitroom.ZoneState.RateBurst
	res.arrivalsPerSec = make([]int, int(math.Ceil(res.Duration.Seconds()))+1)
	for i := range s.vs {
		if s.vs[i].state != simPending {
			res.arrivalsPerSec[int((s.vs[i].arrival+s.q-1)/s.q*s.q/time.Second)]++
		}
	}
	res.admissionsPerSec = perSec
}

// perSecond is the admissions in each second of the sale.
func (s *simRun) perSecond() []int {
	per := int(time.Second / s.q)
	out := make([]int, (len(s.perQuantum)+per-1)/per)
	for q, n := range s.perQuantum {
		out[q/per] += int(n)
	}
	return out
}

// maxPerSecond is the most admissions within any second (a sliding
// window of quanta, both ends included, as maxInWindow counts).
func (s *simRun) maxPerSecond() int {
	per := int(time.Second / s.q)
	best, sum := 0, 0
	for q, n := range s.perQuantum {
		sum += int(n)
		if q > per {
			sum -= int(s.perQuantum[q-per-1])
		}
		best = max(best, sum)
	}
	return best
}

// steadySeconds are the seconds of the sale's steady part: every tick of
// the second found visitors in line, and so did every tick of the seconds
// before and after it (the first and last second of a line are its
// start, with the rate's burst, and its end).
func steadySeconds(lineAt []uint8) []int {
	full := func(i int) bool { return i >= 0 && i < len(lineAt) && lineAt[i] == seenLine }
	var out []int
	for i := range lineAt {
		if full(i-1) && full(i) && full(i+1) {
			out = append(out, i)
		}
	}
	return out
}

// windowRates are the slowest and fastest admission rates over w
// consecutive steady seconds.
func windowRates(perSec []int, steady []int, w int) (low, high float64) {
	low = math.Inf(1)
	for i := 0; i+w <= len(steady); i++ {
		if steady[i+w-1]-steady[i] != w-1 {
			continue // not consecutive
		}
		n := 0
		for _, sec := range steady[i : i+w] {
			n += perSec[sec]
		}
		r := float64(n) / float64(w)
		low, high = min(low, r), max(high, r)
	}
	if math.IsInf(low, 1) {
		return 0, 0
	}
	return low, high
}
