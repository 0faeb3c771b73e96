package dynamostore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Admit lets one waiting visitor in ahead of the line (see
// waitroom.Store): one TransactWriteItems of the zone item, the visitor,
// its queue entry (marked as left, as a release marks it), the slot and
// the event, retried when another write of the zone wins the race.
func (s *Store) Admit(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	if err := s.check(); err != nil {
		return waitroom.Slot{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Slot{}, storekit.NotFound(zone)
	}
	if checkVisitor(visitor) != nil {
		return waitroom.Slot{}, storekit.NotQueued(zone, visitor)
	}
	n := now.UnixMilli()
	var slot waitroom.Slot
	var refused error
	done, err := s.visitorWrite(ctx, zone, visitor, "admit", func(m *meta, k zkeys, v visitorRec, found bool) (bool, error) {
		if !found || v.state != waitroom.StateWaiting {
			refused = storekit.NotQueued(zone, visitor)
			return true, nil
		}
		tx := s.newTx(m, now)
		if _, err := s.leak(ctx, tx, n); err != nil {
			return false, err
		}
		if m.inside >= m.st.Capacity {
			refused = storekit.ZoneFull(zone, m.st.Capacity)
			return true, nil
		}
		token, until := storekit.NewID(), n+m.st.ClaimWindow.Milliseconds()
		e := newExpr()
		upd := e.set(vState, str(stAdmitted), vToken, str(token), vUntil, num(until), attrTTL, num(s.expires(m.st, unixMS(until))))
		cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vState), e.v(str(stWaiting)), e.n(vSeq), e.v(unum(v.seq)))
		tx.update(kindVisitor, 0, k.visitor(visitor), upd, cond, e)
		if err := s.leaveLine(ctx, tx, visitor, v.seq); err != nil {
			return false, err
		}
		s.addSlot(tx, visitor, v.seq, token, until)
		m.credit++ // an operator's admission spends no rate credit
		tx.event(waitroom.Event{Kind: waitroom.EventAdmitted, Visitor: visitor, QueueSeq: v.seq, TokenID: token, SlotUntil: unixMS(until)})
		ok, _, err := tx.commit(ctx, "admit")
		if ok {
			slot = waitroom.Slot{TokenID: token, Until: unixMS(until)}
		}
		return ok, err
	})
	switch {
	case err != nil:
		return waitroom.Slot{}, err
	case !done:
		return waitroom.Slot{}, contention("admit", zone)
	case refused != nil:
		return waitroom.Slot{}, refused
	}
	return slot, nil
}

// Head returns the first n places in line (see waitroom.Store): the queue
// entries from the head on, a page at a time, and the visitors they name;
// holes and places given up are passed over.
func (s *Store) Head(ctx context.Context, zone string, n int, now time.Time) ([]waitroom.Place, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkZone(zone); err != nil {
		return nil, storekit.NotFound(zone)
	}
	m, err := s.readMeta(ctx, zone, s.cfg.cacheAge)
	if err != nil {
		return nil, err
	}
	n = storekit.HeadCount(n)
	out := []waitroom.Place{}
	k := m.keys()
	tail := uint64(math.MaxUint64)
	for cur := m.head + 1; len(out) < n && cur <= tail; {
		size := uint64(min(n-len(out)+2, 100))
		if tail != math.MaxUint64 {
			size = min(size, tail-cur+1)
		}
		entries, visitors, t, err := s.readPlaces(ctx, k, m.draw, cur, size, tail == math.MaxUint64)
		if err != nil {
			return nil, err
		}
		if tail == math.MaxUint64 {
			tail = t
			if tail < cur {
				break
			}
			size = min(size, tail-cur+1)
		}
		for seq := cur; seq < cur+size && len(out) < n; seq++ {
			en := entries[seq]
			if en == nil || en.bool(qHole) || en.bool(qReleased) {
				continue
			}
			id := en.str(qVisitor)
			v := decodeVisitor(id, visitors[keyID(k.visitor(id))])
			if visitors[keyID(k.visitor(id))] == nil || v.seq != m.draw.Arrival(seq) || v.state != waitroom.StateWaiting {
				continue
			}
			out = append(out, v.place(&m, tail))
		}
		cur += size
	}
	return out, nil
}
