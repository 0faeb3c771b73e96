package waitroom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// This file holds the bounds a Room puts on every call it makes to its
// store: a deadline (WithStoreTimeout), a cap on the calls in flight at
// once (WithMaxStoreCalls) and a circuit breaker (WithBreaker). They wrap
// the store as the Observer does, so they cover every call, whoever in the
// Room makes it.

// Errors of the store calls a Room answers itself, without the store. Both
// wrap ErrStoreUnavailable, so the fail policy applies to them.
var (
	// ErrCircuitOpen: the circuit breaker is open (the store failed
	// WithBreaker's number of calls in a row), so the call was not made.
	ErrCircuitOpen = fmt.Errorf("%w: circuit breaker open", ErrStoreUnavailable)
	// ErrStoreBusy: WithMaxStoreCalls calls are in flight already, so the
	// call was not made.
	ErrStoreBusy = fmt.Errorf("%w: too many store calls in flight", ErrStoreUnavailable)
)

// guard returns s with the bounds of c on its calls; a BatchStore stays
// one.
func guard(s Store, c *config) Store {
	g := &guardedStore{s: s, timeout: c.storeTimeout, max: int64(c.maxStoreCalls), clock: c.clock, logger: c.logger}
	if c.breakerFailures > 0 {
		g.br = newBreaker(c.breakerFailures, c.breakerCoolDown)
	}
	if bs, ok := s.(BatchStore); ok {
		return &guardedBatchStore{guardedStore: g, bs: bs}
	}
	return g
}

// guardedStore passes each call on with a deadline, unless too many are
// in flight or the breaker is open.
//
// The deadline is the call's context: a store that honours its context
// (the memory, Redis and DynamoDB stores do) returns by then, with an
// error that wraps ErrStoreUnavailable. ReadFeed's deadline is its wait
// plus the timeout, and ReadFeed is not capped: each zone's feed reader
// makes one at a time, and it waits by design.
type guardedStore struct {
	s        Store
	timeout  time.Duration
	max      int64 // calls in flight at most
	inflight atomic.Int64
	br       *breaker // nil: no breaker
	clock    func() time.Time
	logger   *slog.Logger
}

// storeCall is one call guardedStore let through.
type storeCall struct {
	g      *guardedStore
	op     string
	parent context.Context // the caller's
	ctx    context.Context // with the deadline
	cancel context.CancelFunc
	capped bool
	probe  bool
}

// begin lets a call of op go, or says why not. wait is how long the call
// may wait by design (ReadFeed's), on top of the timeout; capped says
// whether it counts against the cap; late, whether it should probe an
// open breaker only when no other call has (a batch, a waiting read).
func (g *guardedStore) begin(ctx context.Context, op string, wait time.Duration, capped, late bool) (storeCall, error) {
	c := storeCall{g: g, op: op, parent: ctx, capped: capped}
	if capped && g.inflight.Add(1) > g.max {
		g.inflight.Add(-1)
		return c, fmt.Errorf("%w: %s: %d in flight", ErrStoreBusy, op, g.max)
	}
	if g.br != nil {
		ok, probe := g.br.allow(g.clock(), late)
		if !ok {
			if capped {
				g.inflight.Add(-1)
			}
			return c, fmt.Errorf("%w: %s not made", ErrCircuitOpen, op)
		}
		c.probe = probe
	}
	c.ctx, c.cancel = context.WithTimeout(ctx, wait+g.timeout)
	return c, nil
}

// end counts how the call ended and returns its error, marked as a store
// failure if the deadline ended it.
func (c storeCall) end(err error) error {
	timedOut := err != nil && c.parent.Err() == nil && errors.Is(c.ctx.Err(), context.DeadlineExceeded) &&
		(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrStoreUnavailable))
	c.cancel()
	g := c.g
	if c.capped {
		g.inflight.Add(-1)
	}
	res := callAnswered
	switch {
	case err == nil:
	case c.parent.Err() != nil:
		res = callGaveUp
	case timedOut:
		res = callFailed
		if !errors.Is(err, ErrStoreUnavailable) {
			err = fmt.Errorf("%w: %s: no answer within %v: %w", ErrStoreUnavailable, c.op, g.timeout, err)
		}
	case errors.Is(err, ErrStoreUnavailable):
		res = callFailed
	}
	if g.br == nil {
		return err
	}
	switch change, down := g.br.record(c.probe, res, g.clock()); change {
	case breakerOpened:
		g.logger.Warn("waitroom: store failing: circuit breaker open, store calls fail fast",
			"failures", g.br.failures, "cool_down", g.br.coolDown, "op", c.op, "err", err)
	case breakerClosedAgain:
		g.logger.Info("waitroom: store answers again: circuit breaker closed", "open_for", down, "op", c.op)
	}
	return err
}

// inFlight returns the capped calls in flight, for tests.
func (g *guardedStore) inFlight() int64 { return g.inflight.Load() }

func (g *guardedStore) PutZone(ctx context.Context, z ZoneState, now time.Time) (ZoneState, error) {
	c, err := g.begin(ctx, "PutZone", 0, true, false)
	if err != nil {
		return ZoneState{}, err
	}
	st, err := g.s.PutZone(c.ctx, z, now)
	return st, c.end(err)
}

func (g *guardedStore) Zone(ctx context.Context, zone string) (ZoneState, error) {
	c, err := g.begin(ctx, "Zone", 0, true, false)
	if err != nil {
		return ZoneState{}, err
	}
	st, err := g.s.Zone(c.ctx, zone)
	return st, c.end(err)
}

func (g *guardedStore) Register(ctx context.Context, zone, visitor string, now time.Time) (Place, error) {
	c, err := g.begin(ctx, "Register", 0, true, false)
	if err != nil {
		return Place{}, err
	}
	p, err := g.s.Register(c.ctx, zone, visitor, now)
	return p, c.end(err)
}

func (g *guardedStore) Position(ctx context.Context, zone, visitor string, now time.Time) (Place, error) {
	c, err := g.begin(ctx, "Position", 0, true, false)
	if err != nil {
		return Place{}, err
	}
	p, err := g.s.Position(c.ctx, zone, visitor, now)
	return p, c.end(err)
}

func (g *guardedStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	c, err := g.begin(ctx, "Heartbeat", 0, true, false)
	if err != nil {
		return err
	}
	return c.end(g.s.Heartbeat(c.ctx, zone, visitor, now))
}

func (g *guardedStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (Slot, bool, error) {
	c, err := g.begin(ctx, "Enter", 0, true, false)
	if err != nil {
		return Slot{}, false, err
	}
	slot, ok, err := g.s.Enter(c.ctx, zone, visitor, now)
	return slot, ok, c.end(err)
}

func (g *guardedStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (Exchange, error) {
	c, err := g.begin(ctx, "Exchange", 0, true, false)
	if err != nil {
		return Exchange{}, err
	}
	x, err := g.s.Exchange(c.ctx, zone, now, limit)
	return x, c.end(err)
}

func (g *guardedStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (Slot, error) {
	c, err := g.begin(ctx, "Claim", 0, true, false)
	if err != nil {
		return Slot{}, err
	}
	slot, err := g.s.Claim(c.ctx, zone, visitor, now)
	return slot, c.end(err)
}

func (g *guardedStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	c, err := g.begin(ctx, "Release", 0, true, false)
	if err != nil {
		return false, err
	}
	held, err := g.s.Release(c.ctx, zone, visitor, now)
	return held, c.end(err)
}

func (g *guardedStore) Admit(ctx context.Context, zone, visitor string, now time.Time) (Slot, error) {
	c, err := g.begin(ctx, "Admit", 0, true, false)
	if err != nil {
		return Slot{}, err
	}
	slot, err := g.s.Admit(c.ctx, zone, visitor, now)
	return slot, c.end(err)
}

func (g *guardedStore) Head(ctx context.Context, zone string, n int, now time.Time) ([]Place, error) {
	c, err := g.begin(ctx, "Head", 0, true, false)
	if err != nil {
		return nil, err
	}
	ps, err := g.s.Head(c.ctx, zone, n, now)
	return ps, c.end(err)
}

func (g *guardedStore) Stats(ctx context.Context, zone string, now time.Time) (ZoneStats, error) {
	c, err := g.begin(ctx, "Stats", 0, true, false)
	if err != nil {
		return ZoneStats{}, err
	}
	st, err := g.s.Stats(c.ctx, zone, now)
	return st, c.end(err)
}

func (g *guardedStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]Event, error) {
	c, err := g.begin(ctx, "ReadFeed", max(wait, 0), false, wait > 0)
	if err != nil {
		return nil, err
	}
	evs, err := g.s.ReadFeed(c.ctx, zone, after, limit, wait)
	return evs, c.end(err)
}

func (g *guardedStore) Close() error { return g.s.Close() }

// guardedBatchStore is a guardedStore in front of a BatchStore. A batch
// is one call: one deadline, one place under the cap, one result for the
// breaker; it probes an open breaker late (see breaker).
type guardedBatchStore struct {
	*guardedStore
	bs BatchStore
}

func (g *guardedBatchStore) Batch(ctx context.Context, zone string, now time.Time, calls []Call) error {
	c, err := g.begin(ctx, "Batch", 0, true, true)
	if err != nil {
		return err
	}
	return c.end(g.bs.Batch(c.ctx, zone, now, calls))
}
