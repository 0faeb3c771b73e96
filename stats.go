package waitroom

import (
	"context"
	"fmt"
)

// This file holds what an operator reads of a zone.

// Stats is a zone's state at an instant.
type Stats struct {
	Zone           string
	Capacity       int
	Waiting        int64   // places in line
	Inside         int     // slots held (admitted and inside)
	AdmittedTotal  uint64  // admissions so far, direct entries included
	AdmitRate      float64 // admissions per second measured over the last 30s (from the feed)
	AdmitRateLimit float64 // the zone's AdmitPerSecond
	Open           bool    // admitting at this instant
	Closed         bool    // the sale has ended, or the zone is in ModeReject
	Mode           Mode    // how visitors get in
	Paused         bool    // an operator has paused admission
	MaxWaiting     int64   // the cap on places in line (0: none)
	PassedThrough  uint64  // visitors this Room let through in ModePassthrough
	ETA            ETA     // for a visitor joining the back of the line now
	Version        uint64  // the zone settings' version
	Draw           Draw    // the order drawn at the opening (ModeRandomAtOpen), once drawn
}

// Stats returns the zone's counts from the store, with the ETA for a
// newcomer.
func (r *Room) Stats(ctx context.Context, zone string) (Stats, error) {
	e := r.entry(zone)
	if e == nil {
		return Stats{}, fmt.Errorf("%w: %q", ErrZoneNotFound, zone)
	}
	z := *e.zone.Load()
	now := r.Now()
	s, err := r.store.Stats(ctx, zone, now)
	if err != nil {
		return Stats{}, err
	}
	st := z.state()
	return Stats{
		Zone: zone, Capacity: z.Capacity, Waiting: s.Waiting, Inside: s.Inside,
		AdmittedTotal: s.AdmittedTotal, AdmitRate: e.meter.rate(now), AdmitRateLimit: z.AdmitPerSecond,
		Open: st.OpenAt(now), Closed: st.ClosedAt(now) || z.Mode == ModeReject, ETA: r.eta(e, s.Waiting, now), Version: z.Version(),
		Mode: z.Mode, Paused: z.paused, MaxWaiting: z.MaxWaiting, PassedThrough: e.passed.Load(), Draw: s.Draw,
	}, nil
}
