package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// Config describes one run. The zero value of a field selects the default
// documented on it (see defaults).
type Config struct {
	Visitors int           // virtual visitors in the crowd. Default 20000.
	Window   time.Duration // they all arrive within it. Default 10s.
	Profile  string        // "spike" (evenly over the window) or "ramp" (arrivals per second growing linearly). Default spike.

	Capacity     int           // visitors inside at once. Default 6000: more than the rate times a visitor's way in (its next poll, the claim) and its stay, so that the rate is what limits.
	Rate         float64       // admissions per second. Default 1000.
	Think        time.Duration // mean time a visitor stays in checkout (uniform in [Think/2, 3Think/2]). Default 500ms.
	Session      time.Duration // access token lifetime: a slot not released leaks after it. Default 20s: longer than a visitor's way from its claim to the origin on a busy machine.
	ReleaseShare float64       // share of visitors who release their slot when done; the rest let it expire. Default 0.97; negative: none.
	Tick         time.Duration // the exchanger's period. Default 100ms (waitroom.DefaultTick).

	Store     string // "memory", "redis://host:port/db" or "redis+cluster://h1:p,h2:p". Default memory.
	Instances int    // waiting-room instances over the store, each a proxy of its own. Default 1.
	URL       string // drive a waiting room already running at this base URL instead of starting one
	Zone      string // the zone's name. Default "checkout".
	Path      string // the protected path. Default "/checkout".
	Follow    string // how waiting visitors follow the line: "push" (the page's event stream, over HTTP/2 so that every stream shares a few connections) or "poll" (the status endpoint, every Retry-After). Default push in process, poll with URL.

	Seed           uint64        // arrival and think-time randomness. Default 1.
	Timeout        time.Duration // the run stops then, whatever is left. Default: window + 2×visitors/rate + 60s.
	Stall          time.Duration // the run stops when nobody was let in for this long while visitors wait. Default 45s (longer than the claim window: slots reserved for visitors who have not seen their turn yet come back after it).
	Conns          int           // connections per instance the crowd opens at most (its browsers' sockets): a third for first requests and polls, two thirds for the visitors let in (see letInConns); the proxy opens half as many to the origin. Default capacity + 1024, at most 4000 over all instances, for the usual limit of open files: more than the visitors the origin may hold at once where it fits, so that the cap does not hide the origin's concurrency (the report says when it may have).
	RequestTimeout time.Duration // one request's limit from the moment it has a socket, on top of the think time. Default 30s.
	MaxFailures    int           // consecutive failed requests after which a visitor gives up. Default 5.
	SampleEvery    time.Duration // the chart's resolution. Default 100ms.

	Progress io.Writer // the progress bar goes here; nil: none
}

func (c Config) withDefaults() (Config, error) {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if c.Visitors == 0 {
		c.Visitors = 20000
	}
	def(&c.Window, 10*time.Second)
	if c.Profile == "" {
		c.Profile = "spike"
	}
	if c.Capacity == 0 {
		c.Capacity = 6000
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	def(&c.Think, 500*time.Millisecond)
	def(&c.Session, 20*time.Second)
	if c.ReleaseShare == 0 {
		c.ReleaseShare = 0.97
	}
	c.ReleaseShare = min(max(c.ReleaseShare, 0), 1)
	def(&c.Tick, waitroom.DefaultTick)
	if c.Store == "" {
		c.Store = "memory"
	}
	if c.Instances == 0 {
		c.Instances = 1
	}
	if c.Zone == "" {
		c.Zone = "checkout"
	}
	if c.Path == "" {
		c.Path = "/checkout"
	}
	if c.Follow == "" {
		c.Follow = followPush
		if c.URL != "" {
			c.Follow = followPoll
		}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	def(&c.Stall, 45*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	def(&c.SampleEvery, 100*time.Millisecond)

	switch {
	case c.Visitors < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: visitors must be at least 1, got %d", c.Visitors)
	case c.Window < 0:
		return c, fmt.Errorf("waitroom: flashcrowd: window must not be negative, got %v", c.Window)
	case c.Profile != "spike" && c.Profile != "ramp":
		return c, fmt.Errorf("waitroom: flashcrowd: profile must be spike or ramp, got %q", c.Profile)
	case c.Capacity < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: capacity must be at least 1, got %d", c.Capacity)
	case c.Rate <= 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return c, fmt.Errorf("waitroom: flashcrowd: rate must be positive, got %g", c.Rate)
	case c.Think < 0:
		return c, fmt.Errorf("waitroom: flashcrowd: think time must not be negative, got %v", c.Think)
	case c.Instances < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: instances must be at least 1, got %d", c.Instances)
	case c.Conns != 0 && c.Conns < 3:
		return c, fmt.Errorf("waitroom: flashcrowd: conns must be at least 3 (a third for first requests), got %d", c.Conns)
	case c.Follow != followPush && c.Follow != followPoll:
		return c, fmt.Errorf("waitroom: flashcrowd: follow must be push or poll, got %q", c.Follow)
	}
	if c.Conns == 0 {
		// Every connection costs two sockets in this process, every
		// request in the origin two more, and the event streams' HTTP/2
		// connections some: stay within the usual limit of open files.
		c.Conns = min(c.Capacity+1024, 4000/c.Instances)
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("waitroom: flashcrowd: -url %q is not an http(s) base URL", c.URL)
		}
	}
	if c.Timeout == 0 {
		c.Timeout = c.Window + time.Duration(2*float64(c.Visitors)/c.Rate*float64(time.Second)) + time.Minute
	}
	return c, nil
}

// zone is the waiting room's zone for the run.
func (c Config) zone() waitroom.Zone {
	return waitroom.Zone{
		Name: c.Zone, Paths: []string{c.Path}, Capacity: c.Capacity, AdmitPerSecond: c.Rate,
		Session: c.Session, ClaimWindow: 30 * time.Second, AbandonAfter: time.Minute, DataTTL: 10 * time.Minute,
	}
}

// letInConns is the crowd's share of connections per instance for the
// visitors let in: two thirds. A visitor let in holds its slot until its
// claim reaches the room, so claims that queue for the crowd's sockets
// hold slots that browsers, each with its own socket, would not: with
// half the sockets, 17,000 claims at once waited some 17 s for one in a
// 100,000-visitor spike, and the slots they held, not the rate, limited
// the admissions. The first requests queue for the rest.
func (c Config) letInConns() int { return c.Conns - c.Conns/3 }

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
}

// admissionRecord is one admission in the store's change feed.
type admissionRecord struct {
	visitor string
	key     arrivalKey
	at      time.Time
}

// feedLog collects the admissions of the store's change feed.
type feedLog struct {
	mu       sync.Mutex
	maxSeq   uint64 // highest queue number seen so far
	records  []admissionRecord
	count    atomic.Int64
	resyncs  atomic.Int64
	zoneName string
}

func (f *feedLog) onEvent(ev waitroom.Event) {
	if ev.Kind == waitroom.EventResync {
		f.resyncs.Add(1)
		return
	}
	if ev.Zone != f.zoneName {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch ev.Kind {
	case waitroom.EventAdmitted:
		f.records = append(f.records, admissionRecord{ev.Visitor, arrivalKey{ev.QueueSeq, 0}, ev.At})
		f.count.Add(1)
	case waitroom.EventEntered:
		f.records = append(f.records, admissionRecord{ev.Visitor, arrivalKey{f.maxSeq, ev.Seq}, ev.At})
		f.count.Add(1)
	}
	f.maxSeq = max(f.maxSeq, ev.QueueSeq)
}

// Run drives the crowd against the waiting room and measures it.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	warn := &warnings{}
	logger := slog.New(slog.NewTextHandler(warn, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var st *stack
	if cfg.URL == "" {
		st, err = startStack(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
	} else {
		st = &stack{urls: []string{cfg.URL}, zone: cfg.zone(), close: func() {}}
	}
	defer st.close()

	feed := &feedLog{zoneName: cfg.Zone}
	if len(st.rooms) > 0 {
		cancel := st.rooms[0].Subscribe(feed.onEvent)
		defer cancel()
	}

	visitors := makeVisitors(cfg)
	cl := &client{cfg: cfg, transport: newTransport(cfg.Conns - cfg.letInConns()), admitted: newTransport(cfg.letInConns()), counters: &counters{}}
	defer cl.transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	defer cl.admitted.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	for _, raw := range st.urls {
		u, _ := url.Parse(raw)
		cl.bases = append(cl.bases, u)
	}
	cl.streams = newStreamConns(cl.bases, cfg.Visitors)
	defer cl.streams.close()

	res := &Result{Config: cfg, MaxOriginConcurrency: -1, OriginVisitors: -1, InsideAtEnd: -1, StoreCalls: -1}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now().Add(50 * time.Millisecond)
	res.Started = start

	// The dispatcher starts each visitor at its arrival time.
	var wg sync.WaitGroup
	var finished atomic.Int64
	allDone := make(chan struct{})
	go func() {
		for i, v := range visitors {
			if !waitUntil(runCtx, start.Add(v.arrival)) {
				for range visitors[i:] {
					if finished.Add(1) == int64(len(visitors)) {
						close(allDone)
					}
				}
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl.run(runCtx, v, start)
				if finished.Add(1) == int64(len(visitors)) {
					close(allDone)
				}
			}()
		}
	}()

	// A clock that does nothing but tick shows when the process did not
	// run on time.
	var beats []time.Time
	beatsDone := make(chan struct{})
	beatCtx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	go func() {
		defer close(beatsDone)
		t := time.NewTicker(cfg.SampleEvery)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				beats = append(beats, now)
			case <-beatCtx.Done():
				return
			}
		}
	}()

	bar := newProgress(cfg.Progress, cfg.Visitors)
	tick := time.NewTicker(cfg.SampleEvery)
	defer tick.Stop()
	deadline := start.Add(cfg.Timeout)
	lastAdmits, lastChange := int64(-1), time.Now()
	for res.EndReason == "" {
		select {
		case <-allDone:
			res.EndReason = "done"
		case <-ctx.Done():
			res.EndReason = "interrupted"
		case now := <-tick.C:
			s := takeSample(runCtx, now, cl.counters, st, feed, cfg.Zone)
			res.Samples = append(res.Samples, s)
			bar.show(s, int(finished.Load()), cl.counters.errors.Load(), now.Sub(start))
			if debugLog != nil && len(res.Samples)%10 == 0 {
				fmt.Fprintf(debugLog, "%5.1fs arrived=%d waiting=%d admitted=%d inside=%d origin=%d inflight=%d queued=%d requests=%d\n",
					now.Sub(start).Seconds(), s.Arrived, s.Waiting, s.Admitted, s.Inside, s.InOrigin, cl.counters.inflight.Load(), cl.counters.queued.Load(), cl.counters.requests.Load())
			}
			if int64(s.Admitted) != lastAdmits {
				lastAdmits, lastChange = int64(s.Admitted), now
			}
			switch {
			case now.After(deadline):
				res.EndReason = "timeout"
			case s.Arrived == cfg.Visitors && cl.counters.waiting.Load() > 0 && now.Sub(lastChange) > cfg.Stall:
				res.EndReason = "stalled"
			}
		}
	}
	end := time.Now()
	final := takeSample(context.Background(), end, cl.counters, st, feed, cfg.Zone)
	res.Samples = append(res.Samples, final)
	bar.done(final, int(finished.Load()), cl.counters.errors.Load(), end.Sub(start))
	res.InsideAtEnd = final.Inside
	stop()
	wg.Wait()
	stopBeats()
	<-beatsDone
	res.Duration = end.Sub(start)
	if st.origin != nil {
		res.MaxOriginConcurrency = int(st.origin.maxInFlight.Load())
		res.OriginVisitors = st.origin.visitorsSeen()
	}
	if st.calls != nil {
		res.StoreCalls, res.VisitorStoreCalls, res.StoreCallsByOp = st.calls.count(), st.calls.byVisitors(), st.calls.String()
	}
	res.Warnings, res.FirstWarnings = warn.snapshot()
	if err := ctx.Err(); err != nil && res.EndReason == "interrupted" {
		return res, fmt.Errorf("waitroom: flashcrowd: interrupted: %w", err)
	}
	res.measure(visitors, feed, st, cl.counters, beats)
	return res, nil
}

// makeVisitors draws the crowd: arrival times by profile, think times and
// whether each releases its slot, from cfg.Seed.
func makeVisitors(cfg Config) []*virtualVisitor {
	r := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	vs := make([]*virtualVisitor, cfg.Visitors)
	for i := range vs {
		f := (float64(i) + r.Float64()) / float64(cfg.Visitors) // in [i/n, (i+1)/n)
		if cfg.Profile == "ramp" {
			// Arrivals per second grow linearly: the i-th arrives at
			// W·sqrt(i/n).
			f = math.Sqrt(f)
		}
		vs[i] = &virtualVisitor{
			idx:     i,
			arrival: time.Duration(f * float64(cfg.Window)),
			think:   time.Duration((0.5 + r.Float64()) * float64(cfg.Think)),
			release: r.Float64() < cfg.ReleaseShare,
		}
	}
	return vs
}

// takeSample reads the room's state: the store's counts in process, the
// clients' in URL mode.
func takeSample(ctx context.Context, now time.Time, c *counters, st *stack, feed *feedLog, zone string) sample {
	s := sample{
		At: now, Arrived: int(c.arrived.Load()), Admitted: int(c.admitted.Load()),
		Waiting: int(c.waiting.Load()), Inside: -1, InOrigin: -1,
	}
	if len(st.rooms) == 0 {
		return s
	}
	s.Admitted = int(feed.count.Load())
	s.InOrigin = int(st.origin.inFlight.Load())
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if stats, err := st.rooms[0].Stats(ctx, zone); err == nil {
		s.Waiting, s.Inside = int(stats.Waiting), stats.Inside
	}
	return s
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

// warnings collects the log lines of the room, the middleware and the
// proxies: counted for the report, the first few kept.
type warnings struct {
	mu    sync.Mutex
	n     int
	first []string
}

func (w *warnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n++
	if len(w.first) < 5 {
		w.first = append(w.first, string(p))
	}
	return len(p), nil
}

func (w *warnings) snapshot() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n, append([]string(nil), w.first...)
}

// debugLog, set by FLASHCROWD_DEBUG=1, gets a trace line each second and
// the first line jumps with both visitors' timelines.
var debugLog io.Writer

func init() {
	if os.Getenv("FLASHCROWD_DEBUG") != "" {
		debugLog = os.Stderr
	}
}

// quietLog drops net/http's server log (connections reset at the end of a
// run).
var quietLog = log.New(io.Discard, "", 0)

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
