package waitroomtest

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// A CountingStore counts calls by the name of the waitroom.Store method
// ("Register", "Exchange", ...), "Batch" for one waitroom.BatchStore round
// trip whatever it carries, and, inside batches, by the name of the
// waitroom.Op ("Arrive": Enter, or else Register).
const (
	opPutZone   = "PutZone"
	opZone      = "Zone"
	opRegister  = "Register"
	opPosition  = "Position"
	opHeartbeat = "Heartbeat"
	opEnter     = "Enter"
	opExchange  = "Exchange"
	opClaim     = "Claim"
	opRelease   = "Release"
	opStats     = "Stats"
	opReadFeed  = "ReadFeed"
	opBatch     = "Batch"
	opArrive    = "Arrive"
	opAdmit     = "Admit"
	opHead      = "Head"
)

// RequestOps are the operations a visitor's requests and waiting page make;
// the others (Exchange, ReadFeed, Stats, PutZone, Zone) each Room makes on
// its own clock.
var RequestOps = []string{opRegister, opPosition, opHeartbeat, opEnter, opClaim, opRelease, opBatch}

var opIndex = map[string]int{
	opPutZone: 0, opZone: 1, opRegister: 2, opPosition: 3, opHeartbeat: 4, opEnter: 5,
	opExchange: 6, opClaim: 7, opRelease: 8, opStats: 9, opReadFeed: 10, opBatch: 11, opArrive: 12,
	opAdmit: 13, opHead: 14,
}

// CountingStore is a waitroom.Store that counts the calls made to it, by
// operation, and passes them on: what an app's requests cost its store,
// asserted in a test. It is safe for concurrent use.
//
// A CountingStore is not a waitroom.BatchStore, so a Room over it makes
// each call on its own; Counting puts one in front of a BatchStore and
// keeps the batches.
type CountingStore struct {
	waitroom.Store
	calls   [15]atomic.Int64
	batched [15]atomic.Int64
}

// NewCountingStore returns a CountingStore in front of s.
func NewCountingStore(s waitroom.Store) *CountingStore { return &CountingStore{Store: s} }

// Count returns the calls of the named methods so far ("Register",
// "Batch", ...), of all of them if none is named. It panics on a name that
// is no method of the Store, so that a misspelt count fails its test.
func (s *CountingStore) Count(ops ...string) int64 { return sum(&s.calls, ops) }

func sum(counts *[15]atomic.Int64, ops []string) int64 {
	var n int64
	if len(ops) == 0 {
		for i := range counts {
			n += counts[i].Load()
		}
		return n
	}
	for _, op := range ops {
		i, ok := opIndex[op]
		if !ok {
			panic("waitroomtest: no store operation is named " + strconv.Quote(op))
		}
		n += counts[i].Load()
	}
	return n
}

// Batched returns the calls of the named operations ("Register",
// "Position", "Heartbeat", "Enter", "Arrive", "Claim", "Release") that
// went to the store inside a Batch, of all of them if none is named.
func (s *CountingStore) Batched(ops ...string) int64 {
	return sum(&s.batched, ops)
}

// Reset sets every count to zero.
func (s *CountingStore) Reset() {
	for i := range s.calls {
		s.calls[i].Store(0)
		s.batched[i].Store(0)
	}
}

// Counting returns a CountingStore in front of s, and the store to give a
// Room: the CountingStore itself, or, if s is a waitroom.BatchStore, a
// BatchStore that counts each Batch as one "Batch" call and the calls it
// carries (see Batched) through the same CountingStore. So a Room over it
// batches exactly as over s.
func Counting(s waitroom.Store) (waitroom.Store, *CountingStore) {
	c := NewCountingStore(s)
	if bs, ok := s.(waitroom.BatchStore); ok {
		return &countingBatchStore{c, bs}, c
	}
	return c, c
}

type countingBatchStore struct {
	*CountingStore
	bs waitroom.BatchStore
}

// Batch counts one "Batch" call and the calls it carries, and passes it
// on.
func (s *countingBatchStore) Batch(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) error {
	s.add(opBatch)
	for _, c := range calls {
		if i, ok := opIndex[c.Op.String()]; ok {
			s.batched[i].Add(1)
		}
	}
	return s.bs.Batch(ctx, zone, now, calls)
}

func (s *CountingStore) add(op string) { s.calls[opIndex[op]].Add(1) }

// PutZone counts the call and passes it on.
func (s *CountingStore) PutZone(ctx context.Context, z waitroom.ZoneState, now time.Time) (waitroom.ZoneState, error) {
	s.add(opPutZone)
	return s.Store.PutZone(ctx, z, now)
}

// Zone counts the call and passes it on.
func (s *CountingStore) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	s.add(opZone)
	return s.Store.Zone(ctx, zone)
}

// Register counts the call and passes it on.
func (s *CountingStore) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.add(opRegister)
	return s.Store.Register(ctx, zone, visitor, now)
}

// Position counts the call and passes it on.
func (s *CountingStore) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.add(opPosition)
	return s.Store.Position(ctx, zone, visitor, now)
}

// Heartbeat counts the call and passes it on.
func (s *CountingStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	s.add(opHeartbeat)
	return s.Store.Heartbeat(ctx, zone, visitor, now)
}

// Enter counts the call and passes it on.
func (s *CountingStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	s.add(opEnter)
	return s.Store.Enter(ctx, zone, visitor, now)
}

// Exchange counts the call and passes it on.
func (s *CountingStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	s.add(opExchange)
	return s.Store.Exchange(ctx, zone, now, limit)
}

// Claim counts the call and passes it on.
func (s *CountingStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	s.add(opClaim)
	return s.Store.Claim(ctx, zone, visitor, now)
}

// Release counts the call and passes it on.
func (s *CountingStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	s.add(opRelease)
	return s.Store.Release(ctx, zone, visitor, now)
}

// Stats counts the call and passes it on.
func (s *CountingStore) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	s.add(opStats)
	return s.Store.Stats(ctx, zone, now)
}

// ReadFeed counts the call and passes it on.
func (s *CountingStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	s.add(opReadFeed)
	return s.Store.ReadFeed(ctx, zone, after, limit, wait)
}

// Admit counts the call and passes it on.
func (s *CountingStore) Admit(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	s.add(opAdmit)
	return s.Store.Admit(ctx, zone, visitor, now)
}

// Head counts the call and passes it on.
func (s *CountingStore) Head(ctx context.Context, zone string, n int, now time.Time) ([]waitroom.Place, error) {
	s.add(opHead)
	return s.Store.Head(ctx, zone, n, now)
}
