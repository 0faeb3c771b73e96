package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/waitroomtest"
)

// This file holds the simulation (Config.Sim): the sale on a virtual
// clock, in process and without sockets. The Rooms run over the real
// store (memory, Redis, DynamoDB) with the clock injected
// (waitroom.WithClock) and step by hand (waitroom.WithManualStep): at each
// tick of the virtual clock every Room makes the exchange step its
// exchanger would make, and hands the change feed's events to the
// simulation. Each visitor makes the calls its page makes, on the Room's
// API (the visit protocol, visit.go): it arrives (Visit: direct entry, or
// else a place in line, one batched call); while it waits, its open page
// sends a heartbeat every quarter of AbandonAfter (Heartbeat, batched);
// told of its turn by the feed, it claims its slot ClaimDelay later
// (Claim), stays its think time and leaves, releasing its slot (Release)
// or letting it leak at the end of its session. Virtual time moves in
// steps of Config.Quantum; the calls due in one step are made together by
// Config.Workers callers, so that the Room batches them as it batches a
// crowd's. A step's virtual time does not pass while its calls run, so
// the figures are the library's, whatever the machine's load: a million
// visitors cost only the calls they make.
//
// This file holds the run and its state; virtualcalls.go the visitors'
// calls, virtualpool.go the callers who make them, virtualfeed.go the
// exchange steps and the change feed's view, virtualfigures.go the
// figures the run is measured by.

// simStart is the sale's start on the virtual clock.
var simStart = waitroomtest.Start

// visitorIDLen is the length of a visitor id (waitroom.NewVisitorID: 16
// random bytes in base64url). A simulated visitor keeps its id in place,
// so that the crowd's own memory is allocated before the run and the
// heap's growth is the store's.
const visitorIDLen = 22

// simState is where a simulated visitor stands.
type simState uint8

const (
	simPending  simState = iota // not arrived yet
	simWaiting                  // in line
	simAdmitted                 // let in, its claim to come
	simInside                   // claimed, or entered directly: in checkout
	simDone                     // left, or saw the sale closed
	simFailed                   // gave up after errors
)

// simVisitor is one simulated visitor.
type simVisitor struct {
	arrival  time.Duration // after the sale's start
	think    time.Duration // time spent in checkout
	admitted time.Duration // when the feed let it in (or it entered); -1 before
	id       [visitorIDLen]byte
	state    simState
	release  bool // leaves by releasing its slot; else lets it leak
	direct   bool // entered on its first request
	failures uint8
}

// simTask is one call a visitor makes.
type simTask struct {
	idx  int32
	kind uint8
}

// The calls a simulated visitor makes.
const (
	taskArrive    uint8 = iota // Visit, as a newcomer
	taskHeartbeat              // Heartbeat, its page's
	taskClaim                  // Claim, told of its turn
	taskLeave                  // the end of its think time: Release, or nothing
)

// beatRange is the visitors who arrived in one quantum, beating together.
type beatRange struct{ lo, hi int32 }

// simRun is one simulation.
type simRun struct {
	cfg   Config
	ctx   context.Context
	clock *waitroomtest.Clock
	rooms []*waitroom.Room
	zone  string
	vs    []simVisitor
	next  atomic.Uint64 // round robin over the rooms

	q      time.Duration // Config.Quantum
	k      int64         // the current quantum: now is simStart + k·q
	seqIdx []int32       // queue number -> visitor index + 1 (0: unknown)

	mu       sync.Mutex          // guards what the callers share below
	seqMore  map[uint64]int32    // queue numbers past seqIdx (visitors queued again)
	wheel    [][]simTask         // claims and leavings, by quantum mod len
	beats    [][]beatRange       // heartbeat ranges, by arrival quantum mod beatEvery
	errs     []string            // the first errors
	requeued int                 // visitors queued again (claim window passed)
	later    map[int64][]simTask // calls put off past the wheel's reach
	holdSec  []holdSum           // slot holds by the second of the admission

	waiting   atomic.Int64 // visitors in line, as the crowd knows it
	inOrigin  atomic.Int64 // visitors in checkout
	maxOrigin atomic.Int64
	finished  atomic.Int64 // visitors done with the sale
	errors    atomic.Int64 // calls that failed
	calls     atomic.Int64 // calls made
	holdNanos atomic.Int64 // slot hold times, summed (admission to release or leak)
	holds     atomic.Int64
	closed    atomic.Int64
	failed    atomic.Int64

	// The feed's view, kept by the Step's goroutine only.
	keys       []arrivalKey // arrival keys of the admissions, in feed order
	maxSeq     uint64
	inside     int // slots held, by the feed
	maxInside  int
	abandoned  int
	perQuantum []int32   // admissions by quantum
	lineAt     []uint8   // per second: seenLine, seenEmpty (ticks that found a line, and none)
	fill       []holdSum // per second: slots held after each step that found a line, over the capacity
	lastAdmit  int64     // quantum of the last admission
}

// Flags of simRun.lineAt.
const (
	seenLine  uint8 = 1 << iota // a tick of the second found visitors in line
	seenEmpty                   // a tick of the second found nobody in line
)

// RunSim runs the sale described by cfg (cfg.Sim) on a virtual clock and
// measures it.
func RunSim(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg.Sim = true
	cfg = cfg.ownZone()
	wallStart := time.Now()
	warn := &warnings{}
	logger := slog.New(slog.NewTextHandler(warn, &slog.HandlerOptions{Level: slog.LevelWarn}))

	s := &simRun{cfg: cfg, ctx: ctx, clock: waitroomtest.NewClock(simStart), zone: cfg.Zone, q: cfg.Quantum,
		seqMore: make(map[uint64]int32), later: make(map[int64][]simTask)}
	stores, keys, cleanup, err := openStores(ctx, cfg.Store, cfg.Instances, true)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	var calls storeCalls
	for i, st := range stores {
		if cfg.wrapStore != nil {
			st = cfg.wrapStore(st)
		}
		counting, counted := waitroomtest.Counting(st)
		calls = append(calls, counted)
		room, err := waitroom.New(counting, waitroom.WithZone(cfg.zone()), waitroom.WithLogger(logger),
			waitroom.WithClock(s.clock.Now), waitroom.WithManualStep(), waitroom.WithTick(cfg.Tick),
			waitroom.WithExchangeLimit(cfg.ExchangeLimit), waitroom.WithKeys(keys))
		if err != nil {
			for _, r := range s.rooms {
				r.Close()
			}
			if cfg.Instances > 1 && storeLabel(cfg.Store) == "memory" {
				stores[0].Close()
			} else {
				for _, st := range stores[i:] {
					st.Close()
				}
			}
			return nil, err
		}
		s.rooms = append(s.rooms, room)
	}
	defer func() {
		for _, r := range s.rooms {
			r.Close()
		}
	}()
	unsubscribe := s.rooms[0].Subscribe(s.onEvent)
	defer unsubscribe()
	meter := newStoreMeter(stores)

	// The crowd, drawn and laid out before the run: what the heap gains
	// from here is the store's and the Room's.
	s.vs = make([]simVisitor, cfg.Visitors)
	d := newCrowdDraw(cfg)
	for i := range s.vs {
		v := &s.vs[i]
		v.arrival, v.think, v.release = d.next()
		v.admitted = -1
	}
	s.seqIdx = make([]int32, cfg.Visitors+1)
	s.keys = make([]arrivalKey, 0, cfg.Visitors)
	reach := max(cfg.ClaimDelay+cfg.ClaimDelay/2, cfg.Think+cfg.Think/2) + 2*s.q
	s.wheel = make([][]simTask, int(reach/s.q)+2)
	beatEvery := max(int64(cfg.zone().AbandonAfter/4/s.q), 1)
	s.beats = make([][]beatRange, beatEvery)
	ticks := int64(cfg.Tick / s.q)
	sampleEvery := s.sampleEvery()
	pool := newSimPool(cfg.Workers, s.do)
	defer pool.close()

	res := &Result{Config: cfg, Started: simStart, MaxOriginConcurrency: -1, OriginVisitors: -1, InsideAtEnd: -1}
	fig := &simFigures{WallStart: wallStart, HeapPerWaiting: -1, RedisCPUPerVisitor: -1, RedisMemoryPerWaiting: -1,
		DynamoReadPerVisitor: -1, DynamoWritePerVisitor: -1}
	res.Sim = fig
	runtime.GC()
	heapBase := heapInUse()
	meter.start(ctx)

	bar := newProgress(cfg.Progress, cfg.Visitors)
	bar.wall = wallStart
	var tasks []simTask
	var arrived int
	stallQuanta := int64(cfg.Stall / s.q)
	timeoutQuanta := int64(cfg.Timeout / s.q)
	for res.EndReason == "" {
		s.k++
		k := s.k
		now := simStart.Add(time.Duration(k) * s.q)
		s.clock.Set(now)
		tasks = s.due(tasks[:0], k, &arrived, beatEvery)
		pool.run(tasks)
		if k%ticks == 0 {
			s.step(k)
		}
		if arrived == cfg.Visitors && fig.PeakWaiting == 0 {
			// Every visitor has arrived: the line is at its longest.
			s.measurePeak(fig, meter, heapBase)
		}
		if k%sampleEvery == 0 {
			smp := s.sample(now, arrived)
			res.Samples = append(res.Samples, smp)
			bar.show(smp, int(s.finished.Load()), s.errors.Load(), now.Sub(simStart))
		}
		switch {
		case s.finished.Load() == int64(cfg.Visitors):
			res.EndReason = "done"
		case ctx.Err() != nil:
			res.EndReason = "interrupted"
		case k >= timeoutQuanta:
			res.EndReason = "timeout"
		case arrived == cfg.Visitors && s.waiting.Load() > 0 && k-s.lastAdmit > stallQuanta:
			res.EndReason = "stalled"
		}
	}
	end := simStart.Add(time.Duration(s.k) * s.q)
	final := s.sample(end, arrived)
	res.Samples = append(res.Samples, final)
	bar.done(final, int(s.finished.Load()), s.errors.Load(), end.Sub(simStart))
	res.InsideAtEnd = final.Inside
	res.Duration = end.Sub(simStart)
	meter.stop(ctx, fig, cfg.Visitors)
	fig.WallDuration = time.Since(wallStart)
	res.StoreCalls, res.VisitorStoreCalls, res.StoreCallsByOp = calls.count(), calls.byVisitors(), calls.String()
	fig.StoreOperations = calls.count() - calls.count("Batch") + calls.batched()
	res.Warnings, res.FirstWarnings = warn.snapshot()
	if err := ctx.Err(); err != nil && res.EndReason == "interrupted" {
		return res, fmt.Errorf("waitroom: flashcrowd: interrupted: %w", err)
	}
	s.measure(res)
	return res, nil
}

// sampleEvery is the quanta between two samples of the room: the
// configured resolution, coarser for a long sale so that the chart stays
// a few thousand points.
func (s *simRun) sampleEvery() int64 {
	expected := s.cfg.Window + time.Duration(float64(s.cfg.Visitors)/
		min(s.cfg.Rate, s.cfg.slotBound(s.cfg.expectedHold()))*float64(time.Second))
	every := max(s.cfg.SampleEvery, expected/2000)
	return max(int64(every/s.cfg.Tick), 1) * int64(s.cfg.Tick/s.q)
}
