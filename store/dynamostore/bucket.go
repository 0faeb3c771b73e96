package dynamostore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Slot item attributes (the visitor, its queue number and token are kept
// so that a leak can report them without reading the visitor).
const (
	sVisitor = "v"
	sSeq     = "seq"
	sToken   = "tok"
	sUntil   = "un"
)

// maxLeak is the most slots one step leaks.
const maxLeak = 30

type slotRec struct {
	visitor string
	seq     uint64
	token   string
	until   int64
}

// readTail returns the zone's tail counter: the last queue number handed
// out.
func (s *Store) readTail(ctx context.Context, m *meta) (uint64, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: m.keys().tail(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, unavailable("read tail counter", err)
	}
	s.usage.read(1)
	return item(out.Item).uint("tl"), nil
}

// expiredSlots returns up to maxLeak slots whose deadline is at or before
// now (ms), earliest first, and the deadline of the earliest slot left:
// next is math.MaxInt64 when no slot is left, 0 when more may have
// expired than were returned. It reads the bucket's first slots in
// deadline order.
func (s *Store) expiredSlots(ctx context.Context, m *meta, now int64) (slots []slotRec, next int64, err error) {
	e := newExpr()
	cond := fmt.Sprintf("%s = %s", e.n(attrPK), e.v(str(m.keys().bucketPK())))
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String(cond), ConsistentRead: aws.Bool(true),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values, Limit: aws.Int32(maxLeak + 1),
	})
	if err != nil {
		return nil, 0, unavailable("read expired slots", err)
	}
	s.usage.query(out.Items)
	for _, it := range out.Items {
		it := item(it)
		sl := slotRec{visitor: it.str(sVisitor), seq: it.uint(sSeq), token: it.str(sToken), until: it.int(sUntil)}
		if sl.until > now {
			return slots, sl.until, nil
		}
		if len(slots) == maxLeak {
			return slots, 0, nil
		}
		slots = append(slots, sl)
	}
	if out.LastEvaluatedKey != nil {
		return slots, 0, nil
	}
	return slots, math.MaxInt64, nil
}

// countExpired counts the slots whose deadline is at or before now (ms).
func (s *Store) countExpired(ctx context.Context, m *meta, now int64) (int, error) {
	if now < m.nextLeak {
		return 0, nil
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s < %s", e.n(attrPK), e.v(str(m.keys().bucketPK())), e.n(attrSK), e.v(str(padInt(now+1))))
	in := &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String(cond), ConsistentRead: aws.Bool(true),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values, Select: types.SelectCount,
	}
	total := 0
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, unavailable("count expired slots", err)
		}
		s.usage.read(1)
		total += int(out.Count)
		if out.LastEvaluatedKey == nil {
			return total, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// leak adds to tx the removal of slots past their deadline at now (ms),
// with EventExpired for each, and returns how many. The zone item's
// nextLeak moves on when every expired slot is in.
func (s *Store) leak(ctx context.Context, tx *txn, now int64) (int, error) {
	m := tx.m
	if now < m.nextLeak {
		return 0, nil
	}
	slots, next, err := s.expiredSlots(ctx, m, now)
	if err != nil {
		return 0, err
	}
	k := tx.keys
	for _, sl := range slots {
		tx.del(kindSlot, 0, k.slot(sl.until, sl.token), "attribute_exists(pk)", nil)
		tx.event(waitroom.Event{Kind: waitroom.EventExpired, Visitor: sl.visitor, QueueSeq: sl.seq, TokenID: sl.token})
		m.inside = max(m.inside-1, 0)
	}
	if next != 0 {
		m.nextLeak = next // the earliest deadline left: no query until then
	}
	return len(slots), nil
}

// addSlot adds to tx the slot item of a visitor let in until until (ms).
func (s *Store) addSlot(tx *txn, visitor string, seq uint64, token string, until int64) {
	it := tx.keys.slot(until, token)
	it[sVisitor], it[sToken], it[sUntil] = str(visitor), str(token), num(until)
	if seq != 0 {
		it[sSeq] = unum(seq)
	}
	it[attrTTL] = num(s.expires(tx.m.st, unixMS(until)))
	tx.put(kindSlot, 0, it, "", nil)
	m := tx.m
	m.inside++
	m.credit--
	m.admitted++
	m.lastAdmit = max(m.lastAdmit, tx.now.UnixMilli())
	m.nextLeak = min(m.nextLeak, until)
}

// Exchange lets the next visitors in (see waitroom.Store). It leaks the
// slots past their deadline first; then, while the zone is open, limit is
// not reached, a slot is free and the rate allows one more, it takes the
// head of the line: a visitor not seen for longer than AbandonAfter is
// skipped (EventAbandoned), any other is admitted (EventAdmitted). The
// step is one TransactWriteItems conditioned on the zone item: when another
// instance's step (or any other change) wins the race, it is computed again
// from the new state, and after a few lost races it admits nobody.
func (s *Store) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	if err := s.check(); err != nil {
		return waitroom.Exchange{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Exchange{}, storekit.NotFound(zone)
	}
	unlock, err := s.lockZone(ctx, zone)
	if err != nil {
		return waitroom.Exchange{}, err
	}
	defer unlock()
	for attempt := 0; attempt < 8; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return waitroom.Exchange{}, unavailable("exchange", err)
			}
		}
		m, err := s.writerMeta(ctx, zone)
		if err != nil {
			return waitroom.Exchange{}, err
		}
		x, tx, err := s.planExchange(ctx, &m, now, limit)
		if err != nil {
			return waitroom.Exchange{}, err
		}
		if tx == nil {
			s.refreshTTL(ctx, &m, now)
			return x, nil
		}
		ok, _, err := tx.commit(ctx, "exchange")
		if err != nil {
			return waitroom.Exchange{}, err
		}
		if ok {
			return x, nil
		}
	}
	return waitroom.Exchange{}, nil
}

// planExchange computes one exchange step on m and returns the transaction
// that makes it, or nil if nothing changes.
func (s *Store) planExchange(ctx context.Context, m *meta, now time.Time, limit int) (waitroom.Exchange, *txn, error) {
	var x waitroom.Exchange
	n := now.UnixMilli()
	tx := s.newTx(m, now)
	oldLeak, oldHead := m.nextLeak, m.head
	leaked, err := s.leak(ctx, tx, n)
	if err != nil {
		return x, nil, err
	}
	x.Expired = leaked
	changed := func() *txn {
		if tx.empty() && m.head == oldHead && m.nextLeak == oldLeak {
			return nil
		}
		return tx
	}
	if !m.openAt(n) || limit <= 0 {
		return x, changed(), nil
	}
	m.accrue(n)
	allowed := min(limit, m.st.Capacity-m.inside, int(math.Floor(m.credit+1e-9)))
	if allowed <= 0 {
		return x, changed(), nil
	}
	k := tx.keys
	admitted := 0
	tail := uint64(math.MaxUint64) // until read with the first page
	for cur := m.head + 1; cur <= tail; {
		size := uint64(min(allowed-admitted+2, 100))
		if tail != math.MaxUint64 {
			size = min(size, tail-cur+1)
		} else if hint, fresh := s.tailHint(m.st.Name); hint < cur && fresh {
			break // the line was empty a moment ago (at most the cache age)
		} else if hint < cur {
			size = 1 // the line looked empty last time: read little
		} else {
			size = min(size, hint-cur+1) // no more than the line held last time
		}
		entries, visitors, t, err := s.readPlaces(ctx, k, cur, size, tail == math.MaxUint64)
		if err != nil {
			return x, nil, err
		}
		if tail == math.MaxUint64 {
			tail = t
			s.setTailHint(m.st.Name, t)
			if tail < cur {
				break
			}
			size = min(size, tail-cur+1)
		}
		for seq := cur; seq < cur+size; seq++ {
			en := entries[seq]
			full := admitted >= allowed
			switch {
			case en == nil:
				// A number handed out whose registration is not written
				// (in flight, or its writer gave up): mark it passed; a
				// writer still in flight takes a new number.
				if full || tx.room() < 1 {
					return x, changed(), nil
				}
				it := k.entry(seq)
				it[qHole], it[attrTTL] = boolean(true), num(s.expires(m.st, now))
				tx.put(kindEntry, int(seq), it, "attribute_not_exists(pk)", nil)
				m.head = seq
				continue
			case en.bool(qHole):
				m.head = seq
				continue
			case en.bool(qReleased):
				m.head = seq
				m.released = max(m.released-1, 0)
				continue
			}
			id := en.str(qVisitor)
			vit := visitors[keyID(k.visitor(id))]
			v := decodeVisitor(id, vit)
			if vit == nil || v.seq != seq || v.state != waitroom.StateWaiting {
				m.head = seq // the place ended without a mark (its data expired)
				continue
			}
			if full {
				return x, changed(), nil
			}
			e := newExpr()
			if v.lastSeen+m.st.AbandonAfter.Milliseconds() < n {
				if tx.room() < 2 {
					return x, changed(), nil
				}
				cond := fmt.Sprintf("%s = %s AND %s = %s AND %s < %s", e.n(vState), e.v(str(stWaiting)),
					e.n(vSeq), e.v(unum(seq)), e.n(vLastSeen), e.v(num(n-m.st.AbandonAfter.Milliseconds())))
				tx.del(kindVisitor, int(seq), k.visitor(id), cond, e)
				tx.event(waitroom.Event{Kind: waitroom.EventAbandoned, Visitor: id, QueueSeq: seq})
				x.Abandoned++
				m.head = seq
				continue
			}
			if tx.room() < 3 {
				return x, changed(), nil
			}
			token, until := storekit.NewID(), n+m.st.ClaimWindow.Milliseconds()
			upd := e.set(vState, str(stAdmitted), vToken, str(token), vUntil, num(until),
				attrTTL, num(s.expires(m.st, unixMS(until))))
			cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vState), e.v(str(stWaiting)), e.n(vSeq), e.v(unum(seq)))
			tx.update(kindVisitor, int(seq), k.visitor(id), upd, cond, e)
			s.addSlot(tx, id, seq, token, until)
			tx.event(waitroom.Event{Kind: waitroom.EventAdmitted, Visitor: id, QueueSeq: seq, TokenID: token, SlotUntil: unixMS(until)})
			x.Admitted = append(x.Admitted, waitroom.Admission{Visitor: id, Seq: seq, Slot: waitroom.Slot{TokenID: token, Until: unixMS(until)}})
			admitted++
			m.head = seq
		}
		cur += size
	}
	return x, changed(), nil
}

// readPlaces reads the queue entries of seqs [first, first+n), with the
// tail counter if withTail, and then the visitor items the entries name.
// The tail is read in the same request as the entries, not at the same
// instant: an entry found missing below it may be a registration still
// being written, which the exchanger then makes take a new number.
func (s *Store) readPlaces(ctx context.Context, k zkeys, first, n uint64, withTail bool) (map[uint64]item, map[string]item, uint64, error) {
	keys := make([]map[string]types.AttributeValue, 0, n+1)
	for seq := first; seq < first+n; seq++ {
		keys = append(keys, k.entry(seq))
	}
	if withTail {
		keys = append(keys, k.tail())
	}
	got, err := s.batchGet(ctx, "read queue", keys)
	if err != nil {
		return nil, nil, 0, err
	}
	var tail uint64
	if withTail {
		tail = got[keyID(k.tail())].uint("tl")
	}
	entries := make(map[uint64]item, len(got))
	var vkeys []map[string]types.AttributeValue
	seen := make(map[string]bool)
	for seq := first; seq < first+n; seq++ {
		it := got[keyID(k.entry(seq))]
		if it == nil {
			continue
		}
		entries[seq] = it
		if id := it.str(qVisitor); id != "" && !it.bool(qReleased) && !seen[id] {
			seen[id] = true
			vkeys = append(vkeys, k.visitor(id))
		}
	}
	visitors, err := s.batchGet(ctx, "read queue", vkeys)
	if err != nil {
		return nil, nil, 0, err
	}
	return entries, visitors, tail, nil
}

// refreshTTL keeps an active zone's item alive: Exchange runs on every
// instance's tick, so a zone in use never expires however long nothing
// changes in it. At most one write per half DataTTL.
func (s *Store) refreshTTL(ctx context.Context, m *meta, now time.Time) {
	want := s.expires(m.st, now)
	if m.ttl >= want-int64(m.st.DataTTL.Seconds()/2) {
		return
	}
	e := newExpr()
	upd := e.set(attrTTL, num(want))
	cond := fmt.Sprintf("%s = %s AND %s < %s", e.n(mEpoch), e.v(str(m.epoch)), e.n(attrTTL), e.v(num(want)))
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: metaKey(m.st.Name), UpdateExpression: aws.String(upd), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
	})
	s.usage.write(1)
	if err == nil {
		m.ttl = want
		s.remember(*m, false)
	}
}

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
	unlock, err := s.lockZone(ctx, zone)
	if err != nil {
		return waitroom.Slot{}, false, err
	}
	defer unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return waitroom.Slot{}, false, unavailable("enter", err)
			}
		}
		m, err := s.writerMeta(ctx, zone)
		if err != nil {
			return waitroom.Slot{}, false, err
		}
		k := m.keys()
		v, ok, err := s.getVisitor(ctx, k, visitor)
		if err != nil {
			return waitroom.Slot{}, false, err
		}
		if ok && v.slotLive(n) {
			return waitroom.Slot{TokenID: v.token, Until: unixMS(v.until)}, true, nil
		}
		if !m.openAt(n) || (ok && v.state == waitroom.StateWaiting) {
			return waitroom.Slot{}, false, nil
		}
		tail, err := s.readTail(ctx, &m)
		if err != nil {
			return waitroom.Slot{}, false, err
		}
		if m.waiting(tail) > 0 {
			return waitroom.Slot{}, false, nil
		}
		tx := s.newTx(&m, now)
		if m.inside >= m.st.Capacity {
			if _, err := s.leak(ctx, tx, n); err != nil {
				return waitroom.Slot{}, false, err
			}
		}
		if m.inside >= m.st.Capacity {
			return waitroom.Slot{}, false, nil
		}
		m.accrue(n)
		if m.credit < 1-1e-9 {
			return waitroom.Slot{}, false, nil
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
		ok, _, err = tx.commit(ctx, "enter")
		if err != nil {
			return waitroom.Slot{}, false, err
		}
		if ok {
			return waitroom.Slot{TokenID: token, Until: unixMS(until)}, true, nil
		}
	}
	return waitroom.Slot{}, false, nil
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
	unlock, err := s.lockZone(ctx, zone)
	if err != nil {
		return waitroom.Slot{}, err
	}
	defer unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return waitroom.Slot{}, unavailable("claim", err)
			}
		}
		m, err := s.writerMeta(ctx, zone)
		if err != nil {
			return waitroom.Slot{}, err
		}
		k := m.keys()
		v, ok, err := s.getVisitor(ctx, k, visitor)
		if err != nil {
			return waitroom.Slot{}, err
		}
		switch {
		case !ok || v.state == waitroom.StateWaiting || v.state == 0:
			return waitroom.Slot{}, storekit.NotAdmitted(zone, visitor, "")
		case v.state == waitroom.StateInside && v.until > n:
			return waitroom.Slot{TokenID: v.token, Until: unixMS(v.until)}, nil
		case v.state == waitroom.StateInside:
			return waitroom.Slot{}, storekit.NotAdmitted(zone, visitor, "slot expired")
		case v.until <= n:
			return waitroom.Slot{}, storekit.ClaimExpired(zone, visitor)
		}
		until := n + m.st.Session.Milliseconds()
		tx := s.newTx(&m, now)
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
		if err != nil {
			return waitroom.Slot{}, err
		}
		if ok {
			return waitroom.Slot{TokenID: v.token, Until: unixMS(until)}, nil
		}
		if len(f.failed(kindSlot)) > 0 {
			return waitroom.Slot{}, storekit.ClaimExpired(zone, visitor) // leaked meanwhile
		}
	}
	return waitroom.Slot{}, contention("claim", zone)
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
	unlock, err := s.lockZone(ctx, zone)
	if err != nil {
		return 0, err
	}
	defer unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return 0, unavailable("release", err)
			}
		}
		m, err := s.writerMeta(ctx, zone)
		if err != nil {
			return 0, err
		}
		k := m.keys()
		v, ok, err := s.getVisitor(ctx, k, visitor)
		if err != nil {
			return 0, err
		}
		if !ok || !v.holds(n) {
			return 0, nil
		}
		tx := s.newTx(&m, now)
		e := newExpr()
		if v.state == waitroom.StateWaiting {
			cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vState), e.v(str(stWaiting)), e.n(vSeq), e.v(unum(v.seq)))
			tx.del(kindVisitor, 0, k.visitor(visitor), cond, e)
			if v.seq == m.head+1 {
				if err := s.passReleased(ctx, &m, v.seq); err != nil {
					return 0, err
				}
			} else if v.seq > m.head {
				e := newExpr()
				cond := fmt.Sprintf("%s = %s", e.n(qVisitor), e.v(str(visitor)))
				tx.update(kindEntry, 0, k.entry(v.seq), e.set(qReleased, boolean(true)), cond, e)
				m.released++
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
		if err != nil {
			return 0, err
		}
		if ok {
			return v.state, nil
		}
		if len(f.failed(kindSlot)) > 0 {
			return 0, nil // leaked meanwhile: no longer held
		}
	}
	return 0, contention("release", zone)
}

// passReleased moves the head of the line past the place seq (at the head,
// being released) and past the released places right behind it, so that
// Ahead and HeadSeq count only places still in line.
func (s *Store) passReleased(ctx context.Context, m *meta, seq uint64) error {
	m.head = seq
	if m.released <= 0 {
		return nil
	}
	const look = 8
	k := m.keys()
	keys := make([]map[string]types.AttributeValue, look)
	for i := range keys {
		keys[i] = k.entry(seq + 1 + uint64(i))
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
	}
	if st.Waiting > 0 {
		st.HeadSeq = m.head + 1
	}
	return st, nil
}
