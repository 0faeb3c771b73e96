package waitroom

import (
	"context"
	"fmt"
)

// This file holds what an operator changes in a running sale. Every change
// is one PutZone: stored, so a Room started later sees it, and carried to
// every instance by the change feed (EventZone), which each applies within
// its feed's staleness bound. Two operators changing one zone at once:
// the last write wins.

// ChangeZone changes the settings of a zone this Room knows with edit, in
// the store and on this instance, and returns the settings before and
// after. edit gets the zone's current settings; the result is validated as
// AddZone validates (a capacity of 0, a rate over 1e9 per second, a
// closing before the opening are refused with ErrInvalidZone) and Paths
// are this instance's own. Lowering Capacity evicts nobody: admissions
// stop until fewer than the new capacity are inside.
func (r *Room) ChangeZone(ctx context.Context, zone string, edit func(*Zone)) (before, after Zone, err error) {
	if r.closed.Load() {
		return Zone{}, Zone{}, ErrClosed
	}
	r.addMu.Lock()
	defer r.addMu.Unlock()
	e := r.entry(zone)
	if e == nil {
		return Zone{}, Zone{}, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	before = *e.zone.Load()
	if cur, err := r.store.Zone(ctx, zone); err == nil {
		before = before.fromState(cur) // another instance's change may not have reached this one yet
	}
	after = before
	edit(&after)
	after.Name, after.Paths, after.version = before.Name, before.Paths, before.version
	if after, err = after.withDefaults(); err != nil {
		return before, before, err
	}
	if err := r.installZone(ctx, after); err != nil {
		return before, before, err
	}
	after, _ = r.Zone(zone)
	r.cfg.logger.Info("waitroom: zone changed", "zone", zone, "version", after.Version(), "change", zoneDiff(before, after))
	return before, after, nil
}

// Pause stops admission to zone: nobody is let in, by the line or
// directly, until Resume. The line keeps its order and keeps growing;
// visitors inside stay.
func (r *Room) Pause(ctx context.Context, zone string) error {
	_, _, err := r.ChangeZone(ctx, zone, func(z *Zone) { z.paused = true })
	return err
}

// Resume lets admission to zone go on after Pause, from the head of the
// line.
func (r *Room) Resume(ctx context.Context, zone string) error {
	_, _, err := r.ChangeZone(ctx, zone, func(z *Zone) { z.paused = false })
	return err
}

// SetMode changes how visitors get in to zone (see Mode).
func (r *Room) SetMode(ctx context.Context, zone string, m Mode) error {
	_, _, err := r.ChangeZone(ctx, zone, func(z *Zone) { z.Mode = m })
	return err
}

// CloseNow ends the sale of zone at once: ClosesAt becomes now. Nobody is
// let in from then; every visitor sees the closed page.
func (r *Room) CloseNow(ctx context.Context, zone string) error {
	now := r.Now()
	_, _, err := r.ChangeZone(ctx, zone, func(z *Zone) {
		if z.ClosesAt.IsZero() || z.ClosesAt.After(now) {
			z.ClosesAt = now
			if !z.OpensAt.IsZero() && !z.OpensAt.Before(now) {
				z.OpensAt = now.Add(-1) // a sale that had not opened is over too
			}
		}
	})
	return err
}

// zoneDiff lists the settings that differ between a and b, for the log.
func zoneDiff(a, b Zone) []string {
	var d []string
	add := func(name string, x, y any) {
		if x != y {
			d = append(d, fmt.Sprintf("%s: %v -> %v", name, x, y))
		}
	}
	add("capacity", a.Capacity, b.Capacity)
	add("admit_per_second", a.AdmitPerSecond, b.AdmitPerSecond)
	add("session", a.Session, b.Session)
	add("claim_window", a.ClaimWindow, b.ClaimWindow)
	add("abandon_after", a.AbandonAfter, b.AbandonAfter)
	add("opens_at", a.OpensAt.UTC(), b.OpensAt.UTC())
	add("closes_at", a.ClosesAt.UTC(), b.ClosesAt.UTC())
	add("data_ttl", a.DataTTL, b.DataTTL)
	add("mode", a.Mode, b.Mode)
	add("paused", a.paused, b.paused)
	add("max_waiting", a.MaxWaiting, b.MaxWaiting)
	return d
}

// LetIn lets one waiting visitor of zone in ahead of the line (Store.Admit):
// its slot is reserved for the claim window, whatever the rate or a
// pause, and its page takes it in as if its turn had come. ErrNotQueued
// if it is not waiting, ErrZoneFull if no slot is free.
func (r *Room) LetIn(ctx context.Context, zone, visitor string) (Slot, error) {
	if r.closed.Load() {
		return Slot{}, ErrClosed
	}
	if r.entry(zone) == nil {
		return Slot{}, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	slot, err := r.store.Admit(ctx, zone, visitor, r.Now())
	if err == nil {
		r.cfg.logger.Info("waitroom: visitor let in ahead of the line", "zone", zone, "visitor", visitor)
	}
	return slot, err
}

// Head returns the first n places in zone's line (at most MaxHead), in the
// order they are to be let in: for an operator's look at the line.
func (r *Room) Head(ctx context.Context, zone string, n int) ([]Place, error) {
	if r.entry(zone) == nil {
		return nil, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	return r.store.Head(ctx, zone, n, r.Now())
}
