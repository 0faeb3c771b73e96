package waitroom

import (
	"context"
	"time"
)

// An Observer is told what a Room does as it does it, for metrics: package
// metrics feeds Prometheus from one, and this package imports none. Its
// methods are called on the Room's goroutines, concurrently; they must
// return quickly and must not call the Room.
type Observer interface {
	// StoreCall is told of every call the Room makes to its store: the
	// Store method ("Register", "Batch", "Exchange", ...), how long it
	// took, and its error (nil, a sentinel of the contract, or a failure).
	StoreCall(op string, took time.Duration, err error)
	// Event is told of every event of a zone's change feed the Room reads,
	// in the feed's order for each zone.
	Event(ev Event)
}

// WithObserver tells o what the Room does (see Observer). Default: none,
// at no cost.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// observe returns s with its calls told to o; a BatchStore stays one.
func observe(s Store, o Observer) Store {
	os := &observedStore{s: s, o: o}
	if bs, ok := s.(BatchStore); ok {
		return &observedBatchStore{observedStore: os, bs: bs}
	}
	return os
}

// observedStore tells an Observer of every call it passes on.
type observedStore struct {
	s Store
	o Observer
}

func (s *observedStore) done(op string, start time.Time, err error) {
	s.o.StoreCall(op, time.Since(start), err)
}

func (s *observedStore) PutZone(ctx context.Context, z ZoneState, now time.Time) (ZoneState, error) {
	start := time.Now()
	st, err := s.s.PutZone(ctx, z, now)
	s.done("PutZone", start, err)
	return st, err
}

func (s *observedStore) Zone(ctx context.Context, zone string) (ZoneState, error) {
	start := time.Now()
	st, err := s.s.Zone(ctx, zone)
	s.done("Zone", start, err)
	return st, err
}

func (s *observedStore) Register(ctx context.Context, zone, visitor string, now time.Time) (Place, error) {
	start := time.Now()
	p, err := s.s.Register(ctx, zone, visitor, now)
	s.done("Register", start, err)
	return p, err
}

func (s *observedStore) Position(ctx context.Context, zone, visitor string, now time.Time) (Place, error) {
	start := time.Now()
	p, err := s.s.Position(ctx, zone, visitor, now)
	s.done("Position", start, err)
	return p, err
}

func (s *observedStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	start := time.Now()
	err := s.s.Heartbeat(ctx, zone, visitor, now)
	s.done("Heartbeat", start, err)
	return err
}

func (s *observedStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (Slot, bool, error) {
	start := time.Now()
	slot, ok, err := s.s.Enter(ctx, zone, visitor, now)
	s.done("Enter", start, err)
	return slot, ok, err
}

func (s *observedStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (Exchange, error) {
	start := time.Now()
	x, err := s.s.Exchange(ctx, zone, now, limit)
	s.done("Exchange", start, err)
	return x, err
}

func (s *observedStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (Slot, error) {
	start := time.Now()
	slot, err := s.s.Claim(ctx, zone, visitor, now)
	s.done("Claim", start, err)
	return slot, err
}

func (s *observedStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	start := time.Now()
	held, err := s.s.Release(ctx, zone, visitor, now)
	s.done("Release", start, err)
	return held, err
}

func (s *observedStore) Admit(ctx context.Context, zone, visitor string, now time.Time) (Slot, error) {
	start := time.Now()
	slot, err := s.s.Admit(ctx, zone, visitor, now)
	s.done("Admit", start, err)
	return slot, err
}

func (s *observedStore) Head(ctx context.Context, zone string, n int, now time.Time) ([]Place, error) {
	start := time.Now()
	ps, err := s.s.Head(ctx, zone, n, now)
	s.done("Head", start, err)
	return ps, err
}

func (s *observedStore) Stats(ctx context.Context, zone string, now time.Time) (ZoneStats, error) {
	start := time.Now()
	st, err := s.s.Stats(ctx, zone, now)
	s.done("Stats", start, err)
	return st, err
}

func (s *observedStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]Event, error) {
	start := time.Now()
	evs, err := s.s.ReadFeed(ctx, zone, after, limit, wait)
	s.done("ReadFeed", start, err)
	return evs, err
}

func (s *observedStore) Close() error { return s.s.Close() }

// observedBatchStore is an observedStore in front of a BatchStore.
type observedBatchStore struct {
	*observedStore
	bs BatchStore
}

func (s *observedBatchStore) Batch(ctx context.Context, zone string, now time.Time, calls []Call) error {
	start := time.Now()
	err := s.bs.Batch(ctx, zone, now, calls)
	s.done("Batch", start, err)
	return err
}
