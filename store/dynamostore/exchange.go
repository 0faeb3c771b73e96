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
	if storekit.DrawDue(m.st, m.draw.Drawn(), n, time.Millisecond) {
		if err := s.drawLine(ctx, tx, n); err != nil {
			return x, nil, err
		}
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
		entries, visitors, t, err := s.readPlaces(ctx, k, m.draw, cur, size, tail == math.MaxUint64)
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
			arrival := m.draw.Arrival(seq)
			full := admitted >= allowed
			switch {
			case en == nil:
				// A number handed out whose registration is not written
				// (in flight, or its writer gave up): mark it passed; a
				// writer still in flight takes a new number.
				if full || tx.room() < 1 {
					return x, changed(), nil
				}
				it := k.entry(arrival)
				it[qHole], it[attrTTL] = boolean(true), num(s.expires(m.st, now))
				tx.put(kindEntry, int(arrival), it, "attribute_not_exists(pk)", nil)
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
			if vit == nil || v.seq != arrival || v.state != waitroom.StateWaiting {
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
					e.n(vSeq), e.v(unum(arrival)), e.n(vLastSeen), e.v(num(n-m.st.AbandonAfter.Milliseconds())))
				tx.del(kindVisitor, int(arrival), k.visitor(id), cond, e)
				tx.event(waitroom.Event{Kind: waitroom.EventAbandoned, Visitor: id, QueueSeq: arrival})
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
			cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(vState), e.v(str(stWaiting)), e.n(vSeq), e.v(unum(arrival)))
			tx.update(kindVisitor, int(arrival), k.visitor(id), upd, cond, e)
			s.addSlot(tx, id, arrival, token, until)
			tx.event(waitroom.Event{Kind: waitroom.EventAdmitted, Visitor: id, QueueSeq: arrival, TokenID: token, SlotUntil: unixMS(until)})
			x.Admitted = append(x.Admitted, waitroom.Admission{Visitor: id, Seq: seq, Slot: waitroom.Slot{TokenID: token, Until: unixMS(until)}})
			admitted++
			m.head = seq
		}
		cur += size
	}
	return x, changed(), nil
}

// drawLine adds the zone's draw at now (ms) to tx (see waitroom.Draw): the
// places after the head up to the tail counter, read now; a registration
// that takes a number after this read queues behind the drawn places.
func (s *Store) drawLine(ctx context.Context, tx *txn, now int64) error {
	m := tx.m
	tail, err := s.readTail(ctx, m)
	if err != nil {
		return err
	}
	s.setTailHint(m.st.Name, tail)
	m.draw = waitroom.Draw{First: tail + 1, Seed: storekit.NewSeed(), At: unixMS(now)}
	if tail > m.head {
		m.draw.First, m.draw.Count = m.head+1, tail-m.head
	}
	tx.event(waitroom.Event{Kind: waitroom.EventDrawn})
	return nil
}

// readPlaces reads the queue entries of the queue numbers [first,
// first+n) (by their arrival numbers under the draw d), with the tail
// counter if withTail, and then the visitor items the entries name; the
// entries are keyed by queue number.
// The tail is read in the same request as the entries, not at the same
// instant: an entry found missing below it may be a registration still
// being written, which the exchanger then makes take a new number.
func (s *Store) readPlaces(ctx context.Context, k zkeys, d waitroom.Draw, first, n uint64, withTail bool) (map[uint64]item, map[string]item, uint64, error) {
	keys := make([]map[string]types.AttributeValue, 0, n+1)
	for seq := first; seq < first+n; seq++ {
		keys = append(keys, k.entry(d.Arrival(seq)))
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
		it := got[keyID(k.entry(d.Arrival(seq)))]
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
