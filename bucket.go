package waitroom

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the admission policy over the Store: the exchanger that
// moves the line into the leaky bucket, the reader that follows each zone's
// change feed, and the ETA a waiting visitor is shown.

// exchange runs one exchange step for zone at the Room's clock.
func (r *Room) exchange(ctx context.Context, zone string) (Exchange, error) {
	x, err := r.store.Exchange(ctx, zone, r.Now(), r.cfg.exchangeLimit)
	if errors.Is(err, ErrZoneNotFound) {
		// The zone's data expired (sale over) or the store lost it;
		// nothing to admit.
		return x, nil
	}
	return x, err
}

// maxExchangesInFlight bounds the exchange steps of one zone that an
// exchanger has started and not seen finish.
const maxExchangesInFlight = 8

// exchanger starts zone's exchange step every tick until the Room closes.
// A step does not wait for the previous one: on a busy instance a store
// round trip can take longer than a tick, and the admission rate's credit
// is capped at a quarter second's worth, so waiting would turn every slow
// round trip into lost admissions. Steps are atomic in the store and safe
// to run at once; at most maxExchangesInFlight run at a time, and a tick
// that finds them all running is skipped.
func (r *Room) exchanger(zone string) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.tick)
	defer t.Stop()
	var steps sync.WaitGroup
	defer steps.Wait()
	slots := make(chan struct{}, maxExchangesInFlight)
	var failing atomic.Bool
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		select {
		case slots <- struct{}{}:
		default:
			continue
		}
		steps.Go(func() {
			defer func() { <-slots }()
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			_, err := r.exchange(ctx, zone)
			cancel()
			switch {
			case err != nil && r.ctx.Err() == nil && failing.CompareAndSwap(false, true):
				r.cfg.logger.Warn("waitroom: exchange failed", "zone", zone, "err", err)
			case err == nil && failing.CompareAndSwap(true, false):
				r.cfg.logger.Info("waitroom: exchange recovered", "zone", zone)
			}
		})
	}
}

// feedReader follows zone's change feed until the Room closes.
func (r *Room) feedReader(zone string, e *zoneEntry) {
	defer r.wg.Done()
	backoff := 50 * time.Millisecond
	for r.ctx.Err() == nil {
		err := r.drainFeed(r.ctx, zone, e, time.Second)
		if err == nil || r.ctx.Err() != nil {
			backoff = 50 * time.Millisecond
			continue
		}
		r.cfg.logger.Warn("waitroom: change feed read failed", "zone", zone, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// feedBatch is the number of events read from the feed at once.
const feedBatch = 512

// drainFeed reads zone's feed from where this Room stopped and hands each
// event to the subscribers, until a read returns nothing. wait is how long
// the first read may block.
func (r *Room) drainFeed(ctx context.Context, zone string, e *zoneEntry, wait time.Duration) error {
	if e == nil {
		return nil
	}
	e.feedMu.Lock()
	defer e.feedMu.Unlock()
	for {
		evs, err := r.store.ReadFeed(ctx, zone, e.feedSeq, feedBatch, wait)
		if errors.Is(err, ErrFeedTrimmed) {
			return r.resync(ctx, zone, e)
		}
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, ev := range evs {
			r.apply(ctx, e, ev)
			e.feedSeq = ev.Seq
		}
		wait = 0
	}
}

// resync continues from the store's current state after the feed was
// trimmed past this reader: it reloads the zone and tells subscribers to
// drop what they cached.
func (r *Room) resync(ctx context.Context, zone string, e *zoneEntry) error {
	st, err := r.store.Stats(ctx, zone, r.Now())
	if err != nil {
		return err
	}
	if err := r.reloadZone(ctx, e); err != nil {
		return err
	}
	e.feedSeq = st.FeedSeq
	r.dispatch(Event{Seq: st.FeedSeq, Zone: zone, Kind: EventResync, At: r.Now()})
	return nil
}

func (r *Room) reloadZone(ctx context.Context, e *zoneEntry) error {
	old := e.zone.Load()
	st, err := r.store.Zone(ctx, old.Name)
	if errors.Is(err, ErrZoneNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Version > old.version {
		z := old.fromState(st)
		e.zone.Store(&z)
	}
	return nil
}

// apply updates the Room's own view from one event, then hands it on.
func (r *Room) apply(ctx context.Context, e *zoneEntry, ev Event) {
	switch ev.Kind {
	case EventAdmitted, EventEntered:
		e.meter.add(ev.At)
	case EventZone:
		if ev.Version > e.zone.Load().version {
			if err := r.reloadZone(ctx, e); err != nil {
				r.cfg.logger.Warn("waitroom: reload zone failed", "zone", ev.Zone, "err", err)
			}
		}
	}
	r.dispatch(ev)
}

// ETA estimates a waiting visitor's wait.
type ETA struct {
	Expected time.Duration // best estimate
	Low      time.Duration // if every admission runs at the zone's rate
	High     time.Duration // if every visitor inside stays its whole session
}

// eta estimates the wait of a visitor with ahead places before it. The line
// cannot move faster than the zone's rate, nor, when every visitor inside
// stays for the whole session, faster than Capacity per Session. The
// expected value follows the admission rate measured from the feed, held
// within that range.
func (r *Room) eta(e *zoneEntry, ahead int64, now time.Time) ETA {
	z := e.zone.Load()
	n := float64(ahead + 1)
	fastest := z.AdmitPerSecond
	slowest := min(fastest, float64(z.Capacity)/z.Session.Seconds())
	low, high := n/fastest, n/slowest
	expected := high
	if m := e.meter.rate(now); m > 0 {
		expected = min(max(n/m, low), high)
	}
	var start float64
	if z.OpensAt.After(now) {
		start = z.OpensAt.Sub(now).Seconds()
	}
	return ETA{Expected: seconds(start + expected), Low: seconds(start + low), High: seconds(start + high)}
}

func seconds(s float64) time.Duration {
	if s > math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(s)) * time.Second
}

// rateMeter counts admissions per second over a sliding window.
type rateMeter struct {
	mu     sync.Mutex
	counts [meterWindow]uint32
	secs   [meterWindow]int64 // the unix second each count belongs to
}

const meterWindow = 30

func (m *rateMeter) add(at time.Time) {
	s := at.Unix()
	i := int(uint64(s) % meterWindow)
	m.mu.Lock()
	if m.secs[i] != s {
		m.secs[i], m.counts[i] = s, 0
	}
	m.counts[i]++
	m.mu.Unlock()
}

// rate returns admissions per second over the last meterWindow full seconds.
func (m *rateMeter) rate(now time.Time) float64 {
	end := now.Unix()
	var total uint32
	m.mu.Lock()
	for i := range m.secs {
		if s := m.secs[i]; s < end && s >= end-meterWindow {
			total += m.counts[i]
		}
	}
	m.mu.Unlock()
	return float64(total) / meterWindow
}
