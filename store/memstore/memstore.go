// Package memstore keeps waitroom's shared state in the memory of one
// process: zones, queues, leaky buckets and change feeds behind one mutex per
// zone. It is the default store for a single instance and for tests; it
// passes the storetest conformance suite.
package memstore

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// DefaultFeedSize is the number of events kept per zone when WithFeedSize is
// not given.
const DefaultFeedSize = 100_000

// DefaultReadLimit is the number of events ReadFeed returns at most when
// called with limit <= 0.
const DefaultReadLimit = 1000

// errClosed is returned by every call after Close.
var errClosed = storekit.Closed("memstore")

// Option configures a Store.
type Option func(*config)

type config struct {
	feedSize int
	seed     func() uint64
}

// WithDrawSeeds makes the keys of the zones' draws (see waitroom.Draw)
// come from next instead of crypto/rand: for a test or a simulation that
// must repeat a draw. A nil next is ignored.
func WithDrawSeeds(next func() uint64) Option {
	return func(c *config) {
		if next != nil {
			c.seed = next
		}
	}
}

// WithFeedSize sets how many events of each zone's change feed are kept;
// older ones are trimmed, and a reader asking for them gets
// waitroom.ErrFeedTrimmed. Values below 1 are ignored. Default
// DefaultFeedSize (100,000).
func WithFeedSize(n int) Option {
	return func(c *config) {
		if n >= 1 {
			c.feedSize = n
		}
	}
}

// Store is a waitroom.Store held in memory. Each operation runs under its
// zone's mutex, so it is atomic and safe for concurrent use; zones do not
// contend with each other. A Store has no clock of its own: every decision
// uses the caller's now. Zone and ReadFeed, which take no now, check a
// zone's expiry against the latest now any call has passed.
//
// Cost. Every operation is O(1) in the length of the line (Exchange is O(1)
// per visitor it admits, skips or finds expired). A waiting visitor holds
// about 110 bytes with a 22-character id: its place in a chunked queue, its
// entry in an index by id, and the id itself. Each zone also keeps its last
// WithFeedSize events (about 130 bytes each).
//
// The zero value is not usable; call New.
type Store struct {
	cfg config

	mu    sync.RWMutex
	zones map[string]*zone

	// clock is the latest now (unix nanoseconds) any call has passed: the
	// store's notion of the present for calls that take no now.
	clock atomic.Int64

	closed    atomic.Bool
	done      chan struct{} // closed by Close: wakes blocked readers
	closeOnce sync.Once
}

var _ waitroom.Store = (*Store)(nil)

// New returns an empty Store.
func New(opts ...Option) *Store {
	cfg := config{feedSize: DefaultFeedSize, seed: storekit.NewSeed}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return &Store{cfg: cfg, zones: make(map[string]*zone), done: make(chan struct{})}
}

// Close makes every later call, and every ReadFeed blocked now, return an
// error wrapping waitroom.ErrStoreUnavailable. It does not delete data, but
// a closed Store can no longer be read. Calling it again is a no-op.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		close(s.done)
	})
	return nil
}

// observe advances the store's clock to now and returns now in unix
// nanoseconds.
func (s *Store) observe(now time.Time) int64 {
	n := now.UnixNano()
	for {
		c := s.clock.Load()
		if n <= c || s.clock.CompareAndSwap(c, n) {
			return n
		}
	}
}

// lookup returns the live zone called name, locked, or nil if there is
// none (never put, or expired at now). The caller unlocks it.
func (s *Store) lookup(name string, now int64) *zone {
	for {
		s.mu.RLock()
		z := s.zones[name]
		s.mu.RUnlock()
		if z == nil {
			return nil
		}
		z.mu.Lock()
		if z.dead {
			// Removed while we waited for its lock; look again.
			z.mu.Unlock()
			continue
		}
		if z.expiredAt(now) {
			z.kill()
			z.mu.Unlock()
			s.remove(name, z)
			return nil
		}
		return z
	}
}

// remove deletes z from the zone table if it is still the zone called name.
func (s *Store) remove(name string, z *zone) {
	s.mu.Lock()
	if s.zones[name] == z {
		delete(s.zones, name)
	}
	s.mu.Unlock()
}

// sweep removes every zone whose data has expired at now. PutZone runs it,
// so that zones nobody asks about again do not stay in memory forever.
func (s *Store) sweep(now int64) {
	s.mu.RLock()
	var dead []*zone
	for _, z := range s.zones {
		z.mu.Lock()
		if !z.dead && z.expiredAt(now) {
			z.kill()
			dead = append(dead, z)
		}
		z.mu.Unlock()
	}
	s.mu.RUnlock()
	for _, z := range dead {
		s.remove(z.state.Name, z)
	}
}

// check returns errClosed after Close.
// zone returns the live zone called name, locked (the caller unlocks it),
// and now in unix nanoseconds, after recording now as the store's present.
// It fails when the store is closed or the zone does not exist at now.
func (s *Store) zone(name string, now time.Time) (*zone, int64, error) {
	if err := s.check(); err != nil {
		return nil, 0, err
	}
	n := s.observe(now)
	z := s.lookup(name, n)
	if z == nil {
		return nil, 0, storekit.NotFound(name)
	}
	return z, n, nil
}

func (s *Store) check() error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

var errEmptyVisitor = storekit.EmptyVisitor("memstore")

// unix converts unix nanoseconds back to a time in UTC; 0 is the zero time.
func unix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
