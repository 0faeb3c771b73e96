package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// This file holds the notifier: the waiting pages' open push connections
// (their transports are in stream.go) and what tells them of changes.
//
// Cost. A connection costs no store work between its heartbeats: its
// position is derived from the change feed. The store numbers each place
// (Place.Seq) and counts Ahead as the distance to the head of the line,
// and only Exchange moves the head, letting the first in line in or
// skipping it, each with an event that carries its queue number. So a
// waiting visitor's Ahead is at most Seq-passed-1, passed being the highest
// queue number let in or skipped, and at most what the store last said:
// the smaller of the two is never below the truth, whatever the order in
// which a store read and the feed's events arrive. Every AbandonAfter/4
// (Room clock) the connection calls Room.Heartbeat, one store write: what
// the store says is read when the connection opens (Room.Status), and again
// only when the feed says the place ended, lost events or the zone changed,
// or a heartbeat finds no place.
//
// Failures. A heartbeat that fails is tried again a few seconds later. The
// page is told the store is unavailable only when the place has gone
// unheard for half the abandonment timeout, when it is at risk: a store
// slowed for seconds by a crowd's arrival costs the waiting pages nothing
// they can see, and an outage shows within AbandonAfter/2.
//
// Coalescing. The feed's events only update a zone's passed mark and flag
// the zone; the notifier's goroutine wakes the zone's connections once per
// push interval, however many events came, and each sends one frame if its
// report changed. A visitor's own admission wakes its connections at once.
//
// Pacing. A page far back in a long line does not need four frames a
// second: after a position update a connection sleeps through the line's
// moves for a quarter of its shortest wait (ETA low), between the push
// interval and maxMovePace. A visitor a minute from its turn hears of the
// line every 15 seconds, one a second away every push interval; the turn
// itself is never paced. So 100,000 open pages cost tens of thousands of
// frames a second rather than 400,000, and the connections skipped by a
// wake are woken by the keepalive tick once they are due.

// Push connection timings (real time: the connections' own keepalive).
const (
	keepAliveTick   = 250 * time.Millisecond // how often the notifier checks for due heartbeats and pings
	pingInterval    = 20 * time.Second       // websocket ping, at most; never more than AbandonAfter/2
	pingTimeout     = 10 * time.Second       // a pong later than this ends the connection
	statusTimeout   = 5 * time.Second        // one heartbeat's store call
	eventsLifetime  = 30 * time.Second       // an event stream ends after this, at most AbandonAfter/2; the browser reconnects
	eventsRetry     = 1000                   // milliseconds before an EventSource reconnects
	finalLinger     = 5 * time.Second        // after the final report, how long the client has to close first
	minStreamPeriod = time.Second
	maxMovePace     = 15 * time.Second // the longest sleep through the line's moves
	resyncSpread    = 5 * time.Second  // the connections' store calls after lost events are spread over this
)

// writeTimeout is how long a frame may take to be written before the
// connection ends (a variable for tests of the deadline itself).
var writeTimeout = 10 * time.Second

// Reasons a connection's serving loop ends.
type ending uint8

const (
	endClient   ending = iota + 1 // the client went away or failed a ping or a write
	endServer                     // the Handler, the Room or the server closes
	endFinal                      // the final report (turn, sale ended) was sent
	endLifetime                   // an event stream's lifetime is over
)

// Watcher flags: what woke a connection's loop.
const (
	flagMoved    uint32 = 1 << iota // the line moved: derive the standing again
	flagAdmitted                    // the visitor's turn came
	flagStatus                      // ask the Room for the standing (the zone changed, the place ended)
	flagBeat                        // the heartbeat is due
	flagPing                        // the connection's keepalive is due
	flagEnd                         // an event stream's lifetime is over
)

// push is the notifier of one edge.
type push struct {
	e *edge

	mu        sync.RWMutex
	closed    bool
	watchers  map[*watcher]struct{}
	byVisitor map[visitorKey][]*watcher
	zones     map[string]*pushZone
	perIP     map[string]int
	count     atomic.Int64 // len(watchers), read by onEvent without the lock

	wg      sync.WaitGroup // the notifier's goroutine and every connection's loop
	started bool           // the goroutine runs; under mu
	poke    chan struct{}  // a zone was flagged
	quit    chan struct{}  // closed when the notifier closes
	servers sync.Map       // *http.Server -> struct{}: shutdown hook registered

	frames atomic.Int64 // frames sent, for tests
}

// pushZone is the notifier's view of one zone.
type pushZone struct {
	passed   atomic.Uint64 // highest queue number let in or skipped
	dirty    atomic.Bool   // the line moved since the last wake
	moves    atomic.Uint64 // wakes for moves of the line so far
	watchers map[*watcher]struct{}
}

func newPush(e *edge) *push {
	return &push{
		e: e, watchers: make(map[*watcher]struct{}), byVisitor: make(map[visitorKey][]*watcher),
		zones: make(map[string]*pushZone), perIP: make(map[string]int),
		poke: make(chan struct{}, 1), quit: make(chan struct{}),
	}
}

// watcher is one open push connection of a waiting visitor.
type watcher struct {
	p       *push
	zone    string
	visitor waitroom.Visitor
	ip      string
	ret     string // the visitor's return URL
	events  bool   // an event stream (else a websocket)
	pz      *pushZone

	wake   chan struct{} // cap 1
	flags  atomic.Uint32
	ctx    context.Context // the connection's: ends with it, or when the server side ends it
	cancel context.CancelCauseFunc

	lastBeat   atomic.Int64  // Room clock, unix ns, of the last heartbeat (Room.Heartbeat or Room.Status)
	beatOK     atomic.Int64  // Room clock, unix ns, of the last heartbeat the store took
	needStatus atomic.Bool   // the next heartbeat is a Room.Status: events were lost, or the last call failed
	abandon    atomic.Int64  // the zone's AbandonAfter
	nextPing   atomic.Int64  // real time, unix ns
	nextMove   atomic.Int64  // Room clock, unix ns: moves of the line wake it from then on
	seen       atomic.Uint64 // pushZone.moves when its report was last made
	endAt      atomic.Int64  // real time, unix ns: an event stream's end

	mu   sync.Mutex
	base base // what the Room said last, under mu

	last report // the last frame sent; the loop's own
	sent bool

	// turn is the report of the visitor's turn and its JSON, made when
	// the connection opens: a burst of admissions only writes them.
	turn    report
	turnMsg []byte
}

// base is a visitor's standing as the Room last reported it.
type base struct {
	standing
	seq         uint64
	at          time.Time // Room clock of the report
	unavailable bool      // the last Room.Status failed
}

func (w *watcher) signal(f uint32) {
	w.flags.Or(f)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Causes of a watcher's context's end.
var (
	errGoingAway  = errors.New("server closing")
	errClientGone = errors.New("client gone")
)

func newWatcher(p *push, zone string, v waitroom.Visitor, ip, ret string, events bool) *watcher {
	w := &watcher{p: p, zone: zone, visitor: v, ip: ip, ret: ret, events: events, wake: make(chan struct{}, 1)}
	w.ctx, w.cancel = context.WithCancelCause(context.Background())
	return w
}

// stop ends the connection from the server side (going away).
func (w *watcher) stop() { w.cancel(errGoingAway) }

// pushRefusal is why a push connection is refused, with its status code.
type pushRefusal struct {
	code int
	msg  string
}

var (
	refusedClosed = &pushRefusal{http.StatusServiceUnavailable, "push connections are closed"}
	refusedTotal  = &pushRefusal{http.StatusServiceUnavailable, "too many connections"}
	refusedPerIP  = &pushRefusal{http.StatusTooManyRequests, "too many connections from this address"}
)

// add registers w, counting it against the caps, and starts the notifier's
// goroutine with the first connection. From here on the feed's events for
// w's visitor reach it.
func (p *push) add(w *watcher) *pushRefusal {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return refusedClosed
	case len(p.watchers) >= p.e.cfg.maxConns:
		return refusedTotal
	case p.perIP[w.ip] >= p.e.cfg.maxConnsPerIP:
		return refusedPerIP
	}
	pz := p.zones[w.zone]
	if pz == nil {
		pz = &pushZone{watchers: make(map[*watcher]struct{})}
		p.zones[w.zone] = pz
	}
	w.pz = pz
	pz.watchers[w] = struct{}{}
	p.watchers[w] = struct{}{}
	p.count.Store(int64(len(p.watchers)))
	p.perIP[w.ip]++
	k := visitorKey{w.zone, w.visitor.ID}
	p.byVisitor[k] = append(p.byVisitor[k], w)
	p.wg.Add(1)
	if !p.started {
		p.started = true
		p.wg.Add(1)
		go p.run()
	}
	return nil
}

// remove forgets w; its connection has ended.
func (p *push) remove(w *watcher) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.watchers[w]; !ok {
		return
	}
	delete(p.watchers, w)
	p.count.Store(int64(len(p.watchers)))
	if p.perIP[w.ip]--; p.perIP[w.ip] <= 0 {
		delete(p.perIP, w.ip)
	}
	k := visitorKey{w.zone, w.visitor.ID}
	ws := p.byVisitor[k]
	for i, o := range ws {
		if o == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(p.byVisitor, k)
	} else {
		p.byVisitor[k] = ws
	}
	delete(w.pz.watchers, w)
	if len(w.pz.watchers) == 0 {
		// Its passed mark goes too: a later connection starts from what
		// the store says, which is never below the truth.
		delete(p.zones, w.zone)
	}
	p.wg.Done()
}

// close ends every connection and the notifier's goroutine, waits for
// them, and refuses new connections.
func (p *push) close() {
	p.stopAll(true)
	p.wg.Wait()
}

// stopAll tells every open connection to close (going away); with final
// it also refuses new ones and stops the notifier's goroutine.
func (p *push) stopAll(final bool) {
	p.mu.Lock()
	if final {
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.closed = true
		close(p.quit)
	}
	ws := make([]*watcher, 0, len(p.watchers))
	for w := range p.watchers {
		ws = append(ws, w)
	}
	p.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// watchServer closes the connections when srv shuts down: a hijacked
// websocket is not the server's any more, and an event stream would hold
// Shutdown until its lifetime ends.
func (p *push) watchServer(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok || srv == nil {
		return
	}
	if _, loaded := p.servers.LoadOrStore(srv, struct{}{}); !loaded {
		srv.RegisterOnShutdown(func() { p.stopAll(false) })
	}
}

// run is the notifier's goroutine: it wakes the connections of zones whose
// line moved, at most once per push interval, and those whose heartbeat or
// keepalive is due. It ends when the notifier closes or the Room does.
func (p *push) run() {
	defer p.wg.Done()
	tick := time.NewTicker(keepAliveTick)
	defer tick.Stop()
	var flush *time.Timer
	var flushC <-chan time.Time
	defer func() {
		if flush != nil {
			flush.Stop()
		}
	}()
	for {
		select {
		case <-p.quit:
			return
		case <-p.e.room.Done():
			p.stopAll(true)
			return
		case <-tick.C:
			p.keepAlive(context.Background(), false)
		case <-p.poke:
			if flushC == nil {
				if flush == nil {
					flush = time.NewTimer(p.e.cfg.pushInterval)
				} else {
					flush.Reset(p.e.cfg.pushInterval)
				}
				flushC = flush.C
			}
		case <-flushC:
			flushC = nil
			p.wakeMoved()
		}
	}
}

// wakeMoved wakes the connections of the zones whose line moved, those
// whose pace allows it; keepAlive wakes the others when it does.
func (p *push) wakeMoved() {
	now := p.e.room.Now().UnixNano()
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, pz := range p.zones {
		if pz.dirty.Swap(false) {
			pz.moves.Add(1)
			for w := range pz.watchers {
				if now >= w.nextMove.Load() {
					w.signal(flagMoved)
				}
			}
		}
	}
}

// movePace is how long a connection whose report was just sent sleeps
// through the line's moves: a quarter of the visitor's shortest wait,
// within the push interval and maxMovePace.
func movePace(r *report, interval time.Duration) time.Duration {
	d := time.Duration(r.ETALowSeconds) * time.Second / 4
	return min(max(d, interval), max(maxMovePace, interval))
}

// keepAlive flags the connections whose heartbeat is due (a quarter of
// the zone's AbandonAfter since the last one, on the Room's clock), whose
// ping is due or whose lifetime is over, and those that a move of the line
// skipped and are now due. With now set, it runs the due
// heartbeats itself before it returns (tests), else the connections' loops
// run them.
func (p *push) keepAlive(ctx context.Context, now bool) {
	clock := p.e.room.Now().UnixNano()
	real := time.Now().UnixNano()
	var due []*watcher
	p.mu.RLock()
	for w := range p.watchers {
		last := w.lastBeat.Load()
		if last == 0 {
			continue // its connection is still opening
		}
		var f uint32
		if clock-last >= w.abandon.Load()/4 {
			f |= flagBeat
		}
		if w.seen.Load() < w.pz.moves.Load() && clock >= w.nextMove.Load() {
			f |= flagMoved
		}
		if w.events {
			if end := w.endAt.Load(); end != 0 && real >= end {
				f |= flagEnd
			}
		} else if next := w.nextPing.Load(); next != 0 && real >= next {
			f |= flagPing
		}
		if now && f&flagBeat != 0 {
			due = append(due, w)
			f &^= flagBeat
		}
		if f != 0 {
			w.signal(f)
		}
	}
	p.mu.RUnlock()
	for _, w := range due {
		w.heartbeat(ctx)
		w.signal(flagMoved)
	}
}

// onEvent learns of admissions and moves of the line from the change feed.
// It runs on the Room's feed goroutine: memory only, no waiting.
func (p *push) onEvent(ev waitroom.Event) {
	if p.count.Load() == 0 {
		return
	}
	switch ev.Kind {
	case waitroom.EventResync:
		// Events were lost: every connection asks the Room again, spread
		// over resyncSpread rather than all at once, which with 100,000
		// pages open would be as many store calls in one instant on a
		// store that is likely already behind.
		now := p.e.room.Now().UnixNano()
		p.mu.RLock()
		for _, pz := range p.zones {
			pz.passed.Store(0)
		}
		n, i := int64(len(p.watchers)), int64(0)
		for w := range p.watchers {
			beat := w.abandon.Load() / 4
			due := now - beat + min(beat, int64(resyncSpread))*i/n // keepAlive's heartbeat is due then
			w.needStatus.Store(true)
			for last := w.lastBeat.Load(); last > due && !w.lastBeat.CompareAndSwap(last, due); last = w.lastBeat.Load() {
			}
			i++
		}
		p.mu.RUnlock()
		return
	case waitroom.EventZone:
		// New settings (opening, rate) change every ETA.
		p.mu.RLock()
		if pz := p.zones[ev.Zone]; pz != nil {
			for w := range pz.watchers {
				w.signal(flagStatus)
			}
		}
		p.mu.RUnlock()
		return
	case waitroom.EventAdmitted, waitroom.EventAbandoned, waitroom.EventReleased, waitroom.EventExpired:
	default:
		return
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if ev.Kind == waitroom.EventAdmitted || ev.Kind == waitroom.EventAbandoned {
		if pz := p.zones[ev.Zone]; pz != nil {
			for q := pz.passed.Load(); ev.QueueSeq > q && !pz.passed.CompareAndSwap(q, ev.QueueSeq); q = pz.passed.Load() {
			}
			if !pz.dirty.Swap(true) {
				select {
				case p.poke <- struct{}{}:
				default:
				}
			}
		}
	}
	f := uint32(flagStatus) // its place ended otherwise: the Room tells what now
	if ev.Kind == waitroom.EventAdmitted {
		f = flagAdmitted
	}
	for _, w := range p.byVisitor[visitorKey{ev.Zone, ev.Visitor}] {
		w.signal(f)
	}
}

// start records what the Room said when the connection opened. Its last
// step, the first heartbeat's time, tells the notifier the connection is
// open.
func (w *watcher) start(out waitroom.Outcome, z waitroom.Zone) {
	now := w.p.e.room.Now()
	w.begin(z, now)
	w.apply(out, now)
	w.beatOK.Store(now.UnixNano())
	w.lastBeat.Store(now.UnixNano())
}

// startFrom is start with a standing the edge read at at, instead of a
// Room.Status of its own. Its heartbeats go on from the place's last one.
func (w *watcher) startFrom(s standing, at time.Time, z waitroom.Zone) {
	now := w.p.e.room.Now()
	w.begin(z, now)
	w.mu.Lock()
	w.base = base{standing: s, seq: s.seq, at: at}
	w.mu.Unlock()
	seen := s.seen
	if seen.IsZero() {
		seen = at.Add(-z.AbandonAfter / 4) // unknown: a heartbeat is due
	}
	w.beatOK.Store(seen.UnixNano())
	w.lastBeat.Store(seen.UnixNano())
}

// begin sets what every connection starts with: the turn's report, the
// zone's abandonment timeout, its keepalive and lifetime.
func (w *watcher) begin(z waitroom.Zone, now time.Time) {
	w.abandon.Store(int64(z.AbandonAfter))
	w.turn = w.p.e.pageData(w.ret, w.zone, standing{state: waitroom.StateAdmitted}, now).report()
	w.turnMsg, _ = json.Marshal(w.turn)
	real := time.Now()
	w.nextPing.Store(real.Add(pingEvery(z.AbandonAfter)).UnixNano())
	w.endAt.Store(real.Add(min(eventsLifetime, max(z.AbandonAfter/2, minStreamPeriod))).UnixNano())
}

// behind reports whether a place read while the zone's push state was
// since (see zoneState) is still waiting: the same push state has been
// there since, so every admission and skip of the feed after the read has
// raised its passed mark, and the mark is short of the place's queue
// number seq. An event it has not applied yet reaches the connection.
func (w *watcher) behind(since *pushZone, seq uint64) bool {
	if since == nil || w.pz != since {
		return false
	}
	p := w.pz.passed.Load()
	return p > 0 && p < seq
}

// zoneState returns the zone's push state, nil while no connection of the
// zone is open. A caller notes it before it reads a standing from the
// store (see watcher.behind).
func (p *push) zoneState(zone string) *pushZone {
	if p.count.Load() == 0 {
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.zones[zone]
}

func pingEvery(abandon time.Duration) time.Duration {
	return min(pingInterval, max(abandon/2, minStreamPeriod))
}

// apply records a Room report read at now.
func (w *watcher) apply(out waitroom.Outcome, now time.Time) {
	b := base{standing: standingOf(out), seq: out.Place.Seq, at: now}
	if b.state == waitroom.StateWaiting && out.Place.Seq > 0 {
		// A waiting place past the passed mark means the store's numbers
		// started again (its data was lost): the mark is wrong.
		if pz := w.pz; pz != nil {
			for p := pz.passed.Load(); p >= out.Place.Seq && !pz.passed.CompareAndSwap(p, out.Place.Seq-1); p = pz.passed.Load() {
			}
		}
	}
	w.mu.Lock()
	if w.base.state == waitroom.StateAdmitted && b.state == waitroom.StateWaiting && !now.After(w.base.at) {
		b = w.base // the feed's word is newer than a read that raced it
	}
	w.base = b
	w.mu.Unlock()
}

// refresh asks the Room for the visitor's standing; it counts as the
// visitor's heartbeat.
func (w *watcher) refresh(ctx context.Context) (closed bool) {
	room := w.p.e.room
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	now := room.Now()
	w.lastBeat.Store(now.UnixNano())
	out, err := room.Status(ctx, w.zone, w.visitor)
	if err != nil {
		if errors.Is(err, waitroom.ErrClosed) {
			return true
		}
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			w.p.e.logFailure(w.zone, err)
		}
		w.failed(now)
		return false
	}
	w.needStatus.Store(false)
	w.beatOK.Store(now.UnixNano())
	w.p.e.recovered()
	if z, ok := room.Zone(w.zone); ok {
		w.abandon.Store(int64(z.AbandonAfter))
	}
	w.apply(out, now)
	return false
}

// heartbeat keeps the visitor's place: Room.Heartbeat, one store write,
// unless events were lost, the last call failed, the sale has ended or
// the place is gone, when it asks Room.Status what the standing is now.
func (w *watcher) heartbeat(ctx context.Context) (closed bool) {
	room := w.p.e.room
	now := room.Now()
	if z, ok := room.Zone(w.zone); w.needStatus.Load() || (ok && !z.ClosesAt.IsZero() && !now.Before(z.ClosesAt)) {
		return w.refresh(ctx)
	}
	hctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	w.lastBeat.Store(now.UnixNano())
	err := room.Heartbeat(hctx, w.zone, w.visitor)
	switch {
	case err == nil:
		w.beatOK.Store(now.UnixNano())
		w.p.e.recovered()
		return false
	case errors.Is(err, waitroom.ErrClosed):
		return true
	case errors.Is(err, waitroom.ErrNotQueued), errors.Is(err, waitroom.ErrZoneNotFound):
		return w.refresh(ctx) // abandoned, released or gone: Status says what now
	}
	if hctx.Err() == nil || !errors.Is(err, context.Canceled) {
		w.p.e.logFailure(w.zone, err)
	}
	if now.UnixNano()-w.beatOK.Load() < w.abandon.Load()/2 {
		w.retryBeat(now) // the place is safe for a while yet
		return false
	}
	w.failed(now)
	return false
}

// failed shows a store failure to the page and asks again, with Status,
// in a few seconds rather than at the next heartbeat.
func (w *watcher) failed(now time.Time) {
	w.mu.Lock()
	w.base.unavailable = true
	w.mu.Unlock()
	w.needStatus.Store(true)
	w.retryBeat(now)
}

// retryBeat makes the next heartbeat due a few seconds after now.
func (w *watcher) retryBeat(now time.Time) {
	retry := now.Add(unavailableRetry*time.Second - time.Duration(w.abandon.Load())/4).UnixNano()
	w.lastBeat.Store(min(now.UnixNano(), retry))
}

// admitted records the visitor's turn, learnt from the feed.
func (w *watcher) admitted() {
	w.mu.Lock()
	w.base.state = waitroom.StateAdmitted
	w.base.unavailable = false
	w.base.at = w.p.e.room.Now()
	w.mu.Unlock()
}

// report is the visitor's standing at now: what the Room said, with the
// line's moves since then.
func (w *watcher) report(now time.Time) report {
	w.mu.Lock()
	b := w.base
	w.mu.Unlock()
	e := w.p.e
	switch {
	case b.unavailable:
		return report{State: stateUnavailable, Zone: w.zone, RetryAfterSeconds: unavailableRetry}
	case b.state == waitroom.StateAdmitted:
		return w.turn
	}
	s := b.standing
	if s.state == waitroom.StateWaiting {
		if passed := w.pz.passed.Load(); passed > 0 && b.seq > 0 {
			if passed >= b.seq {
				s.ahead = 0
			} else {
				s.ahead = min(s.ahead, int64(b.seq-passed-1))
			}
		}
		s.eta = scaleETA(b.eta, b.ahead, s.ahead, b.opensAt, b.at, now)
	}
	return e.pageData(w.ret, w.zone, s, now).report()
}

// final reports whether a report ends the connection: the visitor's turn,
// or the sale's end.
func (r *report) final() bool {
	return r.State != "waiting" && r.State != stateUnavailable
}

// frame returns the JSON of the visitor's report at now if it differs from
// the last one sent, else nil.
func (w *watcher) frame(now time.Time) (msg []byte, final bool) {
	r := w.report(now)
	if w.sent && r == w.last {
		return nil, false
	}
	b := w.turnMsg
	if r != w.turn || b == nil {
		var err error
		if b, err = json.Marshal(r); err != nil {
			return nil, false
		}
	}
	w.last, w.sent = r, true
	return b, r.final()
}

// scaleETA scales an ETA read for ahead0 places to ahead places at now:
// the wait after the opening is proportional to the places ahead (the
// Room's estimate is n/rate), the wait for the opening is counted again.
func scaleETA(e waitroom.ETA, ahead0, ahead int64, opensAt, at, now time.Time) waitroom.ETA {
	before := func(t time.Time) time.Duration {
		if opensAt.After(t) {
			return opensAt.Sub(t)
		}
		return 0
	}
	s0, s1 := before(at), before(now)
	if ahead == ahead0 && s0 == s1 {
		return e
	}
	k := float64(max(ahead, 0)+1) / float64(max(ahead0, 0)+1)
	f := func(d time.Duration) time.Duration {
		rest := max(d-s0, 0)
		v := s1.Seconds() + rest.Seconds()*k
		if v >= math.MaxInt64/float64(time.Second) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(math.Ceil(v)) * time.Second
	}
	return waitroom.ETA{Expected: f(e.Expected), Low: f(e.Low), High: f(e.High)}
}

// pushConn is the transport of one push connection.
type pushConn interface {
	// send writes one report, within writeTimeout. It does not stop when
	// the server closes: a write cut midway would drop the connection
	// without its close handshake, so the server's close waits for it.
	send(msg []byte) error
	// ping checks that the client is there (websocket); nil for streams.
	ping(ctx context.Context) error
	// context ends when the client has gone.
	context() context.Context
}

// serve runs a connection until it ends: it sends the first report at
// once, then one whenever the visitor's standing changes, and keeps the
// visitor's place alive with heartbeats. After the final report (the turn,
// the sale's end) it waits up to finalLinger for the client to close: the
// page closes as it leaves, and a burst of admissions is not slowed by as
// many closing handshakes.
func (w *watcher) serve(c pushConn) ending {
	defer w.cancel(nil)
	// The client's going ends the watcher's context: its store calls and
	// writes stop with it. AfterFunc starts no goroutine until then.
	defer context.AfterFunc(c.context(), func() { w.cancel(errClientGone) })()
	end := w.loop(c)
	if end != endFinal {
		return end
	}
	t := time.NewTimer(finalLinger)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
		if errors.Is(context.Cause(w.ctx), errGoingAway) {
			return endServer
		}
		return endClient
	case <-t.C:
		return endFinal
	}
}

func (w *watcher) loop(c pushConn) ending {
	room := w.p.e.room
	ctx := w.ctx
	ended := func() ending {
		if errors.Is(context.Cause(ctx), errGoingAway) {
			return endServer
		}
		return endClient
	}
	send := func() (ending, bool) {
		w.seen.Store(w.pz.moves.Load())
		now := room.Now()
		msg, final := w.frame(now)
		if msg == nil {
			return 0, false
		}
		if !final {
			w.nextMove.Store(now.Add(movePace(&w.last, w.p.e.cfg.pushInterval)).UnixNano())
		}
		w.p.frames.Add(1)
		if err := c.send(msg); err != nil {
			return ended(), true
		}
		if final {
			return endFinal, true
		}
		return 0, false
	}
	if end, done := send(); done {
		return end
	}
	for {
		select {
		case <-ctx.Done():
			return ended()
		case <-w.wake:
		}
		f := w.flags.Swap(0)
		if f&flagEnd != 0 {
			return endLifetime
		}
		if f&flagAdmitted != 0 {
			w.admitted()
		} else if f&flagStatus != 0 {
			if w.refresh(ctx) {
				return endServer
			}
			if ctx.Err() != nil {
				return ended()
			}
		} else if f&flagBeat != 0 {
			if w.heartbeat(ctx) {
				return endServer
			}
			if ctx.Err() != nil {
				return ended()
			}
		}
		if f&flagPing != 0 {
			w.nextPing.Store(time.Now().Add(pingEvery(time.Duration(w.abandon.Load()))).UnixNano())
			pctx, pcancel := context.WithTimeout(context.Background(), pingTimeout) // as for writes
			err := c.ping(pctx)
			pcancel()
			if err != nil {
				return ended()
			}
		}
		if end, done := send(); done {
			return end
		}
	}
}
