package waitroomtest

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// Store operations, as CountingStore counts them.
const (
	OpPutZone   = "PutZone"
	OpZone      = "Zone"
	OpRegister  = "Register"
	OpPosition  = "Position"
	OpHeartbeat = "Heartbeat"
	OpEnter     = "Enter"
	OpExchange  = "Exchange"
	OpClaim     = "Claim"
	OpRelease   = "Release"
	OpStats     = "Stats"
	OpReadFeed  = "ReadFeed"
	OpBatch     = "Batch"  // one waitroom.BatchStore round trip, whatever it carries
	OpArrive    = "Arrive" // Enter, or else Register, in a batch (waitroom.OpArrive)
)

// RequestOps are the operations a visitor's requests and waiting page make;
// the others (Exchange, ReadFeed, Stats, PutZone, Zone) each Room makes on
// its own clock.
var RequestOps = []string{OpRegister, OpPosition, OpHeartbeat, OpEnter, OpClaim, OpRelease, OpBatch}

var opIndex = map[string]int{
	OpPutZone: 0, OpZone: 1, OpRegister: 2, OpPosition: 3, OpHeartbeat: 4, OpEnter: 5,
	OpExchange: 6, OpClaim: 7, OpRelease: 8, OpStats: 9, OpReadFeed: 10, OpBatch: 11, OpArrive: 12,
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
	calls   [13]atomic.Int64
	batched [13]atomic.Int64
}

// NewCountingStore returns a CountingStore in front of s.
func NewCountingStore(s waitroom.Store) *CountingStore { return &CountingStore{Store: s} }

// Count returns the calls of the named operations (Op...) so far, of all of
// them if none is named. An unknown name counts nothing.
func (s *CountingStore) Count(ops ...string) int64 { return sum(&s.calls, ops) }

func sum(counts *[13]atomic.Int64, ops []string) int64 {
	var n int64
	if len(ops) == 0 {
		for i := range counts {
			n += counts[i].Load()
		}
		return n
	}
	for _, op := range ops {
		if i, ok := opIndex[op]; ok {
			n += counts[i].Load()
		}
	}
	return n
}

// Batched returns the calls of the named operations (OpRegister,
// OpPosition, OpHeartbeat, OpEnter, OpArrive, OpClaim, OpRelease) that
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
// BatchStore that counts each Batch as one OpBatch call and the calls it
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

// Batch counts one OpBatch call and the calls it carries, and passes it
// on.
func (s *countingBatchStore) Batch(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) error {
	s.add(OpBatch)
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
	s.add(OpPutZone)
	return s.Store.PutZone(ctx, z, now)
}

// Zone counts the call and passes it on.
func (s *CountingStore) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	s.add(OpZone)
	return s.Store.Zone(ctx, zone)
}

// Register counts the call and passes it on.
func (s *CountingStore) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.add(OpRegister)
	return s.Store.Register(ctx, zone, visitor, now)
}

// Position counts the call and passes it on.
func (s *CountingStore) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.add(OpPosition)
	return s.Store.Position(ctx, zone, visitor, now)
}

// Heartbeat counts the call and passes it on.
func (s *CountingStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	s.add(OpHeartbeat)
	return s.Store.Heartbeat(ctx, zone, visitor, now)
}

// Enter counts the call and passes it on.
func (s *CountingStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	s.add(OpEnter)
	return s.Store.Enter(ctx, zone, visitor, now)
}

// Exchange counts the call and passes it on.
func (s *CountingStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	s.add(OpExchange)
	return s.Store.Exchange(ctx, zone, now, limit)
}

// Claim counts the call and passes it on.
func (s *CountingStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	s.add(OpClaim)
	return s.Store.Claim(ctx, zone, visitor, now)
}

// Release counts the call and passes it on.
func (s *CountingStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	s.add(OpRelease)
	return s.Store.Release(ctx, zone, visitor, now)
}

// Stats counts the call and passes it on.
func (s *CountingStore) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	s.add(OpStats)
	return s.Store.Stats(ctx, zone, now)
}

// ReadFeed counts the call and passes it on.
func (s *CountingStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	s.add(OpReadFeed)
	return s.Store.ReadFeed(ctx, zone, after, limit, wait)
}
