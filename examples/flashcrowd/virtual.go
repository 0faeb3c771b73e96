package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
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

// holdSum adds up values of one second: slot holds in nanoseconds, or the
// bucket's fill.
type holdSum struct {
	sum float64
	n   int
}

// add adds v to the second sec of sums.
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

// due lists the calls due in quantum k: arrivals, the heartbeats of those
// who arrived a multiple of the heartbeat period ago and still wait, the
// claims and the ends of the think times.
func (s *simRun) due(tasks []simTask, k int64, arrived *int, beatEvery int64) []simTask {
	until := time.Duration(k) * s.q
	lo := *arrived
	for *arrived < len(s.vs) && s.vs[*arrived].arrival < until {
		tasks = append(tasks, simTask{int32(*arrived), taskArrive})
		*arrived++
	}
	s.mu.Lock()
	slot := k % beatEvery
	ranges := s.beats[slot][:0]
	for _, r := range s.beats[slot] {
		for r.lo < r.hi && s.vs[r.lo].state != simWaiting {
			r.lo++
		}
		for i := r.lo; i < r.hi; i++ {
			if s.vs[i].state == simWaiting {
				tasks = append(tasks, simTask{i, taskHeartbeat})
			}
		}
		if r.lo < r.hi {
			ranges = append(ranges, r)
		}
	}
	if *arrived > lo {
		// They beat one period from now.
		ranges = append(ranges, beatRange{int32(lo), int32(*arrived)})
	}
	s.beats[slot] = ranges
	w := &s.wheel[k%int64(len(s.wheel))]
	tasks = append(tasks, *w...)
	*w = (*w)[:0]
	if put, ok := s.later[k]; ok {
		tasks = append(tasks, put...)
		delete(s.later, k)
	}
	s.mu.Unlock()
	return tasks
}

// schedule puts a call at the quantum in which instant at falls (the
// next one at the earliest). The caller holds s.mu.
func (s *simRun) schedule(t simTask, at time.Duration) {
	k := max(int64((at+s.q-1)/s.q), s.k+1)
	if k-s.k >= int64(len(s.wheel)) {
		s.later[k] = append(s.later[k], t)
		return
	}
	w := &s.wheel[k%int64(len(s.wheel))]
	*w = append(*w, t)
}

// now is the virtual time of the current quantum, since the sale's start.
func (s *simRun) now() time.Duration { return time.Duration(s.k) * s.q }

// room picks the instance for the next call: a load balancer without
// stickiness.
func (s *simRun) room() *waitroom.Room {
	return s.rooms[s.next.Add(1)%uint64(len(s.rooms))]
}

// claimDelay is visitor i's way from its turn to its claim: uniform within
// ±50% of ClaimDelay, drawn from its index.
func (s *simRun) claimDelay(i int32) time.Duration {
	u := float64(mix64(uint64(i)^s.cfg.Seed<<32)>>11) / (1 << 53)
	return time.Duration((0.5 + u) * float64(s.cfg.ClaimDelay))
}

// mix64 is splitmix64's finaliser: a well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// do makes one visitor's call. Calls of different visitors run at once;
// one visitor has at most one call in a quantum.
func (s *simRun) do(t simTask) {
	v := &s.vs[t.idx]
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	switch t.kind {
	case taskArrive:
		out, err := s.room().Visit(ctx, s.zone, nil, true)
		if err != nil {
			s.fail(t, v, err)
			return
		}
		if len(out.Visitor.ID) != visitorIDLen {
			s.fail(t, v, fmt.Errorf("waitroom: flashcrowd: visitor id %q is not %d characters long", out.Visitor.ID, visitorIDLen))
			v.failures = uint8(s.cfg.MaxFailures)
			return
		}
		copy(v.id[:], out.Visitor.ID)
		s.placed(t.idx, v, out)
	case taskHeartbeat:
		if err := s.room().Heartbeat(ctx, s.zone, waitroom.Visitor{ID: string(v.id[:]), Zone: s.zone}); err != nil &&
			!errors.Is(err, waitroom.ErrNotQueued) {
			s.errors.Add(1)
			s.noteError(err)
		}
	case taskClaim:
		out, err := s.room().Claim(ctx, s.zone, s.visitor(v))
		if err != nil {
			s.fail(t, v, err)
			return
		}
		s.placed(t.idx, v, out)
	case taskLeave:
		if v.release {
			if _, err := s.room().Release(ctx, s.zone, string(v.id[:])); err != nil {
				s.fail(t, v, err)
				return
			}
		}
		v.state = simDone
		s.inOrigin.Add(-1)
		s.finished.Add(1)
	}
}

// visitor is v's visitor token, as its cookie holds it.
func (s *simRun) visitor(v *simVisitor) waitroom.Visitor {
	return waitroom.Visitor{ID: string(v.id[:]), Zone: s.zone, Arrived: simStart.Add(v.arrival)}
}

// placed records the outcome of a visit or a claim.
func (s *simRun) placed(i int32, v *simVisitor, out waitroom.Outcome) {
	now := s.now()
	switch out.State {
	case waitroom.StateInside:
		if v.state == simPending {
			v.direct, v.admitted = true, now
		}
		v.state = simInside
		n := s.inOrigin.Add(1)
		for m := s.maxOrigin.Load(); n > m && !s.maxOrigin.CompareAndSwap(m, n); m = s.maxOrigin.Load() {
		}
		hold := v.think
		if !v.release {
			hold = s.cfg.Session
		}
		s.holdNanos.Add(int64(now + hold - v.admitted))
		s.holds.Add(1)
		s.mu.Lock()
		addAt(&s.holdSec, int(v.admitted/time.Second), float64(now+hold-v.admitted))
		s.schedule(simTask{i, taskLeave}, now+v.think)
		s.mu.Unlock()
	case waitroom.StateWaiting:
		again := v.state != simPending
		v.state = simWaiting
		s.waiting.Add(1)
		seq := out.Place.Seq
		if seq < uint64(len(s.seqIdx)) {
			s.seqIdx[seq] = i + 1
		}
		if again || seq >= uint64(len(s.seqIdx)) {
			// Queued again (its claim window passed): its page beats
			// from now on.
			s.mu.Lock()
			if seq >= uint64(len(s.seqIdx)) {
				s.seqMore[seq] = i
			}
			if again {
				s.requeued++
				slot := s.k % int64(len(s.beats))
				s.beats[slot] = append(s.beats[slot], beatRange{i, i + 1})
			}
			s.mu.Unlock()
		}
	case waitroom.StateAdmitted:
		// A claim is not refused as admitted; try it again.
		s.mu.Lock()
		s.schedule(simTask{i, taskClaim}, now+s.q)
		s.mu.Unlock()
	default: // closed: the sale ended, or the line is full
		v.state = simDone
		s.closed.Add(1)
		s.finished.Add(1)
	}
}

// fail counts a failed call and tries it again in the next quantum, up to
// MaxFailures times in a row; then the visitor gives up.
func (s *simRun) fail(t simTask, v *simVisitor, err error) {
	s.errors.Add(1)
	s.noteError(err)
	v.failures++
	if int(v.failures) >= s.cfg.MaxFailures {
		if v.state == simWaiting {
			s.waiting.Add(-1)
		}
		if v.state == simInside {
			s.inOrigin.Add(-1)
		}
		v.state = simFailed
		s.failed.Add(1)
		s.finished.Add(1)
		return
	}
	s.mu.Lock()
	s.schedule(t, s.now()+s.q)
	s.mu.Unlock()
}

func (s *simRun) noteError(err error) {
	s.mu.Lock()
	if len(s.errs) < 5 {
		s.errs = append(s.errs, err.Error())
	}
	s.mu.Unlock()
}

// step makes every Room's exchange step at the tick of quantum k; the
// first Room's feed tells the simulation whom it let in (onEvent).
func (s *simRun) step(k int64) {
	sec := int(time.Duration(k) * s.q / time.Second)
	for len(s.lineAt) <= sec {
		s.lineAt = append(s.lineAt, 0)
	}
	line := s.waiting.Load() > 0
	if line {
		s.lineAt[sec] |= seenLine
	} else {
		s.lineAt[sec] |= seenEmpty
	}
	for _, r := range s.rooms {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		if err := r.Step(ctx); err != nil && s.ctx.Err() == nil {
			s.errors.Add(1)
			s.noteError(err)
		}
		cancel()
	}
	if line {
		addAt(&s.fill, sec, float64(s.inside)/float64(s.cfg.Capacity))
	}
}

// onEvent follows the change feed: admissions (the order, the rate, the
// claims they call for) and the slots held.
func (s *simRun) onEvent(ev waitroom.Event) {
	if ev.Zone != s.zone {
		return
	}
	at := ev.At.Sub(simStart)
	switch ev.Kind {
	case waitroom.EventAdmitted, waitroom.EventEntered:
		if ev.Kind == waitroom.EventAdmitted {
			s.keys = append(s.keys, arrivalKey{ev.QueueSeq, 0})
			s.admittedFromLine(ev, at)
		} else {
			s.keys = append(s.keys, arrivalKey{s.maxSeq, ev.Seq})
		}
		q := int(at / s.q)
		for len(s.perQuantum) <= q {
			s.perQuantum = append(s.perQuantum, 0)
		}
		s.perQuantum[q]++
		s.lastAdmit = s.k
		s.inside++
		s.maxInside = max(s.maxInside, s.inside)
	case waitroom.EventReleased, waitroom.EventExpired:
		if ev.TokenID != "" {
			s.inside--
		}
	case waitroom.EventAbandoned:
		s.abandoned++
	}
	s.maxSeq = max(s.maxSeq, ev.QueueSeq)
}

// admittedFromLine schedules the claim of the visitor the feed let in.
func (s *simRun) admittedFromLine(ev waitroom.Event, at time.Duration) {
	var i int32 = -1
	if ev.QueueSeq < uint64(len(s.seqIdx)) {
		i = s.seqIdx[ev.QueueSeq] - 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.seqMore[ev.QueueSeq]; ok {
		i = j
		delete(s.seqMore, ev.QueueSeq)
	}
	if i < 0 || s.vs[i].state != simWaiting {
		return
	}
	v := &s.vs[i]
	v.state, v.admitted = simAdmitted, at
	s.waiting.Add(-1)
	s.schedule(simTask{i, taskClaim}, at+s.claimDelay(i))
}

// sample reads the room's state at now.
func (s *simRun) sample(now time.Time, arrived int) sample {
	smp := sample{At: now, Arrived: arrived, Admitted: len(s.keys), Waiting: int(s.waiting.Load()),
		Inside: s.inside, InOrigin: int(s.inOrigin.Load())}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	if st, err := s.rooms[0].Stats(ctx, s.zone); err == nil {
		smp.Waiting, smp.Inside = int(st.Waiting), st.Inside
	}
	return smp
}

// measurePeak measures the memory the line takes once every visitor has
// arrived: the heap's growth over the waiting places (memory store) or
// Redis's used_memory's.
func (s *simRun) measurePeak(fig *simFigures, meter *storeMeter, heapBase uint64) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.rooms[0].Stats(ctx, s.zone)
	if err != nil || st.Waiting == 0 {
		fig.PeakWaiting = -1
		return
	}
	fig.PeakWaiting = st.Waiting
	fig.PeakAt = s.now()
	if storeLabel(s.cfg.Store) == "memory" {
		runtime.GC()
		fig.HeapPerWaiting = (float64(heapInUse()) - float64(heapBase)) / float64(st.Waiting)
	}
	meter.peak(ctx, fig, st.Waiting)
}

// heapInUse is the bytes of live heap objects (after a collection).
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// simPool is the simulation's callers: workers that make one quantum's
// calls at once.
type simPool struct {
	do    func(simTask)
	wake  []chan struct{}
	tasks []simTask
	next  atomic.Int64
	wg    sync.WaitGroup
}

func newSimPool(workers int, do func(simTask)) *simPool {
	p := &simPool{do: do, wake: make([]chan struct{}, workers)}
	for i := range p.wake {
		p.wake[i] = make(chan struct{})
		go p.work(p.wake[i])
	}
	return p
}

func (p *simPool) work(wake chan struct{}) {
	for range wake {
		for {
			i := p.next.Add(1) - 1
			if i >= int64(len(p.tasks)) {
				break
			}
			p.do(p.tasks[i])
		}
		p.wg.Done()
	}
}

// run makes the calls, at most one worker per call, and returns when all
// are done.
func (p *simPool) run(tasks []simTask) {
	if len(tasks) == 0 {
		return
	}
	p.tasks = tasks
	p.next.Store(0)
	n := min(len(p.wake), len(tasks))
	p.wg.Add(n)
	for _, w := range p.wake[:n] {
		w <- struct{}{}
	}
	p.wg.Wait()
}

func (p *simPool) close() {
	for _, w := range p.wake {
		close(w)
	}
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
