package memstore

import (
	"context"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// PutZone creates the zone or replaces its settings (see waitroom.Store),
// normalized by ZoneState.Normalize; invalid settings are an error
// wrapping waitroom.ErrInvalidZone.
// A zone whose data has expired at now is created afresh, at version 1,
// with an empty queue, bucket and feed. A zone with DataTTL 0 never
// expires. PutZone also removes every other zone whose data has expired at
// now.
func (s *Store) PutZone(ctx context.Context, st waitroom.ZoneState, now time.Time) (waitroom.ZoneState, error) {
	if err := s.check(); err != nil {
		return waitroom.ZoneState{}, err
	}
	st, err := st.Normalize()
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	n := s.observe(now)
	s.sweep(n)
	for {
		if z := s.lookup(st.Name, n); z != nil {
			defer z.mu.Unlock()
			if z.state.Equal(st) {
				return z.state, nil
			}
			z.accrue(n)
			st.Version = z.state.Version + 1
			z.state = st
			z.credit = min(z.credit, st.RateBurst())
			z.emit(waitroom.Event{Kind: waitroom.EventZone, Version: st.Version}, n)
			return z.state, nil
		}
		s.mu.Lock()
		if s.zones[st.Name] != nil {
			// Created meanwhile: update it instead.
			s.mu.Unlock()
			continue
		}
		st.Version = 1
		z := newZone(st, n, s.cfg.feedSize)
		z.emit(waitroom.Event{Kind: waitroom.EventZone, Version: 1}, n)
		s.zones[st.Name] = z
		s.mu.Unlock()
		return st, nil
	}
}

// Zone returns the stored settings, or waitroom.ErrZoneNotFound. Expiry is
// checked against the latest now any call has passed.
func (s *Store) Zone(ctx context.Context, zoneName string) (waitroom.ZoneState, error) {
	if err := s.check(); err != nil {
		return waitroom.ZoneState{}, err
	}
	z := s.lookup(zoneName, s.clock.Load())
	if z == nil {
		return waitroom.ZoneState{}, storekit.NotFound(zoneName)
	}
	defer z.mu.Unlock()
	return z.state, nil
}

// Register gives the visitor a place at the back of the queue, or returns
// the place it holds (see waitroom.Store). Registering appends no event. A
// slot found past its deadline is removed with EventExpired before the
// visitor gets its new place.
func (s *Store) Register(ctx context.Context, zoneName, visitor string, now time.Time) (waitroom.Place, error) {
	if err := s.check(); err != nil {
		return waitroom.Place{}, err
	}
	if visitor == "" {
		return waitroom.Place{}, errEmptyVisitor
	}
	n := s.observe(now)
	z := s.lookup(zoneName, n)
	if z == nil {
		return waitroom.Place{}, storekit.NotFound(zoneName)
	}
	defer z.mu.Unlock()
	return z.register(visitor, n)
}

// register is Register on the locked zone.
func (z *zone) register(visitor string, n int64) (waitroom.Place, error) {
	if seq, ok := z.waiting[visitor]; ok {
		p := z.at(seq)
		p.lastSeen = max(p.lastSeen, n)
		z.touch(n)
		return z.waitingPlace(seq, p), nil
	}
	if sl := z.slots[visitor]; sl != nil {
		if sl.until > n {
			return slotPlace(sl), nil
		}
		z.expire(sl, n)
	}
	if m := z.state.MaxWaiting; m > 0 && int64(len(z.waiting)) >= m {
		return waitroom.Place{}, storekit.LineFull(z.state.Name, m)
	}
	seq := z.push(strings.Clone(visitor), n)
	z.touch(n)
	return z.waitingPlace(seq, z.at(seq)), nil
}

// waitingPlace describes the waiting place p with arrival number seq. Ahead counts
// every place still in line before it, including visitors who have
// abandoned but not yet been skipped; places released before it are not
// counted once the head has passed them, and may be until then.
func (z *zone) waitingPlace(seq uint64, p *place) waitroom.Place {
	q := z.number(seq)
	pl := waitroom.Place{
		Visitor:  p.visitor,
		State:    waitroom.StateWaiting,
		Seq:      q,
		Ahead:    int64(q - z.headSeq()),
		Arrived:  unix(p.arrived),
		LastSeen: unix(p.lastSeen),
	}
	if z.undrawn() {
		pl.Undrawn, pl.Ahead = true, int64(len(z.waiting)-1)
	}
	return pl
}

func slotPlace(sl *slot) waitroom.Place {
	return waitroom.Place{
		Visitor:  sl.visitor,
		State:    sl.state(),
		Seq:      sl.seq,
		Arrived:  unix(sl.arrived),
		LastSeen: unix(sl.lastSeen),
		Slot:     sl.public(),
	}
}

// Position returns the visitor's place without changing anything, in O(1)
// at any queue length (see waitroom.Store). Ahead is the visitor's Seq
// minus the head's: it counts visitors who have abandoned but not yet been
// skipped by Exchange, and places released behind the head, until the head
// reaches them; it never underestimates.
func (s *Store) Position(ctx context.Context, zoneName, visitor string, now time.Time) (waitroom.Place, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return waitroom.Place{}, err
	}
	defer z.mu.Unlock()
	return z.position(visitor, n)
}

// position is Position on the locked zone.
func (z *zone) position(visitor string, n int64) (waitroom.Place, error) {
	if seq, ok := z.waiting[visitor]; ok {
		return z.waitingPlace(seq, z.at(seq)), nil
	}
	if sl := z.live(visitor, n); sl != nil {
		return slotPlace(sl), nil
	}
	return waitroom.Place{}, storekit.NotQueued(z.state.Name, visitor)
}

// Heartbeat records now as the waiting visitor's last heartbeat (see
// waitroom.Store).
func (s *Store) Heartbeat(ctx context.Context, zoneName, visitor string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	n := s.observe(now)
	z := s.lookup(zoneName, n)
	if z == nil {
		return storekit.NotFound(zoneName)
	}
	defer z.mu.Unlock()
	return z.heartbeat(visitor, n)
}

// heartbeat is Heartbeat on the locked zone.
func (z *zone) heartbeat(visitor string, n int64) error {
	if seq, ok := z.waiting[visitor]; ok {
		p := z.at(seq)
		p.lastSeen = max(p.lastSeen, n)
		z.touch(n)
		return nil
	}
	if z.live(visitor, n) != nil {
		return nil
	}
	return storekit.NotQueued(z.state.Name, visitor)
}

// Enter gives the visitor a slot directly (see waitroom.Store). "Nobody
// waits" means no place is in line, counting visitors who have abandoned
// but not yet been skipped by Exchange. Slots found past their deadline
// leak first, each with EventExpired, even when Enter then reports false.
func (s *Store) Enter(ctx context.Context, zoneName, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	if err := s.check(); err != nil {
		return waitroom.Slot{}, false, err
	}
	if visitor == "" {
		return waitroom.Slot{}, false, errEmptyVisitor
	}
	n := s.observe(now)
	z := s.lookup(zoneName, n)
	if z == nil {
		return waitroom.Slot{}, false, storekit.NotFound(zoneName)
	}
	defer z.mu.Unlock()
	if sl := z.enter(visitor, n); sl != nil {
		return sl.public(), true, nil
	}
	return waitroom.Slot{}, false, nil
}

// enter is Enter on the locked zone: the visitor's slot, or nil.
func (z *zone) enter(visitor string, n int64) *slot {
	if sl := z.live(visitor, n); sl != nil {
		return sl
	}
	if !z.openAt(n) || len(z.waiting) > 0 {
		return nil
	}
	z.leak(n)
	if len(z.slots) >= z.state.Capacity {
		return nil
	}
	z.accrue(n)
	if z.credit < 1 {
		return nil
	}
	sl := &slot{
		visitor: strings.Clone(visitor), token: storekit.NewID(), until: n + int64(z.state.Session),
		arrived: n, lastSeen: n, inside: true,
	}
	z.addSlot(sl)
	z.admitted(n)
	z.emit(waitroom.Event{Kind: waitroom.EventEntered, Visitor: sl.visitor, TokenID: sl.token, SlotUntil: unix(sl.until)}, n)
	return sl
}

// Exchange lets the next visitors in (see waitroom.Store). It first leaks
// every slot past its deadline. Then, while the zone is open, limit is not
// reached, a slot is free and the rate allows one more, it takes the head
// of the line: a visitor not seen for longer than AbandonAfter is skipped
// (EventAbandoned), any other is admitted (EventAdmitted). Before OpensAt
// and from ClosesAt nobody is admitted or skipped. limit <= 0 admits
// nobody.
func (s *Store) Exchange(ctx context.Context, zoneName string, now time.Time, limit int) (waitroom.Exchange, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return waitroom.Exchange{}, err
	}
	defer z.mu.Unlock()
	var x waitroom.Exchange
	z.drawDue(n, s.cfg.seed)
	x.Expired = z.leak(n)
	if !z.openAt(n) {
		return x, nil
	}
	z.accrue(n)
	for len(x.Admitted) < limit && len(z.waiting) > 0 && len(z.slots) < z.state.Capacity && z.credit >= 1 {
		seq := z.headSeq()
		arrival := z.draw.Arrival(seq)
		p := z.at(arrival)
		visitor := p.visitor
		if z.abandoned(p, n) {
			z.leave(arrival)
			x.Abandoned++
			z.emit(waitroom.Event{Kind: waitroom.EventAbandoned, Visitor: visitor, QueueSeq: seq}, n)
			continue
		}
		sl := &slot{
			visitor: visitor, seq: seq, token: storekit.NewID(), until: n + int64(z.state.ClaimWindow),
			arrived: p.arrived, lastSeen: p.lastSeen,
		}
		z.leave(arrival)
		z.addSlot(sl)
		z.admitted(n)
		z.emit(waitroom.Event{Kind: waitroom.EventAdmitted, Visitor: visitor, QueueSeq: seq, TokenID: sl.token, SlotUntil: unix(sl.until)}, n)
		x.Admitted = append(x.Admitted, waitroom.Admission{Visitor: visitor, Seq: seq, Slot: sl.public()})
	}
	return x, nil
}

// Claim turns an admitted visitor's reserved slot into an inside slot (see
// waitroom.Store). A slot found past its deadline is removed with
// EventExpired: an admitted visitor then gets waitroom.ErrClaimExpired, an
// inside visitor waitroom.ErrNotAdmitted (it holds nothing any more).
func (s *Store) Claim(ctx context.Context, zoneName, visitor string, now time.Time) (waitroom.Slot, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return waitroom.Slot{}, err
	}
	defer z.mu.Unlock()
	return z.claim(visitor, n)
}

// claim is Claim on the locked zone.
func (z *zone) claim(visitor string, n int64) (waitroom.Slot, error) {
	sl := z.slots[visitor]
	if sl == nil {
		return waitroom.Slot{}, storekit.NotAdmitted(z.state.Name, visitor, "")
	}
	if sl.until <= n {
		z.expire(sl, n)
		if sl.inside {
			return waitroom.Slot{}, storekit.NotAdmitted(z.state.Name, visitor, "slot expired")
		}
		return waitroom.Slot{}, storekit.ClaimExpired(z.state.Name, visitor)
	}
	if sl.inside {
		return sl.public(), nil
	}
	sl.inside = true
	sl.until = n + int64(z.state.Session)
	z.deadline.fix(sl)
	z.emit(waitroom.Event{Kind: waitroom.EventClaimed, Visitor: sl.visitor, QueueSeq: sl.seq, TokenID: sl.token, SlotUntil: unix(sl.until)}, n)
	return sl.public(), nil
}

// Release frees the visitor's slot or gives up its waiting place (see
// waitroom.Store). A slot found past its deadline was no longer held: it
// is removed with EventExpired and Release reports false.
func (s *Store) Release(ctx context.Context, zoneName, visitor string, now time.Time) (bool, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return false, err
	}
	defer z.mu.Unlock()
	return z.release(visitor, n) != 0, nil
}

// release is Release on the locked zone: the state the visitor gave up,
// or 0 if it held nothing.
func (z *zone) release(visitor string, n int64) waitroom.VisitorState {
	if seq, ok := z.waiting[visitor]; ok {
		v := z.at(seq).visitor
		z.leave(seq)
		z.emit(waitroom.Event{Kind: waitroom.EventReleased, Visitor: v, QueueSeq: z.number(seq)}, n)
		return waitroom.StateWaiting
	}
	sl := z.slots[visitor]
	if sl == nil {
		return 0
	}
	if sl.until <= n {
		z.expire(sl, n)
		return 0
	}
	z.dropSlot(sl)
	z.emit(waitroom.Event{Kind: waitroom.EventReleased, Visitor: sl.visitor, QueueSeq: sl.seq, TokenID: sl.token}, n)
	return sl.state()
}

// Stats counts the zone at now without changing it (see waitroom.Store).
// Inside counts the slots whose deadline has not passed at now.
func (s *Store) Stats(ctx context.Context, zoneName string, now time.Time) (waitroom.ZoneStats, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return waitroom.ZoneStats{}, err
	}
	defer z.mu.Unlock()
	return waitroom.ZoneStats{
		Waiting:       int64(len(z.waiting)),
		Inside:        z.held(n),
		AdmittedTotal: z.admittedTotal,
		HeadSeq:       z.headSeq(),
		FeedSeq:       z.feed.last,
		LastAdmit:     unix(z.lastAdmit),
		Draw:          z.draw,
	}, nil
}
