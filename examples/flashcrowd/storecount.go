package main

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
)

// storeOps names the Store operations the report counts, in its order:
// first those a visitor's requests and pages make (perVisitorOps), then
// those each instance makes on its own clock (the exchanger's steps, the
// feed's reads, the report's sampler).
var storeOps = [...]string{"register", "position", "heartbeat", "enter", "claim", "release", "exchange", "stats", "feed", "zone"}

const perVisitorOps = 6

// storeCalls counts the calls every instance makes to its store, by
// operation: what a visitor costs the store, which bounds a crowd on Redis.
type storeCalls [len(storeOps)]atomic.Int64

// byVisitors is the calls visitors' requests and pages made.
func (c *storeCalls) byVisitors() int64 {
	var n int64
	for i := range perVisitorOps {
		n += c[i].Load()
	}
	return n
}

func (c *storeCalls) total() int64 {
	var n int64
	for i := range c {
		n += c[i].Load()
	}
	return n
}

// String lists the non-zero counts, "register 100, position 250, …".
func (c *storeCalls) String() string {
	var parts []string
	for i, name := range storeOps {
		if n := c[i].Load(); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}

// countedStore is a Store whose calls are counted in calls.
type countedStore struct {
	waitroom.Store
	calls *storeCalls
}

func (s countedStore) count(op int) { s.calls[op].Add(1) }

func (s countedStore) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.count(0)
	return s.Store.Register(ctx, zone, visitor, now)
}

func (s countedStore) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.count(1)
	return s.Store.Position(ctx, zone, visitor, now)
}

func (s countedStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	s.count(2)
	return s.Store.Heartbeat(ctx, zone, visitor, now)
}

func (s countedStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	s.count(3)
	return s.Store.Enter(ctx, zone, visitor, now)
}

func (s countedStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	s.count(6)
	return s.Store.Exchange(ctx, zone, now, limit)
}

func (s countedStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	s.count(4)
	return s.Store.Claim(ctx, zone, visitor, now)
}

func (s countedStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	s.count(5)
	return s.Store.Release(ctx, zone, visitor, now)
}

func (s countedStore) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	s.count(7)
	return s.Store.Stats(ctx, zone, now)
}

func (s countedStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	s.count(8)
	return s.Store.ReadFeed(ctx, zone, after, limit, wait)
}

func (s countedStore) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	s.count(9)
	return s.Store.Zone(ctx, zone)
}
