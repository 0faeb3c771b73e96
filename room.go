package waitroom

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the Room itself: its making, its accessors and its
// lifecycle (Step, Done, Close).

// ErrClosed is returned by a Room's methods after Close.
var ErrClosed = errors.New("waitroom: room closed")

// A Room is a virtual waiting room: a set of zones over a shared Store, an
// exchanger per zone that lets visitors in, and a reader of each zone's
// change feed. Any number of Rooms (one per instance) may share a Store.
// A Room is safe for concurrent use. Close stops its goroutines.
type Room struct {
	store Store
	cfg   config
	keys  atomic.Pointer[KeyRing]

	ctx    context.Context // ends at Close; the goroutines' context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the exchangers and feed readers

	mu      sync.RWMutex
	zones   map[string]*zoneEntry
	matched []*zoneEntry // zones with paths, longest prefix first
	addMu   sync.Mutex   // serialises zone creation

	subs subscribers

	closed atomic.Bool
}

// New returns a Room over store. It puts every zone given by WithZone into
// the store (overwriting the stored settings, except an operator's pause:
// see AddZone) and, unless WithManualStep, starts each zone's exchanger and
// feed reader. Close the Room to stop them; Close also closes the store.
func New(store Store, opts ...Option) (*Room, error) {
	if store == nil {
		return nil, errors.New("waitroom: store is nil")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	store = guard(store, &cfg) // deadlines, the cap and the breaker (storecall.go)
	if cfg.observer != nil {
		store = observe(store, cfg.observer)
	}
	r := &Room{store: store, cfg: cfg, zones: make(map[string]*zoneEntry)}
	r.keys.Store(cfg.keys)
	r.ctx, r.cancel = context.WithCancel(context.Background())

	seen := make(map[string]bool)
	for _, z := range cfg.zones {
		if seen[z.Name] {
			r.cancel()
			return nil, fmt.Errorf("waitroom: zone %q given twice", z.Name)
		}
		seen[z.Name] = true
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		err := r.AddZone(ctx, z)
		cancel()
		if err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// Now returns the Room's clock reading.
func (r *Room) Now() time.Time { return r.cfg.clock() }

// FailPolicy returns the Room's fail policy.
func (r *Room) FailPolicy() FailPolicy { return r.cfg.fail }

// Keys returns the key ring in use.
func (r *Room) Keys() *KeyRing { return r.keys.Load() }

// SetKeys replaces the key ring, for rotation: list the new key last and
// keep the old ones until their tokens expire.
func (r *Room) SetKeys(k *KeyRing) error {
	if k == nil {
		return errors.New("waitroom: key ring is nil")
	}
	r.keys.Store(k)
	return nil
}

// Store returns the Room's store.
func (r *Room) Store() Store { return r.store }

// Step runs one exchange step on every zone at the Room's clock and, with
// WithManualStep, delivers the change feed's new events to subscribers
// before it returns. Tests use it to advance the room deterministically.
func (r *Room) Step(ctx context.Context) error {
	if r.closed.Load() {
		return ErrClosed
	}
	var errs []error
	for _, name := range r.Zones() {
		if _, err := r.exchange(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	if r.cfg.manual {
		for _, name := range r.Zones() {
			if err := r.drainFeed(ctx, name, r.entry(name), 0); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Done returns a channel that is closed when the Room is closed, so that
// goroutines serving the Room (push connections) can stop with it.
func (r *Room) Done() <-chan struct{} { return r.ctx.Done() }

// Close stops every goroutine of the Room and closes its store. Calling it
// again does nothing.
func (r *Room) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cancel()
	r.wg.Wait()
	return r.store.Close()
}
