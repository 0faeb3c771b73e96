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
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

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
	if cfg.Sim {
		return RunSim(ctx, cfg)
	}
	cfg = cfg.ownZone()
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
	d := newCrowdDraw(cfg)
	vs := make([]*virtualVisitor, cfg.Visitors)
	for i := range vs {
		arrival, think, release := d.next()
		vs[i] = &virtualVisitor{idx: i, arrival: arrival, think: think, release: release}
	}
	return vs
}

// crowdDraw draws the crowd's visitors one after the other from cfg.Seed:
// a live run and a simulated one with the same seed have the same crowd.
type crowdDraw struct {
	cfg Config
	r   *rand.Rand
	i   int
}

func newCrowdDraw(cfg Config) *crowdDraw {
	return &crowdDraw{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))}
}

// next draws the next visitor: its arrival after the start of the run
// (evenly over the window, or by the ramp), its think time and whether it
// releases its slot. Arrivals come in order.
func (d *crowdDraw) next() (arrival, think time.Duration, release bool) {
	cfg := d.cfg
	f := (float64(d.i) + d.r.Float64()) / float64(cfg.Visitors) // in [i/n, (i+1)/n)
	d.i++
	if cfg.Profile == "ramp" {
		// Arrivals per second grow linearly: the i-th arrives at
		// W·sqrt(i/n).
		f = math.Sqrt(f)
	}
	arrival = time.Duration(f * float64(cfg.Window))
	think = time.Duration((0.5 + d.r.Float64()) * float64(cfg.Think))
	release = d.r.Float64() < cfg.ReleaseShare
	return arrival, think, release
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
