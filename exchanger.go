package waitroom

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the exchanger: the step that lets the next visitors in
// line into a zone's leaky bucket as slots free, and the goroutine that
// runs it every tick.

// maxRounds bounds the store steps of one exchange (see exchange).
const maxRounds = 64

// exchange runs one exchange for zone at the Room's clock, and logs when
// the zone starts or stops admitting. An exchange is one store step, and
// more at the same instant while a step may have stopped short of the
// credit: at the exchange limit, or at the most a store makes in one
// atomic step (DynamoDB: one transaction of at most 100 actions, some 33
// admissions). With one step per tick either would cap the outflow
// whatever the rate: the limit at limit per tick (10,000 per second at
// the defaults), DynamoDB at about 330 per second (measured with
// examples/flashcrowd -sim: -50% at 20,000 per second, -75% at 2,000 per
// second with a limit of 50, -83.5% at 2,000 per second on DynamoDB).
//
// So a step that lets in the limit is followed by another; so is one that
// moves the line by more than one place (admissions and skips) while the
// exchange has let in less than the tick's share of the rate, as long as
// each step moves it as far as the one before. A step that moves it less
// stopped at the rate's credit, the bucket or the end of the line, and
// the next one waits for the tick; so does a step that moves one place
// (the common step of a full zone: one slot freed), which costs a quiet
// zone no second call. The result sums the steps.
func (r *Room) exchange(ctx context.Context, zone string) (Exchange, error) {
	now := r.Now()
	share := 0 // the tick's share of the rate, in whole admissions
	if e := r.entry(zone); e != nil {
		r.noteAdmitting(e, now)
		share = int(e.zone.Load().AdmitPerSecond*r.cfg.tick.Seconds() + 1e-9)
	}
	limit := r.cfg.exchangeLimit
	var all Exchange
	prev := 0
	for round := range maxRounds {
		x, err := r.store.Exchange(ctx, zone, now, limit)
		if errors.Is(err, ErrZoneNotFound) {
			// The zone's data expired (sale over) or the store lost it;
			// nothing to admit.
			return all, nil
		}
		if err != nil {
			return all, err
		}
		if all.Admitted == nil {
			all.Admitted = x.Admitted
		} else {
			all.Admitted = append(all.Admitted, x.Admitted...)
		}
		all.Abandoned += x.Abandoned
		all.Expired += x.Expired
		n := len(x.Admitted)
		moved := n + x.Abandoned
		short := moved > 1 && len(all.Admitted) < share && (round == 0 || moved >= prev)
		if n < limit && !short {
			break
		}
		prev = moved
	}
	return all, nil
}

// Whether a zone admits, as its exchanger last saw it (zoneEntry.admitting).
const (
	admittingUnknown int32 = iota
	admittingYes
	admittingNo
)

// noteAdmitting logs the zone's opening and closing as the exchanger sees
// them: "zone opened" when it starts admitting, "zone closed" when it
// stops, with why (not yet open, paused, rejecting, ended). The first look
// at a zone is its baseline and logs nothing.
func (r *Room) noteAdmitting(e *zoneEntry, now time.Time) {
	z := *e.zone.Load()
	st := z.state()
	state := admittingNo
	if st.OpenAt(now) {
		state = admittingYes
	}
	was := e.admitting.Swap(state)
	if was == admittingUnknown || was == state {
		return
	}
	if state == admittingYes {
		r.cfg.logger.Info("waitroom: zone opened", "zone", z.Name, "capacity", z.Capacity, "admit_per_second", z.AdmitPerSecond)
		return
	}
	why := "not open yet"
	switch {
	case st.ClosedAt(now):
		why = "sale ended"
	case z.paused:
		why = "paused"
	case z.Mode == ModeReject:
		why = "rejecting"
	}
	r.cfg.logger.Info("waitroom: zone closed", "zone", z.Name, "why", why)
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
