package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// maxRegBatch is the most registrations written in one transaction (two
// actions each).
const maxRegBatch = maxTxItems / 2

type regReq struct {
	visitor string
	now     time.Time
	seq     uint64 // number handed out, 0 before
	place   waitroom.Place
	err     error
}

// Register gives the visitor a place at the back of the queue, or returns
// the place it holds (see waitroom.Store). Registering appends no event and
// does not write the zone item. A slot past its deadline is left for
// Exchange to leak (with EventExpired); the visitor gets a new place. A
// Room gathers concurrent registrations into one Batch: one tail-counter
// update and one TransactWriteItems for up to 50 of them.
func (s *Store) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if err := s.check(); err != nil {
		return waitroom.Place{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Place{}, storekit.NotFound(zone)
	}
	if err := checkVisitor(visitor); err != nil {
		return waitroom.Place{}, err
	}
	q := &regReq{visitor: strings.Clone(visitor), now: now}
	if err := s.registerAll(ctx, zone, []*regReq{q}); err != nil {
		return waitroom.Place{}, err
	}
	if q.err != nil {
		return waitroom.Place{}, q.err // ErrLineFull
	}
	p := q.place
	p.Visitor = visitor
	return p, nil
}

// registerAll writes the registrations qs (of distinct visitors), in
// order, up to maxRegBatch per transaction. A registration refused for a
// full line keeps ErrLineFull in its err; any other failure is returned. A zone's registrations on one
// Store take turns, so that repeat registrations of one visitor take one
// place and hand out no number in vain. The writes run on a goroutine of
// the Store's with a deadline of their own, so that a caller who gives up
// does not leave a number handed out but never written; the caller is
// told at once.
func (s *Store) registerAll(ctx context.Context, zone string, qs []*regReq) error {
	if _, err := s.readMeta(ctx, zone, s.cfg.cacheAge); err != nil {
		return err
	}
	done := make(chan struct{})
	if !s.spawn(func() {
		defer close(done)
		wctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		defer cancel()
		// Not the zone item's turn (lockZone(zone)): registrations do not
		// write it. Zone names hold no '#'.
		unlock, err := s.lockZone(wctx, zone+"#register")
		if err != nil {
			for _, q := range qs {
				q.err = err
			}
			return
		}
		defer unlock()
		for start := 0; start < len(qs); start += maxRegBatch {
			s.registerBatch(wctx, zone, qs[start:min(start+maxRegBatch, len(qs))])
		}
	}) {
		return errClosed
	}
	select {
	case <-done:
	case <-ctx.Done():
		return unavailable("register", ctx.Err())
	}
	for _, q := range qs {
		if q.err != nil && !errors.Is(q.err, waitroom.ErrLineFull) {
			return q.err
		}
	}
	return nil
}

// registerBatch settles every registration of batch, setting its place or
// error.
func (s *Store) registerBatch(ctx context.Context, zone string, batch []*regReq) {
	fail := func(err error, qs []*regReq) {
		for _, q := range qs {
			if q.err == nil {
				q.err = err
			}
		}
	}
	m, err := s.readMeta(ctx, zone, s.cfg.cacheAge)
	if err != nil {
		fail(err, batch)
		return
	}
	k := m.keys()
	keys := make([]map[string]types.AttributeValue, len(batch))
	for i, q := range batch {
		keys[i] = k.visitor(q.visitor)
	}
	found, err := s.batchGet(ctx, "register", keys)
	if err != nil {
		fail(err, batch)
		return
	}
	var fresh []*regReq
	for i, q := range batch {
		it := found[keyID(keys[i])]
		if it == nil {
			fresh = append(fresh, q)
			continue
		}
		v := decodeVisitor(q.visitor, it)
		n := q.now.UnixMilli()
		if !v.holds(n) {
			fresh = append(fresh, q)
			continue
		}
		if v.state == waitroom.StateWaiting && n > v.lastSeen {
			if err := s.touch(ctx, &m, q.visitor, q.now); err != nil && !errors.Is(err, waitroom.ErrNotQueued) {
				q.err = err
				continue
			}
			v.lastSeen = n
		}
		tail, _ := s.tailHint(zone)
		q.place = v.place(&m, tail)
	}
	if fresh, err = s.capLine(ctx, &m, fresh); err != nil {
		fail(err, fresh)
		return
	}
	for attempt := 0; len(fresh) > 0; attempt++ {
		if attempt >= maxAttempts {
			fail(contention("register", zone), fresh)
			return
		}
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				fail(unavailable("register", err), fresh)
				return
			}
		}
		fresh, err = s.writePlaces(ctx, &m, fresh)
		if err != nil {
			fail(err, fresh)
			return
		}
	}
}

// writePlaces numbers the registrations that have no number yet (one
// update of the tail counter) and writes every visitor item with its queue
// entry in one transaction. It returns the registrations still to write.
func (s *Store) writePlaces(ctx context.Context, m *meta, qs []*regReq) ([]*regReq, error) {
	k := m.keys()
	var need int
	for _, q := range qs {
		if q.seq == 0 {
			need++
		}
	}
	if need > 0 {
		last, err := s.allocate(ctx, m, need)
		if err != nil {
			return qs, err
		}
		next := last - uint64(need) + 1
		for _, q := range qs {
			if q.seq == 0 {
				q.seq = next
				next++
			}
		}
	}
	items := make([]types.TransactWriteItem, 0, 2*len(qs))
	for _, q := range qs {
		n := q.now.UnixMilli()
		ttl := num(s.expires(m.st, q.now))
		v := k.visitor(q.visitor)
		v[vState], v[vSeq], v[vArrived], v[vLastSeen], v[attrTTL] = str(stWaiting), unum(q.seq), num(n), num(n), ttl
		e := newExpr()
		cond := fmt.Sprintf("attribute_not_exists(pk) OR (%s <> %s AND %s <= %s)",
			e.n(vState), e.v(str(stWaiting)), e.n(vUntil), e.v(num(n)))
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: &s.table, Item: v, ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}})
		en := k.entry(q.seq)
		en[qVisitor], en[attrTTL] = str(q.visitor), ttl
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: &s.table, Item: en, ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}})
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: items,
	})
	s.usage.transaction(len(items))
	if err == nil {
		for _, q := range qs {
			n := q.now.UnixMilli()
			q.place = visitorRec{state: waitroom.StateWaiting, seq: q.seq, arrived: n, lastSeen: n}.place(m, q.seq)
		}
		return nil, nil
	}
	f, _, err := cancelled("register", err)
	if err != nil {
		return qs, err
	}
	if len(f.reasons) != len(items) {
		return qs, nil // conflict without reasons: try again as is
	}
	var again []*regReq
	for i, q := range qs {
		switch {
		case f.reasons[2*i] == "ConditionalCheckFailed":
			// The visitor took a place meanwhile (another instance
			// registered it): its number is left unused.
			s.tombstone(ctx, m, q.seq)
			q.seq = 0
			v, ok, err := s.getVisitor(ctx, k, q.visitor)
			if err != nil {
				q.err = err
				continue
			}
			if ok && v.holds(q.now.UnixMilli()) {
				q.place = v.place(m, q.seq)
				continue
			}
			again = append(again, q)
		case f.reasons[2*i+1] == "ConditionalCheckFailed":
			// The exchanger passed the number before the entry was
			// written: take a new one.
			q.seq = 0
			again = append(again, q)
		default:
			again = append(again, q)
		}
	}
	return again, nil
}

// allocate hands out n queue numbers: it adds n to the zone's tail counter
// and returns the last number.
func (s *Store) allocate(ctx context.Context, m *meta, n int) (uint64, error) {
	e := newExpr()
	upd := fmt.Sprintf("ADD %s %s SET %s = %s", e.n("tl"), e.v(num(n)), e.n(attrTTL), e.v(num(s.expires(m.st, time.Time{}))))
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: m.keys().tail(), UpdateExpression: aws.String(upd),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, unavailable("register: number places", err)
	}
	s.usage.write(1)
	s.tailWrites.Add(1)
	last := item(out.Attributes).uint("tl")
	s.setTailHint(m.st.Name, last)
	if last < uint64(n) {
		return 0, unavailable("register: number places", fmt.Errorf("tail counter returned %d after adding %d", last, n))
	}
	return last, nil
}

// tombstone marks an unused queue number so that the exchanger passes it
// without waiting. Best effort: the exchanger writes it itself otherwise.
func (s *Store) tombstone(ctx context.Context, m *meta, seq uint64) {
	if seq == 0 {
		return
	}
	it := m.keys().entry(seq)
	it[qHole], it[attrTTL] = boolean(true), num(s.expires(m.st, time.Time{}))
	s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	s.usage.write(1)
}

// touch records now as a waiting visitor's last heartbeat. ErrNotQueued if
// the visitor does not wait (the caller tells a slot from no place).
func (s *Store) touch(ctx context.Context, m *meta, visitor string, now time.Time) error {
	n := now.UnixMilli()
	e := newExpr()
	upd := e.set(vLastSeen, num(n), attrTTL, num(s.expires(m.st, now)))
	cond := fmt.Sprintf("%s = %s AND %s < %s", e.n(vState), e.v(str(stWaiting)), e.n(vLastSeen), e.v(num(n)))
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: m.keys().visitor(visitor), UpdateExpression: aws.String(upd),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	s.usage.write(1)
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return unavailable("heartbeat", err)
	}
	if ccf.Item == nil {
		return storekit.NotQueued(m.st.Name, visitor)
	}
	v := decodeVisitor(visitor, ccf.Item)
	if v.state == waitroom.StateWaiting || v.slotLive(n) {
		return nil // seen later already, or admitted: nothing to record
	}
	return storekit.NotQueued(m.st.Name, visitor)
}

// capLine refuses the registrations of fresh that would make more than
// MaxWaiting places in line (ErrLineFull), and returns the rest. The count
// is this Store's reading of the tail counter: instances registering at
// the same moment may each fill the room left, so a line may pass its cap
// by at most one batch (50) per instance.
func (s *Store) capLine(ctx context.Context, m *meta, fresh []*regReq) ([]*regReq, error) {
	limit := m.st.MaxWaiting
	if limit <= 0 || len(fresh) == 0 {
		return fresh, nil
	}
	tail, err := s.readTail(ctx, m)
	if err != nil {
		return fresh, err
	}
	room := max(limit-m.waiting(tail), 0)
	if int64(len(fresh)) <= room {
		return fresh, nil
	}
	for _, q := range fresh[room:] {
		q.err = storekit.LineFull(m.st.Name, limit)
	}
	return fresh[:room], nil
}
