package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/waitroom/waitroom"
)

// maxTxItems is the most actions one TransactWriteItems may hold.
const maxTxItems = 100

// Kinds of items in a transaction, to tell which condition failed.
type itemKind uint8

const (
	kindMeta itemKind = iota
	kindEvent
	kindVisitor
	kindEntry
	kindSlot
)

// txn builds one TransactWriteItems that changes a zone item (always the
// first action, conditioned on the feed Seq the change was computed from)
// together with the items and events of the change: the transactional
// outbox.
type txn struct {
	s     *Store
	m     *meta  // the zone's state after the change; event adds to its fs
	base  uint64 // the item version the change was computed from
	now   time.Time
	keys  zkeys
	items []types.TransactWriteItem
	kinds []itemKind
	refs  []int // caller's reference of each item (e.g. an index)
	evs   []waitroom.Event

	create         bool // put a new zone item (it must not exist)
	updateSettings bool // write the settings as well as the counters
}

func (s *Store) newTx(m *meta, now time.Time) *txn {
	return &txn{s: s, m: m, base: m.mv, now: now, keys: m.keys()}
}

// room returns how many more actions fit.
func (t *txn) room() int { return maxTxItems - 1 - len(t.items) }

// empty reports whether the transaction holds nothing but the zone item.
func (t *txn) empty() bool { return len(t.items) == 0 }

func (t *txn) add(kind itemKind, ref int, it types.TransactWriteItem) {
	t.items = append(t.items, it)
	t.kinds = append(t.kinds, kind)
	t.refs = append(t.refs, ref)
}

// event appends ev to the zone's feed: it takes the next Seq and an outbox
// item is written in the same transaction.
func (t *txn) event(ev waitroom.Event) {
	t.m.fs++
	ev.Seq = t.m.fs
	ev.Zone = t.m.st.Name
	ev.At = unixMS(t.now.UnixMilli())
	ev.QueueSeq = t.m.draw.Number(ev.QueueSeq) // callers give arrival numbers
	t.evs = append(t.evs, ev)
	it := t.keys.event(ev.Seq)
	it[eSeq] = unum(ev.Seq)
	it[eKind] = num(int(ev.Kind))
	it[eZone] = str(ev.Zone)
	it[eEpoch] = str(t.m.epoch)
	it[eAt] = num(ev.At.UnixMilli())
	if ev.Visitor != "" {
		it[eVisitor] = str(ev.Visitor)
	}
	if ev.QueueSeq != 0 {
		it[eQueueSeq] = unum(ev.QueueSeq)
	}
	if ev.TokenID != "" {
		it[eToken] = str(ev.TokenID)
	}
	if ev.Version != 0 {
		it[eVersion] = unum(ev.Version)
	}
	if !ev.SlotUntil.IsZero() {
		it[eSlotUntil] = num(ev.SlotUntil.UnixMilli())
	}
	it[attrTTL] = num(t.s.eventExpires(t.m.st, t.now))
	t.add(kindEvent, int(ev.Seq), types.TransactWriteItem{Put: &types.Put{
		TableName: &t.s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}})
}

// put adds a Put of it, with an optional condition.
func (t *txn) put(kind itemKind, ref int, it map[string]types.AttributeValue, cond string, e *expr) {
	p := &types.Put{TableName: &t.s.table, Item: it}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
	}
	if e != nil {
		p.ExpressionAttributeNames, p.ExpressionAttributeValues = e.namesOrNil(), e.valuesOrNil()
	}
	t.add(kind, ref, types.TransactWriteItem{Put: p})
}

// update adds an Update of the item at k.
func (t *txn) update(kind itemKind, ref int, k map[string]types.AttributeValue, upd, cond string, e *expr) {
	u := &types.Update{
		TableName: &t.s.table, Key: k, UpdateExpression: aws.String(upd),
		ExpressionAttributeNames: e.namesOrNil(), ExpressionAttributeValues: e.valuesOrNil(),
	}
	if cond != "" {
		u.ConditionExpression = aws.String(cond)
	}
	t.add(kind, ref, types.TransactWriteItem{Update: u})
}

// del adds a Delete of the item at k, with an optional condition.
func (t *txn) del(kind itemKind, ref int, k map[string]types.AttributeValue, cond string, e *expr) {
	d := &types.Delete{TableName: &t.s.table, Key: k}
	if cond != "" {
		d.ConditionExpression = aws.String(cond)
	}
	if e != nil {
		d.ExpressionAttributeNames, d.ExpressionAttributeValues = e.namesOrNil(), e.valuesOrNil()
	}
	t.add(kind, ref, types.TransactWriteItem{Delete: d})
}

// check adds a ConditionCheck of the item at k.
func (t *txn) check(kind itemKind, ref int, k map[string]types.AttributeValue, cond string) {
	t.add(kind, ref, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &t.s.table, Key: k, ConditionExpression: aws.String(cond),
	}})
}

// txFailure says why a transaction was cancelled.
type txFailure struct {
	kinds   []itemKind
	refs    []int
	reasons []string // per action, "" where the action was fine
}

// failed reports whether an action of kind failed its condition, and the
// references of those that did.
func (f *txFailure) failed(kind itemKind) []int {
	if f == nil {
		return nil
	}
	var refs []int
	for i, r := range f.reasons {
		if r == "ConditionalCheckFailed" && f.kinds[i] == kind {
			refs = append(refs, f.refs[i])
		}
	}
	return refs
}

// commit writes the transaction. ok is false when it was cancelled (the
// zone item moved on since it was read, another transaction held an item,
// or a condition failed: f says which); err is for failures of the store.
// When the zone item had moved on, this Store's copy is replaced by the
// current one, for the next attempt.
func (t *txn) commit(ctx context.Context, op string) (ok bool, f *txFailure, err error) {
	m := t.m
	m.ttl = t.s.expires(m.st, t.now)
	m.mv = t.base + 1
	e := newExpr()
	var first types.TransactWriteItem
	if t.create {
		it := metaKey(m.st.Name)
		pairs := append(settings(m.st), m.counters()...)
		pairs = append(pairs, mEpoch, str(m.epoch), mShards, num(m.shards))
		for i := 0; i+1 < len(pairs); i += 2 {
			it[pairs[i].(string)] = pairs[i+1].(types.AttributeValue)
		}
		cond := fmt.Sprintf("attribute_not_exists(pk) OR %s < %s", e.n(attrTTL), e.v(num(t.s.cfg.wallClock().Unix())))
		first = types.TransactWriteItem{Put: &types.Put{
			TableName: &t.s.table, Item: it, ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}}
	} else {
		pairs := m.counters()
		if t.updateSettings {
			pairs = append(pairs, settings(m.st)...)
		}
		upd := e.set(pairs...)
		cond := fmt.Sprintf("%s = %s AND %s = %s", e.n(mItemVer), e.v(unum(t.base)), e.n(mEpoch), e.v(str(m.epoch)))
		first = types.TransactWriteItem{Update: &types.Update{
			TableName: &t.s.table, Key: metaKey(m.st.Name), UpdateExpression: aws.String(upd),
			ConditionExpression: aws.String(cond), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}}
	}
	items := append([]types.TransactWriteItem{first}, t.items...)
	_, err = t.s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: items,
	})
	t.s.usage.transaction(len(items))
	if err == nil {
		t.s.remember(*m, false)
		if len(t.evs) > 0 {
			t.s.feedWritten(m.st.Name, m.epoch, t.evs)
		}
		return true, nil, nil
	}
	f, current, err := cancelled(op, err)
	switch {
	case current != nil:
		t.s.remember(decodeMeta(m.st.Name, current), true)
	case f != nil && (len(f.reasons) == 0 || f.reasons[0] != ""):
		t.s.forget(m.st.Name) // the zone item is busy or gone: read it again
	}
	if f != nil {
		f.kinds = append([]itemKind{kindMeta}, t.kinds...)
		f.refs = append([]int{0}, t.refs...)
		if len(f.reasons) != len(f.kinds) {
			f.reasons = nil
		}
	}
	return false, f, err
}

// cancelled sorts a TransactWriteItems error into a cancellation (the
// reasons per action) or a store failure. first is the current first item
// when its condition failed and the request asked for it.
func cancelled(op string, err error) (f *txFailure, first map[string]types.AttributeValue, _ error) {
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		f := &txFailure{reasons: make([]string, len(tce.CancellationReasons))}
		for i, r := range tce.CancellationReasons {
			code := aws.ToString(r.Code)
			switch code {
			case "", "None":
			case "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
				f.reasons[i] = code
				if i == 0 && code == "ConditionalCheckFailed" && len(r.Item) > 0 {
					first = r.Item
				}
			default:
				return nil, nil, unavailable(op, fmt.Errorf("transaction cancelled: %s: %s", code, aws.ToString(r.Message)))
			}
		}
		return f, first, nil
	}
	var conflict *types.TransactionConflictException
	if errors.As(err, &conflict) {
		return &txFailure{}, nil, nil
	}
	return nil, nil, unavailable(op, err)
}

// isConditionFailed reports whether a single-item write failed its
// condition (a lost race, not an error).
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Event attribute names.
const (
	eSeq       = "seq"
	eKind      = "k"
	eZone      = "z"
	eEpoch     = "ep"
	eVisitor   = "v"
	eQueueSeq  = "qs"
	eToken     = "tok"
	eAt        = "at"
	eVersion   = "ver"
	eSlotUntil = "su"
)

func decodeEvent(it item) waitroom.Event {
	return waitroom.Event{
		Seq:       it.uint(eSeq),
		Zone:      it.str(eZone),
		Kind:      waitroom.EventKind(it.int(eKind)),
		Visitor:   it.str(eVisitor),
		QueueSeq:  it.uint(eQueueSeq),
		TokenID:   it.str(eToken),
		At:        unixMS(it.int(eAt)),
		Version:   it.uint(eVersion),
		SlotUntil: unixMS(it.int(eSlotUntil)),
	}
}
