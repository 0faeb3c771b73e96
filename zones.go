package waitroom

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// This file holds the zones a Room knows: adding them, finding them by
// name, and matching a request's path to the zone that protects it.

// ErrTooManyZones is returned when adding a zone, by AddZone or for a name
// the zone func gives, would pass the Room's limit (WithMaxZones).
var ErrTooManyZones = errors.New("waitroom: too many zones")

// A zoneEntry is a Room's state of one zone.
type zoneEntry struct {
	zone      atomic.Pointer[Zone] // the settings, replaced whole on a change
	prefixes  []string             // the keys of the zone's Paths (pathKey); guarded by Room.mu
	meter     rateMeter            // admissions seen in the feed
	passed    atomic.Uint64        // visitors let through in ModePassthrough by this Room
	admitting atomic.Int32         // whether the zone admits, as the exchanger last saw it
	batch     *batcher             // nil unless the store is a BatchStore

	feedMu  sync.Mutex // held while reading the feed
	feedSeq uint64     // the feed read up to this sequence number; guarded by feedMu
}

// AddZone adds a zone or updates an existing one, on this instance and in
// the store (other instances learn of the new settings from the change feed;
// each instance keeps its own Paths). A zone already in the store keeps its
// pause (Room.Pause): a Room started mid-sale does not resume a line an
// operator paused.
func (r *Room) AddZone(ctx context.Context, z Zone) error {
	if r.closed.Load() {
		return ErrClosed
	}
	z, err := z.withDefaults()
	if err != nil {
		return err
	}
	r.addMu.Lock()
	defer r.addMu.Unlock()
	return r.putZone(ctx, z)
}

// ensure returns the entry of zone, creating it from the zone template if
// the Room does not know it yet. Without a template an unknown zone is
// ErrZoneNotFound.
func (r *Room) ensure(ctx context.Context, zone string) (*zoneEntry, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if e := r.entry(zone); e != nil {
		return e, nil
	}
	if r.cfg.template == nil {
		return nil, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	z, err := r.cfg.templateZone(zone)
	if err != nil {
		return nil, err
	}
	r.addMu.Lock()
	defer r.addMu.Unlock()
	if e := r.entry(zone); e != nil {
		return e, nil
	}
	if err := r.putZone(ctx, z); err != nil {
		return nil, err
	}
	return r.entry(zone), nil
}

// putZone stores z, keeping the stored pause, and installs it locally: it
// updates a known zone's settings, or makes the entry of a new one and,
// unless WithManualStep, starts its exchanger and feed reader. r.addMu is
// held.
func (r *Room) putZone(ctx context.Context, z Zone) error {
	switch cur, err := r.store.Zone(ctx, z.Name); {
	case err == nil:
		z.paused = cur.Paused
	case !errors.Is(err, ErrZoneNotFound):
		return fmt.Errorf("waitroom: put zone %q: %w", z.Name, err)
	}
	return r.installZone(ctx, z)
}

// installZone stores z as it is and installs it locally (see putZone).
func (r *Room) installZone(ctx context.Context, z Zone) error {
	st, err := r.store.PutZone(ctx, z.state(), r.Now())
	if err != nil {
		return fmt.Errorf("waitroom: put zone %q: %w", z.Name, err)
	}
	z = z.fromState(st)
	r.mu.RLock()
	e := r.zones[z.Name]
	n := len(r.zones)
	r.mu.RUnlock()
	if e != nil {
		e.zone.Store(&z)
		r.rebuildMatch()
		return nil
	}
	if n >= r.cfg.maxZones {
		return fmt.Errorf("%w: limit %d", ErrTooManyZones, r.cfg.maxZones)
	}
	stats, err := r.store.Stats(ctx, z.Name, r.Now())
	if err != nil {
		return fmt.Errorf("waitroom: zone %q: %w", z.Name, err)
	}
	e = &zoneEntry{feedSeq: stats.FeedSeq}
	if bs, ok := r.store.(BatchStore); ok {
		e.batch = newBatcher(bs, z.Name, r.cfg.clock)
	}
	e.zone.Store(&z)
	r.mu.Lock()
	r.zones[z.Name] = e
	r.mu.Unlock()
	r.rebuildMatch()
	if !r.cfg.manual {
		r.wg.Add(2)
		go r.exchanger(z.Name)
		go r.feedReader(z.Name, e)
	}
	return nil
}

// Zone returns the settings of a zone this Room knows.
func (r *Room) Zone(name string) (Zone, bool) {
	e := r.entry(name)
	if e == nil {
		return Zone{}, false
	}
	return *e.zone.Load(), true
}

// Zones returns the names of the zones this Room knows, sorted.
func (r *Room) Zones() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.zones))
	for n := range r.zones {
		names = append(names, n)
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}

// entry returns the entry of zone name, or nil if the Room does not know it.
func (r *Room) entry(name string) *zoneEntry {
	r.mu.RLock()
	e := r.zones[name]
	r.mu.RUnlock()
	return e
}

// MatchPath returns the zone whose path prefix covers the decoded URL path
// p, the longest prefix first. p is judged in its canonical form, with
// parameters, trailing dots and spaces and (unless WithStrictPaths) case
// ignored, and decoded again while percent-escapes remain; see
// CanonicalPath.
func (r *Room) MatchPath(p string) (zone string, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.matched) == 0 {
		return "", false
	}
	pathKeys(p, r.cfg.strictPaths, func(key string) bool {
		for _, e := range r.matched {
			for _, pre := range e.prefixes {
				if underPrefix(key, pre) {
					zone, ok = e.zone.Load().Name, true
					return false
				}
			}
		}
		return true
	})
	return zone, ok
}

// rebuildMatch recomputes every zone's prefixes from its Paths and the
// list MatchPath walks: the zones with paths, the one with the longest
// prefix first, ties by name.
func (r *Room) rebuildMatch() {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.matched[:0:0]
	for _, e := range r.zones {
		paths := e.zone.Load().Paths
		e.prefixes = e.prefixes[:0]
		for _, p := range paths {
			e.prefixes = append(e.prefixes, strings.TrimSuffix(pathKey(p, r.cfg.strictPaths), "/"))
		}
		if len(paths) > 0 {
			m = append(m, e)
		}
	}
	longest := func(e *zoneEntry) int {
		n := 0
		for _, p := range e.prefixes {
			n = max(n, len(p))
		}
		return n
	}
	sort.Slice(m, func(i, j int) bool {
		li, lj := longest(m[i]), longest(m[j])
		if li != lj {
			return li > lj
		}
		return m[i].zone.Load().Name < m[j].zone.Load().Name
	})
	r.matched = m
}
