package admin

import (
	"fmt"
	"strconv"
	"time"

	"github.com/waitroom/waitroom"
)

// zoneReport is a zone's settings and live figures, as the API shows them.
type zoneReport struct {
	Name           string       `json:"name"`
	Mode           string       `json:"mode"`
	Paused         bool         `json:"paused"`
	Capacity       int          `json:"capacity"`
	AdmitPerSecond float64      `json:"admit_per_second"`
	Session        jsonDuration `json:"session"`
	ClaimWindow    jsonDuration `json:"claim_window"`
	AbandonAfter   jsonDuration `json:"abandon_after"`
	OpensAt        string       `json:"opens_at,omitempty"`
	ClosesAt       string       `json:"closes_at,omitempty"`
	DataTTL        jsonDuration `json:"data_ttl"`
	MaxWaiting     int64        `json:"max_waiting"`
	Version        uint64       `json:"version"`

	Live *liveReport `json:"live,omitempty"`
}

// liveReport is what a zone holds now.
type liveReport struct {
	Waiting       int64       `json:"waiting"`
	Inside        int         `json:"inside"`
	AdmittedTotal uint64      `json:"admitted_total"`
	AdmitRate     float64     `json:"admit_rate"` // per second, over the last 30s
	Open          bool        `json:"open"`
	Closed        bool        `json:"closed"`
	ETASeconds    int64       `json:"eta_seconds"` // for a newcomer
	PassedThrough uint64      `json:"passed_through"`
	Draw          *drawReport `json:"draw,omitempty"`
}

// drawReport is the record of a zone's draw (waitroom.Draw), for an
// audit: with it each place's drawn number can be recomputed from its
// arrival number. The seed is a string: JSON numbers lose 64-bit
// integers.
type drawReport struct {
	First uint64 `json:"first"`
	Count uint64 `json:"count"`
	Seed  string `json:"seed"`
	At    string `json:"at"`
}

// reportOf is the report of z with its figures st (st.Zone empty: none).
func reportOf(z waitroom.Zone, st waitroom.Stats) zoneReport {
	r := zoneReport{
		Name: z.Name, Mode: z.Mode.String(), Paused: z.Paused(), Capacity: z.Capacity,
		AdmitPerSecond: z.AdmitPerSecond, Session: jsonDuration(z.Session),
		ClaimWindow: jsonDuration(z.ClaimWindow), AbandonAfter: jsonDuration(z.AbandonAfter),
		OpensAt: instant(z.OpensAt), ClosesAt: instant(z.ClosesAt), DataTTL: jsonDuration(z.DataTTL),
		MaxWaiting: z.MaxWaiting, Version: z.Version(),
	}
	if st.Zone != "" {
		r.Live = &liveReport{
			Waiting: st.Waiting, Inside: st.Inside, AdmittedTotal: st.AdmittedTotal, AdmitRate: st.AdmitRate,
			Open: st.Open, Closed: st.Closed, ETASeconds: int64(st.ETA.Expected / time.Second), PassedThrough: st.PassedThrough,
		}
		if d := st.Draw; d.Drawn() {
			r.Live.Draw = &drawReport{First: d.First, Count: d.Count, Seed: strconv.FormatUint(d.Seed, 10), At: instant(d.At)}
		}
	}
	return r
}

// settings is r without its figures, for the audit log.
func (r zoneReport) settings() zoneReport {
	r.Live = nil
	return r
}

func instant(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// zonePatch is the body of PATCH /api/zones/{zone}: the settings to
// change, each left out to keep.
type zonePatch struct {
	Capacity       *int     `json:"capacity"`
	AdmitPerSecond *float64 `json:"admit_per_second"`
	Session        *string  `json:"session"`
	ClaimWindow    *string  `json:"claim_window"`
	AbandonAfter   *string  `json:"abandon_after"`
	DataTTL        *string  `json:"data_ttl"`
	OpensAt        *string  `json:"opens_at"`
	ClosesAt       *string  `json:"closes_at"`
	Mode           *string  `json:"mode"`
	MaxWaiting     *int64   `json:"max_waiting"`
}

// edit returns the change p asks for, or why it cannot be made. Ranges a
// Room checks (capacity at least 1, durations at least 1s) are left to it.
func (p zonePatch) edit() (func(*waitroom.Zone), error) {
	var steps []func(*waitroom.Zone)
	if p.Capacity != nil {
		c := *p.Capacity
		steps = append(steps, func(z *waitroom.Zone) { z.Capacity = c })
	}
	if p.AdmitPerSecond != nil {
		rate := *p.AdmitPerSecond
		if rate <= 0 {
			return nil, fmt.Errorf("admit_per_second must be positive, got %g", rate)
		}
		steps = append(steps, func(z *waitroom.Zone) { z.AdmitPerSecond = rate })
	}
	for _, d := range []struct {
		name string
		v    *string
		set  func(*waitroom.Zone, time.Duration)
	}{
		{"session", p.Session, func(z *waitroom.Zone, d time.Duration) { z.Session = d }},
		{"claim_window", p.ClaimWindow, func(z *waitroom.Zone, d time.Duration) { z.ClaimWindow = d }},
		{"abandon_after", p.AbandonAfter, func(z *waitroom.Zone, d time.Duration) { z.AbandonAfter = d }},
		{"data_ttl", p.DataTTL, func(z *waitroom.Zone, d time.Duration) { z.DataTTL = d }},
	} {
		if d.v == nil {
			continue
		}
		v, err := time.ParseDuration(*d.v)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s must be a positive duration such as \"90s\" or \"10m\", got %q", d.name, *d.v)
		}
		set := d.set
		steps = append(steps, func(z *waitroom.Zone) { set(z, v) })
	}
	for _, t := range []struct {
		name string
		v    *string
		set  func(*waitroom.Zone, time.Time)
	}{
		{"opens_at", p.OpensAt, func(z *waitroom.Zone, t time.Time) { z.OpensAt = t }},
		{"closes_at", p.ClosesAt, func(z *waitroom.Zone, t time.Time) { z.ClosesAt = t }},
	} {
		if t.v == nil {
			continue
		}
		var v time.Time
		if *t.v != "" {
			var err error
			if v, err = time.Parse(time.RFC3339Nano, *t.v); err != nil {
				return nil, fmt.Errorf("%s must be an RFC 3339 instant such as \"2026-03-01T10:00:00Z\", or \"\" for none, got %q", t.name, *t.v)
			}
		}
		set := t.set
		steps = append(steps, func(z *waitroom.Zone) { set(z, v) })
	}
	if p.Mode != nil {
		m, err := waitroom.ParseMode(*p.Mode)
		if err != nil {
			return nil, fmt.Errorf("mode must be fifo, passthrough, reject or random, got %q", *p.Mode)
		}
		steps = append(steps, func(z *waitroom.Zone) { z.Mode = m })
	}
	if p.MaxWaiting != nil {
		n := *p.MaxWaiting
		if n < 0 {
			return nil, fmt.Errorf("max_waiting must not be negative, got %d", n)
		}
		steps = append(steps, func(z *waitroom.Zone) { z.MaxWaiting = n })
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("nothing to change: give at least one setting")
	}
	return func(z *waitroom.Zone) {
		for _, s := range steps {
			s(z)
		}
	}, nil
}
