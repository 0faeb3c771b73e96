package waitroom

import (
	"context"
	"errors"
	"time"
)

// This file holds the reader of each zone's change feed: it follows the
// feed in order, keeps the Room's view of the zone current from it, and
// hands each event to the subscribers.

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
	r.subs.dispatch(Event{Seq: st.FeedSeq, Zone: zone, Kind: EventResync, At: r.Now()})
	return nil
}

// reloadZone installs the zone's settings from the store if they are newer
// than the Room's (the Room's own Paths kept). A zone gone from the store
// keeps the settings the Room has.
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
	case EventDrawn:
		r.logDraw(ctx, ev)
	}
	if r.cfg.observer != nil {
		r.cfg.observer.Event(ev)
	}
	r.subs.dispatch(ev)
}

// logDraw records a zone's draw for an audit (see Draw): every instance
// logs the same line, with what it takes to recompute each place.
func (r *Room) logDraw(ctx context.Context, ev Event) {
	st, err := r.store.Stats(ctx, ev.Zone, r.Now())
	if err != nil {
		r.cfg.logger.Warn("waitroom: line drawn, but its record could not be read", "zone", ev.Zone, "err", err)
		return
	}
	d := st.Draw
	r.cfg.logger.Info("waitroom: line drawn", "zone", ev.Zone, "first", d.First, "count", d.Count,
		"seed", d.Seed, "at", d.At)
}
