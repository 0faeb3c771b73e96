package waitroom

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waitroom/waitroom/internal/ident"
)

// This file holds what a visitor's requests ask of the store through a
// Room: a visit, its standing, a claim of its slot, a heartbeat and a
// release (the visit protocol).

// Outcome is what a visit, a status check or a claim found.
type Outcome struct {
	Zone  string
	State VisitorState // StateWaiting, StateAdmitted, StateInside or StateClosed

	// Visitor is the visitor's place-in-line token content.
	Visitor Visitor
	// VisitorToken is set when a new visitor token was minted: the caller
	// must hand it to the visitor (cookie).
	VisitorToken string

	// Place is the visitor's standing in the store (zero when closed).
	Place Place
	// ETA estimates the wait for a waiting visitor.
	ETA ETA
	// OpensAt is the zone's sale start (zero: open).
	OpensAt time.Time
	// Paused is set when an operator has paused admission (Room.Pause):
	// the line keeps its order but does not move.
	Paused bool
	// LineFull is set with StateClosed when the zone's line holds
	// MaxWaiting places and the visitor got none; the sale itself goes on.
	LineFull bool
	// Rejected is set with StateClosed when the zone is in ModeReject:
	// closed for now, by an operator, rather than over.
	Rejected bool

	// Access and AccessToken are set when State is StateInside.
	Access      Access
	AccessToken string
}

// Visit handles a visitor's request for a protected page of zone. v is the
// visitor's verified token, or nil for a newcomer (a visitor token is then
// minted into Outcome.VisitorToken). A newcomer gets direct entry if enter
// is true and the zone is open, nobody waits and a slot is free; otherwise
// it is registered in the queue (idempotently: a known visitor keeps its
// place). An admitted visitor claims its slot here. Each call counts as a
// heartbeat. Errors wrapping ErrStoreUnavailable call for the fail policy.
func (r *Room) Visit(ctx context.Context, zone string, v *Visitor, enter bool) (Outcome, error) {
	return r.visit(ctx, zone, v, enter, claimIfAdmitted)
}

// Status reports a known visitor's standing and counts as its heartbeat.
// It never claims: an admitted visitor is reported as StateAdmitted.
func (r *Room) Status(ctx context.Context, zone string, v Visitor) (Outcome, error) {
	return r.visit(ctx, zone, &v, false, claimNot)
}

// Claim claims the slot of an admitted visitor and returns its access token
// (State StateInside). A visitor still waiting gets its standing.
func (r *Room) Claim(ctx context.Context, zone string, v Visitor) (Outcome, error) {
	return r.visit(ctx, zone, &v, false, claimFirst)
}

// Heartbeat records that a waiting visitor is still there, as an open
// waiting page does between two reports: one store write, no read, where
// Status reads the place and writes a heartbeat when one is due. It
// returns an error wrapping ErrNotQueued if the visitor holds no place
// (abandoned, released, or its data gone): Status then tells what now. For
// an admitted or inside visitor it does nothing.
func (r *Room) Heartbeat(ctx context.Context, zone string, v Visitor) error {
	if r.closed.Load() {
		return ErrClosed
	}
	e := r.entry(zone)
	if e == nil {
		return fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	_, err := e.call(ctx, r.store, OpHeartbeat, v.ID, r.Now())
	return err
}

// Release gives up the visitor's slot (checkout finished) or waiting place,
// so the next visitor in line can go in. It reports whether anything was
// held. Every instance learns of it from the change feed.
func (r *Room) Release(ctx context.Context, zone, visitor string) (bool, error) {
	if r.closed.Load() {
		return false, ErrClosed
	}
	if r.entry(zone) == nil {
		return false, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	// Not batched, like a claim: a slot stays held until its release is done.
	return r.store.Release(ctx, zone, visitor, r.Now())
}

// claimMode says how a visit claims an admitted visitor's slot.
type claimMode uint8

const (
	claimNot        claimMode = iota // report the standing only (Status)
	claimIfAdmitted                  // read the place, claim if admitted (Visit: most visits are of waiting visitors)
	claimFirst                       // claim, read the place only if refused (Claim: asked by visitors told it is their turn)
)

// visit is Visit, Status and Claim, told apart by mode. A closed zone
// reports StateClosed. A newcomer is given a visitor token and, if enter
// and the zone is open, tries direct entry (over a BatchStore, entry or
// else a place in line, in one call). A known visitor tries its claim
// first under claimFirst. Whoever is still undecided has its place read
// (registered if it holds none, with a heartbeat when one is due), and an
// admitted visitor claims its slot unless mode is claimNot.
func (r *Room) visit(ctx context.Context, zone string, v *Visitor, enter bool, mode claimMode) (Outcome, error) {
	e, err := r.ensure(ctx, zone)
	if err != nil {
		return Outcome{Zone: zone}, err
	}
	z := *e.zone.Load()
	now := r.Now()
	out := Outcome{Zone: zone, OpensAt: z.OpensAt, Paused: z.paused}
	switch {
	case z.state().ClosedAt(now) || z.Mode == ModeReject:
		out.State, out.Rejected = StateClosed, !z.state().ClosedAt(now)
		if v != nil {
			out.Visitor = *v
		}
		return out, nil
	case z.Mode == ModePassthrough:
		return r.passThrough(e, z, out, v, now)
	}
	if v == nil {
		nv := Visitor{ID: NewVisitorID(), Zone: zone, Arrived: now, IssuedAt: now, Expires: r.visitorExpiry(z, now)}
		tok, err := r.Keys().SignVisitor(nv)
		if err != nil {
			return out, err
		}
		out.Visitor, out.VisitorToken = nv, tok
		switch {
		case enter && z.state().OpenAt(now) && e.batch != nil:
			// In or in line, in one call.
			place, err := e.batch.do(ctx, OpArrive, nv.ID)
			if errors.Is(err, ErrLineFull) {
				return lineFull(out), nil
			}
			if err == nil {
				out.Place = place
				if place.State == StateInside {
					return r.inside(out, place.Slot, z.Session)
				}
				return r.waiting(e, out, now), nil
			}
			if !errors.Is(err, ErrZoneNotFound) {
				return out, err
			}
			// The zone's data has gone: register puts it back.
		case enter && z.state().OpenAt(now):
			slot, ok, err := r.store.Enter(ctx, zone, nv.ID, now)
			if err != nil {
				return out, err
			}
			if ok {
				out.Place = Place{Visitor: nv.ID, State: StateInside, Arrived: now, Slot: slot}
				return r.inside(out, slot, z.Session)
			}
		}
	} else {
		out.Visitor = *v
		if mode == claimFirst {
			// A claim comes from a visitor told it was let in: claim
			// first, and read its place only if it was not.
			// On its own even over a store that batches: a visitor let in
			// holds its slot until its claim is done, so the claim does not
			// wait for a batch behind the line's heartbeats.
			slot, err := r.store.Claim(ctx, zone, v.ID, now)
			switch {
			case err == nil:
				out.Place = Place{Visitor: v.ID, State: StateInside, Arrived: v.Arrived, Slot: slot}
				return r.inside(out, slot, z.Session)
			case errors.Is(err, ErrClaimExpired):
				return r.requeue(ctx, e, z, out, now)
			case !errors.Is(err, ErrNotAdmitted):
				return out, err
			}
			// Waiting or unknown, or let in since: its place says which.
		}
	}
	place, err := r.place(ctx, e, z, out.Visitor.ID, out.VisitorToken != "", now)
	if errors.Is(err, ErrLineFull) {
		return lineFull(out), nil
	}
	if err != nil {
		return out, err
	}
	out.Place = place
	switch place.State {
	case StateAdmitted, StateInside:
		if mode == claimNot {
			out.State = place.State
			return out, nil
		}
		slot, err := r.store.Claim(ctx, zone, place.Visitor, now)
		if errors.Is(err, ErrClaimExpired) || errors.Is(err, ErrNotAdmitted) {
			return r.requeue(ctx, e, z, out, now)
		}
		if err != nil {
			return out, err
		}
		out.Place.State, out.Place.Slot = StateInside, slot
		return r.inside(out, slot, z.Session)
	}
	return r.waiting(e, out, now), nil
}

// requeue queues a visitor whose turn was lost (the claim window passed,
// or a claim raced with a release) again.
func (r *Room) requeue(ctx context.Context, e *zoneEntry, z Zone, out Outcome, now time.Time) (Outcome, error) {
	place, err := r.register(ctx, e, z, out.Visitor.ID, now)
	if errors.Is(err, ErrLineFull) {
		return lineFull(out), nil
	}
	if err != nil {
		return out, err
	}
	out.Place = place
	return r.waiting(e, out, now), nil
}

// lineFull reports a visitor refused a place because the line holds
// MaxWaiting: closed to it, with no visitor token to keep.
func lineFull(out Outcome) Outcome {
	out.State, out.LineFull, out.VisitorToken, out.Place = StateClosed, true, "", Place{}
	return out
}

// passThrough lets a visitor of a ModePassthrough zone in: an access token
// for the zone's Session, no slot, no store call. The zone counts it
// (Stats.PassedThrough).
func (r *Room) passThrough(e *zoneEntry, z Zone, out Outcome, v *Visitor, now time.Time) (Outcome, error) {
	if v != nil {
		out.Visitor = *v
	} else {
		out.Visitor = Visitor{ID: NewVisitorID(), Zone: z.Name, Arrived: now, IssuedAt: now, Expires: now.Add(z.Session)}
	}
	e.passed.Add(1)
	out.Place = Place{Visitor: out.Visitor.ID, State: StateInside, Arrived: now}
	return r.inside(out, Slot{TokenID: ident.New(), Until: now.Add(z.Session)}, z.Session)
}

// waiting reports out as waiting, with the ETA of its place.
func (r *Room) waiting(e *zoneEntry, out Outcome, now time.Time) Outcome {
	out.State = StateWaiting
	out.ETA = r.eta(e, out.Place.Ahead, now)
	return out
}

// place finds the visitor's place, registering it if it holds none, and
// records a heartbeat when the last one is older than a quarter of the
// abandonment timeout: reads are cheap, writes per waiting visitor stay
// bounded however often it polls.
func (r *Room) place(ctx context.Context, e *zoneEntry, z Zone, visitor string, isNew bool, now time.Time) (Place, error) {
	if isNew {
		return r.register(ctx, e, z, visitor, now)
	}
	place, err := e.call(ctx, r.store, OpPosition, visitor, now)
	if errors.Is(err, ErrNotQueued) || errors.Is(err, ErrZoneNotFound) {
		return r.register(ctx, e, z, visitor, now)
	}
	if err != nil {
		return Place{}, err
	}
	if place.State == StateWaiting && now.Sub(place.LastSeen) >= z.AbandonAfter/4 {
		_, err := e.call(ctx, r.store, OpHeartbeat, visitor, now)
		if errors.Is(err, ErrNotQueued) {
			return r.register(ctx, e, z, visitor, now)
		}
		if err != nil {
			return Place{}, err
		}
		place.LastSeen = now
	}
	return place, nil
}

// register registers the visitor, putting the zone back into the store if
// its data has gone (expired, or a store without persistence restarted).
func (r *Room) register(ctx context.Context, e *zoneEntry, z Zone, visitor string, now time.Time) (Place, error) {
	place, err := e.call(ctx, r.store, OpRegister, visitor, now)
	if errors.Is(err, ErrZoneNotFound) {
		if _, err = r.store.PutZone(ctx, z.state(), now); err != nil {
			return Place{}, err
		}
		place, err = e.call(ctx, r.store, OpRegister, visitor, now)
	}
	return place, err
}

// call makes one visitor's Register, Position or Heartbeat in zone e:
// through its batcher if the store batches, else on its own.
func (e *zoneEntry) call(ctx context.Context, s Store, op Op, visitor string, now time.Time) (Place, error) {
	if e.batch != nil {
		return e.batch.do(ctx, op, visitor)
	}
	zone := e.zone.Load().Name
	switch op {
	case OpRegister:
		return s.Register(ctx, zone, visitor, now)
	case OpPosition:
		return s.Position(ctx, zone, visitor, now)
	case OpHeartbeat:
		return Place{}, s.Heartbeat(ctx, zone, visitor, now)
	}
	return Place{}, fmt.Errorf("waitroom: zone %q: %v is no single visitor's call", zone, op)
}

// inside signs the access token of a visitor that holds slot. The token
// lasts until the slot leaks, but never longer than session from now: a
// store on its own clock (Redis TIME) ahead of the Room's would otherwise
// issue tokens that Room.VerifyAccess refuses as too long.
func (r *Room) inside(out Outcome, slot Slot, session time.Duration) (Outcome, error) {
	out.State = StateInside
	now := r.Now()
	exp := slot.Until
	if limit := now.Add(session); exp.After(limit) {
		exp = limit
	}
	out.Access = Access{Visitor: out.Visitor.ID, Zone: out.Zone, TokenID: slot.TokenID, IssuedAt: now, Expires: exp}
	tok, err := r.Keys().SignAccess(out.Access)
	if err != nil {
		return out, err
	}
	out.AccessToken = tok
	return out, nil
}

// visitorExpiry is when a visitor token minted at now for z expires: when
// the zone's data would, counted from the sale start if it is yet to come.
func (r *Room) visitorExpiry(z Zone, now time.Time) time.Time {
	exp := now.Add(z.DataTTL)
	if z.OpensAt.After(now) {
		exp = exp.Add(z.OpensAt.Sub(now))
	}
	return exp
}
