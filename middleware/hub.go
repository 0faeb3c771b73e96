package middleware

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// hub is the notifier of one edge: it holds the waiting pages' open push
// connections (watchers), learns of admissions and of the line's moves
// from the change feed, and wakes the connections they concern, coalesced
// and paced as the package documentation tells ("Live updates"). Its
// goroutine starts with the first connection and ends with close or the
// Room; it only touches memory, the watchers' own loops do the rest.
type hub struct {
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

// pushZone is the notifier's view of one zone's line: a zone's push state.
type pushZone struct {
	passed   atomic.Uint64 // highest queue number let in or skipped
	dirty    atomic.Bool   // the line moved since the last wake
	moves    atomic.Uint64 // wakes for moves of the line so far
	watchers map[*watcher]struct{}
}

func newHub(e *edge) *hub {
	return &hub{
		e: e, watchers: make(map[*watcher]struct{}), byVisitor: make(map[visitorKey][]*watcher),
		zones: make(map[string]*pushZone), perIP: make(map[string]int),
		poke: make(chan struct{}, 1), quit: make(chan struct{}),
	}
}

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
func (h *hub) add(w *watcher) *pushRefusal {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return refusedClosed
	case len(h.watchers) >= h.e.cfg.maxConns:
		return refusedTotal
	case h.perIP[w.ip] >= h.e.cfg.maxConnsPerIP:
		return refusedPerIP
	}
	pz := h.zones[w.zone]
	if pz == nil {
		pz = &pushZone{watchers: make(map[*watcher]struct{})}
		h.zones[w.zone] = pz
	}
	w.pz = pz
	pz.watchers[w] = struct{}{}
	h.watchers[w] = struct{}{}
	h.count.Store(int64(len(h.watchers)))
	if o := h.e.cfg.observer; o != nil {
		o.PushConnections(channel(w.events), 1)
	}
	h.perIP[w.ip]++
	k := visitorKey{w.zone, w.visitor.ID}
	h.byVisitor[k] = append(h.byVisitor[k], w)
	h.wg.Add(1)
	if !h.started {
		h.started = true
		h.wg.Add(1)
		go h.run()
	}
	return nil
}

// remove forgets w; its connection has ended.
func (h *hub) remove(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.watchers[w]; !ok {
		return
	}
	delete(h.watchers, w)
	h.count.Store(int64(len(h.watchers)))
	if o := h.e.cfg.observer; o != nil {
		o.PushConnections(channel(w.events), -1)
	}
	if h.perIP[w.ip]--; h.perIP[w.ip] <= 0 {
		delete(h.perIP, w.ip)
	}
	k := visitorKey{w.zone, w.visitor.ID}
	ws := h.byVisitor[k]
	for i, o := range ws {
		if o == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(h.byVisitor, k)
	} else {
		h.byVisitor[k] = ws
	}
	delete(w.pz.watchers, w)
	if len(w.pz.watchers) == 0 {
		// Its passed mark goes too: a later connection starts from what
		// the store says, which is never below the truth.
		delete(h.zones, w.zone)
	}
	h.wg.Done()
}

// close ends every connection and the notifier's goroutine, waits for
// them, and refuses new connections.
func (h *hub) close() {
	h.stopAll(true)
	h.wg.Wait()
}

// stopAll tells every open connection to close (going away); with final
// it also refuses new ones and stops the notifier's goroutine.
func (h *hub) stopAll(final bool) {
	h.mu.Lock()
	if final {
		if h.closed {
			h.mu.Unlock()
			return
		}
		h.closed = true
		close(h.quit)
	}
	ws := make([]*watcher, 0, len(h.watchers))
	for w := range h.watchers {
		ws = append(ws, w)
	}
	h.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// watchServer closes the connections when srv shuts down: a hijacked
// websocket is not the server's any more, and an event stream would hold
// Shutdown until its lifetime ends.
func (h *hub) watchServer(r *http.Request) {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	if !ok || srv == nil {
		return
	}
	if _, loaded := h.servers.LoadOrStore(srv, struct{}{}); !loaded {
		srv.RegisterOnShutdown(func() { h.stopAll(false) })
	}
}

// wallTicker is the notifier's tick (config.ticker): a time.Ticker.
func wallTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// run is the notifier's goroutine: it wakes the connections of zones whose
// line moved, at most once per push interval, and every keepAliveTick
// those whose heartbeat, ping or end is due. It ends when the notifier
// closes or the Room does.
func (h *hub) run() {
	defer h.wg.Done()
	tick, stop := h.e.cfg.ticker(keepAliveTick)
	defer stop()
	var flush *time.Timer
	var flushC <-chan time.Time
	defer func() {
		if flush != nil {
			flush.Stop()
		}
	}()
	for {
		select {
		case <-h.quit:
			return
		case <-h.e.room.Done():
			h.stopAll(true)
			return
		case <-tick:
			h.flagDue(false)
		case <-h.poke:
			if flushC == nil {
				if flush == nil {
					flush = time.NewTimer(h.e.cfg.pushInterval)
				} else {
					flush.Reset(h.e.cfg.pushInterval)
				}
				flushC = flush.C
			}
		case <-flushC:
			flushC = nil
			h.wakeMoved()
		}
	}
}

// wakeMoved wakes the connections of the zones whose line moved, those
// whose pace allows it; flagDue wakes the others when it does.
func (h *hub) wakeMoved() {
	now := h.e.room.Now().UnixNano()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, pz := range h.zones {
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

// keepAlive runs the due heartbeats of the connections itself, flags what
// else is due (flagDue), and returns when the heartbeats are done: what
// the notifier's tick starts, for tests on a manual clock.
func (h *hub) keepAlive(ctx context.Context) {
	for _, w := range h.flagDue(true) {
		w.heartbeat(ctx)
		w.signal(flagMoved)
	}
}

// flagDue flags the connections whose heartbeat is due (a quarter of the
// zone's AbandonAfter since the last one), whose ping is due or whose
// lifetime is over, and those that a move of the line skipped and are now
// due, all on the Room's clock; their loops act on the flags. With
// takeBeats, the connections whose heartbeat is due are returned instead
// of flagged for it.
func (h *hub) flagDue(takeBeats bool) []*watcher {
	now := h.e.room.Now().UnixNano()
	var due []*watcher
	h.mu.RLock()
	defer h.mu.RUnlock()
	for w := range h.watchers {
		last := w.lastBeat.Load()
		if last == 0 {
			continue // its connection is still opening
		}
		var f uint32
		if now-last >= w.abandon.Load()/4 {
			f |= flagBeat
		}
		if w.seen.Load() < w.pz.moves.Load() && now >= w.nextMove.Load() {
			f |= flagMoved
		}
		if w.events {
			if end := w.endAt.Load(); end != 0 && now >= end {
				f |= flagEnd
			}
		} else if next := w.nextPing.Load(); next != 0 && now >= next {
			f |= flagPing
		}
		if takeBeats && f&flagBeat != 0 {
			due = append(due, w)
			f &^= flagBeat
		}
		if f != 0 {
			w.signal(f)
		}
	}
	return due
}

// onEvent learns of admissions and moves of the line from the change feed.
// It runs on the Room's feed goroutine: memory only, no waiting.
func (h *hub) onEvent(ev waitroom.Event) {
	if h.count.Load() == 0 {
		return
	}
	switch ev.Kind {
	case waitroom.EventResync:
		h.resync()
		return
	case waitroom.EventZone, waitroom.EventDrawn:
		// New settings (opening, rate) change every ETA; a draw gives
		// every place a new number, so the passed mark starts again.
		h.mu.RLock()
		if pz := h.zones[ev.Zone]; pz != nil {
			if ev.Kind == waitroom.EventDrawn {
				pz.passed.Store(0)
			}
			for w := range pz.watchers {
				w.signal(flagStatus)
			}
		}
		h.mu.RUnlock()
		return
	case waitroom.EventAdmitted, waitroom.EventAbandoned, waitroom.EventReleased, waitroom.EventExpired:
	default:
		return
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if ev.Kind == waitroom.EventAdmitted || ev.Kind == waitroom.EventAbandoned {
		if pz := h.zones[ev.Zone]; pz != nil {
			for q := pz.passed.Load(); ev.QueueSeq > q && !pz.passed.CompareAndSwap(q, ev.QueueSeq); q = pz.passed.Load() {
			}
			if !pz.dirty.Swap(true) {
				select {
				case h.poke <- struct{}{}:
				default:
				}
			}
		}
	}
	f := uint32(flagStatus) // its place ended otherwise: the Room tells what now
	if ev.Kind == waitroom.EventAdmitted {
		f = flagAdmitted
	}
	for _, w := range h.byVisitor[visitorKey{ev.Zone, ev.Visitor}] {
		w.signal(f)
	}
}

// resync follows lost events: every connection asks the Room again, spread
// over resyncSpread rather than all at once, which with 100,000 pages open
// would be as many store calls in one instant on a store that is likely
// already behind.
func (h *hub) resync() {
	now := h.e.room.Now().UnixNano()
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, pz := range h.zones {
		pz.passed.Store(0)
	}
	n, i := int64(len(h.watchers)), int64(0)
	for w := range h.watchers {
		beat := w.abandon.Load() / 4
		due := now - beat + min(beat, int64(resyncSpread))*i/n // flagDue finds its heartbeat due then
		w.needStatus.Store(true)
		for last := w.lastBeat.Load(); last > due && !w.lastBeat.CompareAndSwap(last, due); last = w.lastBeat.Load() {
		}
		i++
	}
}

// zoneState returns the zone's push state, nil while no connection of the
// zone is open. A caller notes it before it reads a standing from the
// store (see watcher.behind).
func (h *hub) zoneState(zone string) *pushZone {
	if h.count.Load() == 0 {
		return nil
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.zones[zone]
}
