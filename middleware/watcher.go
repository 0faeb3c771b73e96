package middleware

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// watcher is one open push connection of a waiting visitor: what it knows
// of the visitor's standing and the loop that keeps it true and tells the
// client. The notifier (hub) wakes it with flags; its loop (serve) acts on
// them: it keeps the visitor's place with heartbeats, asks the Room again
// when the feed says it must, derives the position from the line's moves
// in between, and sends a report whenever the report changes.
type watcher struct {
	h       *hub
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

	// Room clock, unix ns, all of them.
	lastBeat   atomic.Int64  // the last heartbeat (Room.Heartbeat or Room.Status)
	beatOK     atomic.Int64  // the last heartbeat the store took
	needStatus atomic.Bool   // the next heartbeat is a Room.Status: events were lost, or the last call failed
	abandon    atomic.Int64  // the zone's AbandonAfter (a duration)
	nextPing   atomic.Int64  // a websocket's next ping
	nextMove   atomic.Int64  // moves of the line wake it from then on
	seen       atomic.Uint64 // pushZone.moves when its report was last made (a count)
	endAt      atomic.Int64  // an event stream's end

	mu          sync.Mutex
	known       standing // what the Room (or the feed: the turn) said last, under mu
	unavailable bool     // the last Room call failed, under mu

	last report // the last frame sent; the loop's own
	sent bool

	// turn is the report of the visitor's turn and its JSON, made when
	// the connection opens: a burst of admissions only writes them.
	turn    report
	turnMsg []byte
}

// Watcher flags: what woke a connection's loop.
const (
	flagMoved    uint32 = 1 << iota // the line moved: derive the standing again
	flagAdmitted                    // the visitor's turn came
	flagStatus                      // ask the Room for the standing (the zone changed, the place ended)
	flagBeat                        // the heartbeat is due
	flagPing                        // the connection's keepalive is due
	flagEnd                         // an event stream's lifetime is over
)

// Reasons a connection's serving loop ends.
type ending uint8

const (
	endClient   ending = iota + 1 // the client went away or failed a ping or a write
	endServer                     // the Handler, the Room or the server closes
	endFinal                      // the final report (turn, sale ended) was sent
	endLifetime                   // an event stream's lifetime is over
)

// Causes of a watcher's context's end.
var (
	errGoingAway  = errors.New("server closing")
	errClientGone = errors.New("client gone")
)

func newWatcher(h *hub, zone string, v waitroom.Visitor, ip, ret string, events bool) *watcher {
	w := &watcher{h: h, zone: zone, visitor: v, ip: ip, ret: ret, events: events, wake: make(chan struct{}, 1)}
	w.ctx, w.cancel = context.WithCancelCause(context.Background())
	return w
}

// signal sets flags and wakes the loop.
func (w *watcher) signal(f uint32) {
	w.flags.Or(f)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// stop ends the connection from the server side (going away).
func (w *watcher) stop() { w.cancel(errGoingAway) }

// start records what the Room said when the connection opened. Its last
// step, the first heartbeat's time, tells the notifier the connection is
// open.
func (w *watcher) start(out waitroom.Outcome, z waitroom.Zone) {
	now := w.h.e.room.Now()
	w.begin(z, now)
	w.apply(out, now)
	w.beatOK.Store(now.UnixNano())
	w.lastBeat.Store(now.UnixNano())
}

// startFrom is start with a standing the edge cache read, instead of a
// Room.Status of its own. Its heartbeats go on from the place's last one.
func (w *watcher) startFrom(s standing, z waitroom.Zone) {
	now := w.h.e.room.Now()
	w.begin(z, now)
	w.mu.Lock()
	w.known = s
	w.mu.Unlock()
	seen := s.seen
	if seen.IsZero() {
		seen = s.at.Add(-z.AbandonAfter / 4) // unknown: a heartbeat is due
	}
	w.beatOK.Store(seen.UnixNano())
	w.lastBeat.Store(seen.UnixNano())
}

// begin sets what every connection starts with at now (Room clock): the
// turn's report, the zone's abandonment timeout, its next ping and its
// end.
func (w *watcher) begin(z waitroom.Zone, now time.Time) {
	w.abandon.Store(int64(z.AbandonAfter))
	w.turn = w.h.e.pageData(w.ret, w.zone, standing{state: waitroom.StateAdmitted}, now).report()
	w.turnMsg, _ = json.Marshal(w.turn)
	w.nextPing.Store(now.Add(pingEvery(z.AbandonAfter)).UnixNano())
	w.endAt.Store(now.Add(streamLifetime(z.AbandonAfter)).UnixNano())
}

// lifeLeft is how long the connection's lifetime runs from now (Room
// clock).
func (w *watcher) lifeLeft() time.Duration {
	return time.Duration(w.endAt.Load() - w.h.e.room.Now().UnixNano())
}

// behind reports whether a place read while the zone's push state was
// since (see hub.zoneState) is still waiting: the same push state has been
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

// apply records a Room report read at now.
func (w *watcher) apply(out waitroom.Outcome, now time.Time) {
	s := standingOf(out, now)
	if s.state == waitroom.StateWaiting && s.seq > 0 {
		// A waiting place past the passed mark means the store's numbers
		// started again (its data was lost): the mark is wrong.
		if pz := w.pz; pz != nil {
			for p := pz.passed.Load(); p >= s.seq && !pz.passed.CompareAndSwap(p, s.seq-1); p = pz.passed.Load() {
			}
		}
	}
	w.mu.Lock()
	// An admission the feed told of at or after now is newer than a read
	// that raced it: the feed's word stands.
	if !(w.known.state == waitroom.StateAdmitted && s.state == waitroom.StateWaiting && !now.After(w.known.at)) {
		w.known, w.unavailable = s, false
	}
	w.mu.Unlock()
}

// refresh asks the Room for the visitor's standing; it counts as the
// visitor's heartbeat.
func (w *watcher) refresh(ctx context.Context) (closed bool) {
	e := w.h.e
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	now := e.room.Now()
	w.lastBeat.Store(now.UnixNano())
	out, err := e.room.Status(ctx, w.zone, w.visitor)
	if err != nil {
		if errors.Is(err, waitroom.ErrClosed) {
			return true
		}
		if ctx.Err() == nil || !errors.Is(err, context.Canceled) {
			e.logFailure(w.zone, err)
		}
		w.failed(now)
		return false
	}
	w.needStatus.Store(false)
	w.beatOK.Store(now.UnixNano())
	e.recovered()
	if z, ok := e.room.Zone(w.zone); ok {
		w.abandon.Store(int64(z.AbandonAfter))
	}
	w.apply(out, now)
	return false
}

// heartbeat keeps the visitor's place: Room.Heartbeat, one store write,
// unless events were lost, the last call failed, the sale has ended or
// the place is gone, when it asks Room.Status what the standing is now.
func (w *watcher) heartbeat(ctx context.Context) (closed bool) {
	e := w.h.e
	now := e.room.Now()
	if z, ok := e.room.Zone(w.zone); w.needStatus.Load() || (ok && !z.ClosesAt.IsZero() && !now.Before(z.ClosesAt)) {
		return w.refresh(ctx)
	}
	hctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	w.lastBeat.Store(now.UnixNano())
	err := e.room.Heartbeat(hctx, w.zone, w.visitor)
	switch {
	case err == nil:
		w.beatOK.Store(now.UnixNano())
		e.recovered()
		return false
	case errors.Is(err, waitroom.ErrClosed):
		return true
	case errors.Is(err, waitroom.ErrNotQueued), errors.Is(err, waitroom.ErrZoneNotFound):
		return w.refresh(ctx) // abandoned, released or gone: Status says what now
	}
	if hctx.Err() == nil || !errors.Is(err, context.Canceled) {
		e.logFailure(w.zone, err)
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
	w.unavailable = true
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
	w.known.state = waitroom.StateAdmitted
	w.known.at = w.h.e.room.Now()
	w.unavailable = false
	w.mu.Unlock()
}

// report is the visitor's standing at now: what the Room said, with the
// line's moves since then.
func (w *watcher) report(now time.Time) report {
	w.mu.Lock()
	known, unavailable := w.known, w.unavailable
	w.mu.Unlock()
	switch {
	case unavailable:
		return report{State: stateUnavailable, Zone: w.zone, RetryAfterSeconds: unavailableRetry}
	case known.state == waitroom.StateAdmitted:
		return w.turn
	}
	s := known
	if s.state == waitroom.StateWaiting {
		if passed := w.pz.passed.Load(); passed > 0 && known.seq > 0 {
			if passed >= known.seq {
				s.ahead = 0
			} else {
				s.ahead = min(s.ahead, int64(known.seq-passed-1))
			}
		}
		s.eta = scaleETA(known.eta, known.ahead, s.ahead, known.opensAt, known.at, now)
	}
	return w.h.e.pageData(w.ret, w.zone, s, now).report()
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

// pushConn is the transport of one push connection (stream.go).
type pushConn interface {
	// send writes one report, within the write timeout. It does not stop
	// when the server closes: a write cut midway would drop the connection
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
		return w.ended()
	case <-t.C:
		return endFinal
	}
}

// ended is why the watcher's context ended.
func (w *watcher) ended() ending {
	if errors.Is(context.Cause(w.ctx), errGoingAway) {
		return endServer
	}
	return endClient
}

// loop sends the first report, then waits for flags and acts on them
// until the connection ends.
func (w *watcher) loop(c pushConn) ending {
	e := w.h.e
	ctx := w.ctx
	if end, done := w.send(c); done {
		return end
	}
	for {
		select {
		case <-ctx.Done():
			return w.ended()
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
				return w.ended()
			}
		} else if f&flagBeat != 0 {
			if w.heartbeat(ctx) {
				return endServer
			}
			if ctx.Err() != nil {
				return w.ended()
			}
		}
		if f&flagPing != 0 {
			w.nextPing.Store(e.room.Now().Add(pingEvery(time.Duration(w.abandon.Load()))).UnixNano())
			pctx, pcancel := context.WithTimeout(context.Background(), pingTimeout) // as for writes
			err := c.ping(pctx)
			pcancel()
			if err != nil {
				return w.ended()
			}
		}
		if end, done := w.send(c); done {
			return end
		}
	}
}

// send sends the visitor's report if it changed; done says the loop ends,
// for end.
func (w *watcher) send(c pushConn) (end ending, done bool) {
	e := w.h.e
	w.seen.Store(w.pz.moves.Load())
	now := e.room.Now()
	msg, final := w.frame(now)
	if msg == nil {
		return 0, false
	}
	if !final {
		w.nextMove.Store(now.Add(movePace(&w.last, e.cfg.pushInterval)).UnixNano())
	}
	w.h.frames.Add(1)
	if err := c.send(msg); err != nil {
		return w.ended(), true
	}
	if final {
		return endFinal, true
	}
	return 0, false
}
