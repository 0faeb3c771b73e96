package dynamostore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Enter gives the visitor a slot directly (see waitroom.Store): one
// TransactWriteItems of the zone item, the visitor, the slot and the
// event. "Nobody waits" counts every place in line, including visitors
// who have abandoned but not yet been skipped. Slots past their deadline
// leak first (with EventExpired) when the bucket is otherwise full. A lost
// race is ok == false.
func (s *Store) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	if err := s.check(); err != nil {
		return waitroom.Slot{}, false, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Slot{}, false, storekit.NotFound(zone)
	}
	if err := checkVisitor(visitor); err != nil {
		return waitroom.Slot{}, false, err
	}
	n := now.UnixMilli()
	var slot waitroom.Slot
	var in bool
	_, err := s.visitorWrite(ctx, zone, visitor, "enter", func(m *meta, k zkeys, v visitorRec, found bool) (bool, error) {
		if found && v.slotLive(n) {
			slot, in = waitroom.Slot{TokenID: v.token, Until: unixMS(v.until)}, true
			return true, nil
		}
		if !m.openAt(n) || (found && v.state == waitroom.StateWaiting) {
			return true, nil
		}
		tail, err := s.readTail(ctx, m)
		if err != nil {
			return false, err
		}
		if m.waiting(tail) > 0 {
			return true, nil
		}
		tx := s.newTx(m, now)
		if m.inside >= m.st.Capacity {
			if _, err := s.leak(ctx, tx, n); err != nil {
				return false, err
			}
		}
		if m.inside >= m.st.Capacity {
			return true, nil
		}
		m.accrue(n)
		if m.credit < 1-1e-9 {
			return true, nil
		}
		token, until := storekit.NewID(), n+m.st.Session.Milliseconds()
		vit := k.visitor(visitor)
		vit[vState], vit[vToken], vit[vUntil] = str(stInside), str(token), num(until)
		vit[vArrived], vit[vLastSeen], vit[attrTTL] = num(n), num(n), num(s.expires(m.st, unixMS(until)))
		e := newExpr()
		cond := fmt.Sprintf("attribute_not_exists(pk) OR (%s <> %s AND %s <= %s)",
			e.n(vState), e.v(str(stWaiting)), e.n(vUntil), e.v(num(n)))
		tx.put(kindVisitor, 0, vit, cond, e)
		s.addSlot(tx, visitor, 0, token, until)
		tx.event(waitroom.Event{Kind: waitroom.EventEntered, Visitor: visitor, TokenID: token, SlotUntil: unixMS(until)})
		ok, _, err := tx.commit(ctx, "enter")
		if ok {
			slot, in = waitroom.Slot{TokenID: token, Until: unixMS(until)}, true
		}
		return ok, err
	})
	// Every race lost: not in, as one lost race is.
	return slot, in, err
}

// Claim turns an admitted visitor's reserved slot into an inside slot (see
// waitroom.Store): one TransactWriteItems of the zone item, the visitor,
// the slot (moved to its new deadline) and the event. A slot past its
// deadline is left for Exchange to leak: an admitted visitor gets
// waitroom.ErrClaimExpired, an inside one waitroom.ErrNotAdmitted.
func (s *Store) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	if err := s.check(); err != nil {
		return waitroom.Slot{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Slot{}, storekit.NotFound(zone)
	}
	if checkVisitor(visitor) != nil {
		return waitroom.Slot{}, storekit.NotAdmitted(zone, visitor, "")
	}
	n := now.UnixMilli()
	var slot waitroom.Slot
	var refused error
	done, err := s.visitorWrite(ctx, zone, visitor, "claim", func(m *meta, k zkeys, v visitorRec, found bool) (bool, error) {
		switch {
		case !found || v.state == waitroom.StateWaiting || v.state == 0:
			refused = storekit.NotAdmitted(zone, visitor, "")
			return true, nil
		case v.state == waitroom.StateInside && v.until > n:
			slot = waitroom.Slot{TokenID: v.token, Until: unixMS(v.until)}
			return true, nil
		case v.state == waitroom.StateInside:
			refused = storekit.NotAdmitted(zone, visitor, "slot expired")
			return true, nil
		case v.until <= n:
			refused = storekit.ClaimExpired(zone, visitor)
			return true, nil
		}
		until := n + m.st.Session.Milliseconds()
		tx := s.newTx(m, now)
		e := newExpr()
		upd := e.set(vState, str(stInside), vUntil, num(until), attrTTL, num(s.expires(m.st, unixMS(until))))
		cond := fmt.Sprintf("%s = %s AND %s = %s AND %s = %s", e.n(vState), e.v(str(stAdmitted)),
			e.n(vToken), e.v(str(v.token)), e.n(vUntil), e.v(num(v.until)))
		tx.update(kindVisitor, 0, k.visitor(visitor), upd, cond, e)
		if until == v.until {
			// Same deadline (a session as short as the claim window
			// claimed at once): the slot stays where it is.
			tx.check(kindSlot, 0, k.slot(v.until, v.token), "attribute_exists(pk)")
		} else {
			// The slot moves to its new deadline in the bucket's order.
			tx.del(kindSlot, 0, k.slot(v.until, v.token), "attribute_exists(pk)", nil)
			sl := k.slot(until, v.token)
			sl[sVisitor], sl[sToken], sl[sUntil], sl[attrTTL] = str(visitor), str(v.token), num(until), num(s.expires(m.st, unixMS(until)))
			if v.seq != 0 {
				sl[sSeq] = unum(v.seq)
			}
			tx.put(kindSlot, 1, sl, "", nil)
		}
		m.nextLeak = min(m.nextLeak, until)
		tx.event(waitroom.Event{Kind: waitroom.EventClaimed, Visitor: visitor, QueueSeq: v.seq, TokenID: v.token, SlotUntil: unixMS(until)})
		ok, f, err := tx.commit(ctx, "claim")
		switch {
		case err != nil:
			return false, err
		case ok:
			slot = waitroom.Slot{TokenID: v.token, Until: unixMS(until)}
			return true, nil
		case len(f.failed(kindSlot)) > 0:
			refused = storekit.ClaimExpired(zone, visitor) // leaked meanwhile
			return true, nil
		}
		return false, nil
	})
	switch {
	case err != nil:
		return waitroom.Slot{}, err
	case !done:
		return waitroom.Slot{}, contention("claim", zone)
	case refused != nil:
		return waitroom.Slot{}, refused
	}
	return slot, nil
}

// Release frees the visitor's slot or gives up its waiting place (see
// waitroom.Store): one TransactWriteItems of the zone item, the visitor,
// the slot or queue entry, and the event. A slot past its deadline is no
// longer held: Release reports false and leaves it for Exchange to leak.
func (s *Store) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	st, err := s.release(ctx, zone, visitor, now)
	return st != 0, err
}

// release is Release, reporting the state the visitor gave up (0: it held
// nothing).
func (s *Store) release(ctx context.Context, zone, visitor string, now time.Time) (waitroom.VisitorState, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := checkZone(zone); err != nil {
		return 0, storekit.NotFound(zone)
	}
	if checkVisitor(visitor) != nil {
		return 0, nil
	}
	n := now.UnixMilli()
	var held waitroom.VisitorState
	done, err := s.visitorWrite(ctx, zone, visitor, "release", func(m *meta, k zkeys, v visitorRec, found bool) (bool, error) {
		if !found || !v.holds(n) {
			return true, nil
		}
		tx := s.newTx(m, now)
		e := newExpr()
		if v.state == waitroom.StateWaiting {
			cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vState), e.v(str(stWaiting)), e.n(vSeq), e.v(unum(v.seq)))
			tx.del(kindVisitor, 0, k.visitor(visitor), cond, e)
			if err := s.leaveLine(ctx, tx, visitor, v.seq); err != nil {
				return false, err
			}
			tx.event(waitroom.Event{Kind: waitroom.EventReleased, Visitor: visitor, QueueSeq: v.seq})
		} else {
			cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vToken), e.v(str(v.token)), e.n(vUntil), e.v(num(v.until)))
			tx.del(kindVisitor, 0, k.visitor(visitor), cond, e)
			tx.del(kindSlot, 0, k.slot(v.until, v.token), "attribute_exists(pk)", nil)
			m.inside = max(m.inside-1, 0)
			tx.event(waitroom.Event{Kind: waitroom.EventReleased, Visitor: visitor, QueueSeq: v.seq, TokenID: v.token})
		}
		ok, f, err := tx.commit(ctx, "release")
		switch {
		case err != nil:
			return false, err
		case ok:
			held = v.state
			return true, nil
		case len(f.failed(kindSlot)) > 0:
			return true, nil // leaked meanwhile: no longer held
		}
		return false, nil
	})
	switch {
	case err != nil:
		return 0, err
	case !done:
		return 0, contention("release", zone)
	}
	return held, nil
}

// visitorWrite runs try with this Store's turn at the zone item
// (lockZone), the zone item and the visitor's item freshly read, until try
// is done, backing off between the races it loses to other instances. It
// reports false, with no error, after maxAttempts lost races.
func (s *Store) visitorWrite(ctx context.Context, zone, visitor, op string,
	try func(m *meta, k zkeys, v visitorRec, found bool) (done bool, err error)) (bool, error) {
	unlock, err := s.lockZone(ctx, zone)
	if err != nil {
		return false, err
	}
	defer unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return false, unavailable(op, err)
			}
		}
		m, err := s.writerMeta(ctx, zone)
		if err != nil {
			return false, err
		}
		k := m.keys()
		v, found, err := s.getVisitor(ctx, k, visitor)
		if err != nil {
			return false, err
		}
		if done, err := try(&m, k, v, found); done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// leaveLine adds to tx what the waiting place of visitor with arrival
// number seq leaving the line changes: the head moves past it if it is
// next, else its queue entry is marked released.
func (s *Store) leaveLine(ctx context.Context, tx *txn, visitor string, seq uint64) error {
	m := tx.m
	switch q := m.draw.Number(seq); {
	case q == m.head+1:
		return s.passReleased(ctx, m, q)
	case q > m.head:
		e := newExpr()
		cond := fmt.Sprintf("%s = %s", e.n(qVisitor), e.v(str(visitor)))
		tx.update(kindEntry, 0, tx.keys.entry(seq), e.set(qReleased, boolean(true)), cond, e)
		m.released++
	}
	return nil
}

// passReleased moves the head of the line past the place with queue
// number seq (at the head, being released) and past the released places
// right behind it, so that Ahead and HeadSeq count only places still in
// line.
func (s *Store) passReleased(ctx context.Context, m *meta, seq uint64) error {
	m.head = seq
	if m.released <= 0 {
		return nil
	}
	const look = 8
	k := m.keys()
	keys := make([]map[string]types.AttributeValue, look)
	for i := range keys {
		keys[i] = k.entry(m.draw.Arrival(seq + 1 + uint64(i)))
	}
	got, err := s.batchGet(ctx, "release", keys)
	if err != nil {
		return err
	}
	for i := range keys {
		en := got[keyID(keys[i])]
		switch {
		case en == nil:
			return nil
		case en.bool(qReleased):
			m.released = max(m.released-1, 0)
		case !en.bool(qHole):
			return nil
		}
		m.head = seq + 1 + uint64(i)
	}
	return nil
}

// Stats counts the zone at now (see waitroom.Store): the zone item, the
// tail counter, and the slots past their deadline if any may be.
func (s *Store) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	if err := s.check(); err != nil {
		return waitroom.ZoneStats{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.ZoneStats{}, storekit.NotFound(zone)
	}
	m, err := s.readMeta(ctx, zone, 0)
	if err != nil {
		return waitroom.ZoneStats{}, err
	}
	tail, err := s.readTail(ctx, &m)
	if err != nil {
		return waitroom.ZoneStats{}, err
	}
	expired, err := s.countExpired(ctx, &m, now.UnixMilli())
	if err != nil {
		return waitroom.ZoneStats{}, err
	}
	st := waitroom.ZoneStats{
		Waiting:       m.waiting(tail),
		Inside:        max(m.inside-expired, 0),
		AdmittedTotal: m.admitted,
		FeedSeq:       m.fs,
		LastAdmit:     unixMS(m.lastAdmit),
		Draw:          m.draw,
	}
	if st.Waiting > 0 {
		st.HeadSeq = m.head + 1
	}
	return st, nil
}
