package dynamostore

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Visitor item attributes.
const (
	vState    = "st"
	vSeq      = "seq"
	vArrived  = "arr"
	vLastSeen = "ls"
	vToken    = "tok"
	vUntil    = "un"

	stWaiting  = "w"
	stAdmitted = "a"
	stInside   = "i"

	// Queue entry attributes.
	qVisitor  = "v"
	qHole     = "hole" // a number handed out whose registration never completed
	qReleased = "rel"  // the place was given up while waiting
)

// visitorRec is a visitor item.
type visitorRec struct {
	id       string
	state    waitroom.VisitorState
	seq      uint64
	arrived  int64 // ms
	lastSeen int64 // ms
	token    string
	until    int64 // ms
}

func decodeVisitor(id string, it item) visitorRec {
	v := visitorRec{
		id: id, seq: it.uint(vSeq), arrived: it.int(vArrived), lastSeen: it.int(vLastSeen),
		token: it.str(vToken), until: it.int(vUntil),
	}
	switch it.str(vState) {
	case stWaiting:
		v.state = waitroom.StateWaiting
	case stAdmitted:
		v.state = waitroom.StateAdmitted
	case stInside:
		v.state = waitroom.StateInside
	}
	return v
}

// holds reports whether the record is a place at now: waiting, or a slot
// before its deadline.
func (v visitorRec) holds(now int64) bool {
	switch v.state {
	case waitroom.StateWaiting:
		return true
	case waitroom.StateAdmitted, waitroom.StateInside:
		return v.until > now
	}
	return false
}

// slotLive reports whether the record holds a slot before its deadline.
func (v visitorRec) slotLive(now int64) bool {
	return (v.state == waitroom.StateAdmitted || v.state == waitroom.StateInside) && v.until > now
}

// place describes the record in the zone m, whose tail counter was tail
// when last read: its Seq is its queue number (its arrival number, or the
// number a draw gave it).
func (v visitorRec) place(m *meta, tail uint64) waitroom.Place {
	p := waitroom.Place{
		Visitor: v.id, State: v.state, Seq: m.draw.Number(v.seq),
		Arrived: unixMS(v.arrived), LastSeen: unixMS(v.lastSeen),
	}
	if v.state == waitroom.StateWaiting {
		p.Ahead, p.Undrawn = m.ahead(p.Seq), m.undrawn()
		if p.Undrawn {
			p.Ahead = max(m.waiting(max(tail, v.seq))-1, 0)
		}
	} else {
		p.Slot = waitroom.Slot{TokenID: v.token, Until: unixMS(v.until)}
	}
	return p
}

// getVisitor reads a visitor item (strongly consistent); ok is false if
// there is none.
func (s *Store) getVisitor(ctx context.Context, k zkeys, visitor string) (visitorRec, bool, error) {
	return s.readVisitor(ctx, k, visitor, true)
}

// readVisitor reads a visitor item; ok is false if there is none.
func (s *Store) readVisitor(ctx context.Context, k zkeys, visitor string, consistent bool) (visitorRec, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: k.visitor(visitor), ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return visitorRec{}, false, unavailable("read visitor", err)
	}
	if consistent {
		s.usage.read(1)
	} else {
		s.usage.read(0.5)
	}
	if out.Item == nil {
		return visitorRec{}, false, nil
	}
	return decodeVisitor(visitor, out.Item), true, nil
}

// batchGet reads the items at keys (any number) and returns them by
// partition key + "|" + sort key.
func (s *Store) batchGet(ctx context.Context, op string, keys []map[string]types.AttributeValue) (map[string]item, error) {
	out := make(map[string]item, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), 100)
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: keys[:n], ConsistentRead: aws.Bool(true)}}
		keys = keys[n:]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				if attempt > maxAttempts {
					return nil, unavailable(op, errors.New("batch read left keys unprocessed"))
				}
				if err := backoff(ctx, attempt); err != nil {
					return nil, unavailable(op, err)
				}
			}
			res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
				RequestItems: pending,
			})
			if err != nil {
				return nil, unavailable(op, err)
			}
			s.usage.read(float64(len(pending[s.table].Keys)))
			for _, it := range res.Responses[s.table] {
				out[itemID(it)] = it
			}
			pending = res.UnprocessedKeys
		}
	}
	return out, nil
}

func itemID(it map[string]types.AttributeValue) string {
	return item(it).str(attrPK) + "|" + item(it).str(attrSK)
}

func keyID(k map[string]types.AttributeValue) string { return itemID(k) }

// Position returns the visitor's place without changing anything (see
// waitroom.Store): one read of the visitor item, and of the zone item when
// this Store's copy is older than the cache age. Ahead is the distance to
// the head of the line.
func (s *Store) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if err := s.check(); err != nil {
		return waitroom.Place{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.Place{}, storekit.NotFound(zone)
	}
	if checkVisitor(visitor) != nil {
		return waitroom.Place{}, storekit.NotQueued(zone, visitor)
	}
	m, err := s.readMeta(ctx, zone, s.cfg.cacheAge)
	if err != nil {
		return waitroom.Place{}, err
	}
	v, ok, err := s.readVisitor(ctx, m.keys(), visitor, !s.cfg.eventual)
	if err != nil {
		return waitroom.Place{}, err
	}
	if !ok || !v.holds(now.UnixMilli()) {
		return waitroom.Place{}, storekit.NotQueued(zone, visitor)
	}
	tail, _ := s.tailHint(zone)
	return v.place(&m, tail), nil
}

// Heartbeat records now as the waiting visitor's last heartbeat (see
// waitroom.Store): one conditional write of the visitor item.
func (s *Store) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := checkZone(zone); err != nil {
		return storekit.NotFound(zone)
	}
	if checkVisitor(visitor) != nil {
		return storekit.NotQueued(zone, visitor)
	}
	m, err := s.readMeta(ctx, zone, s.cfg.cacheAge)
	if err != nil {
		return err
	}
	return s.touch(ctx, &m, visitor, now)
}

// tailHint returns the last tail counter this Store saw for zone (0 if
// none), and whether it saw it within the cache age: the exchanger reads
// nothing when the line was empty a moment ago, and a single entry when it
// looked empty last time.
func (s *Store) tailHint(zone string) (tail uint64, fresh bool) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	h := s.tails[zone]
	return h.tail, time.Since(h.at) < s.cfg.cacheAge
}

func (s *Store) setTailHint(zone string, tail uint64) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	s.tails[zone] = tailSeen{tail: max(s.tails[zone].tail, tail), at: time.Now()}
}

type tailSeen struct {
	tail uint64
	at   time.Time
}
