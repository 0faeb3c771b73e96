package waitroom

import (
	"fmt"
	"strings"
	"time"
)

// Zone defaults.
const (
	DefaultSession      = 10 * time.Minute
	DefaultClaimWindow  = time.Minute
	DefaultAbandonAfter = time.Minute
	DefaultDataTTL      = 24 * time.Hour
)

// Zone configures one protected area: one event's checkout, a drop's seat
// selection. Each zone has its own queue and its own leaky bucket of slots.
type Zone struct {
	// Name identifies the zone in the store, in cookies and in URLs: 1-64
	// letters, digits, '.', '_' or '-'. Required.
	Name string

	// Paths are the URL path prefixes the zone protects ("/checkout"
	// protects /checkout and /checkout/pay, not /checkouts), whatever
	// their spelling: //checkout, /x/../checkout, /checkout;p, /CHECKOUT
	// (see Room.MatchPath and WithStrictPaths). Empty: the zone
	// is reached only by name (middleware.WithZoneFunc).
	Paths []string

	// Capacity is the number of visitors inside at once: the size of the
	// bucket. Required, at least 1.
	Capacity int

	// AdmitPerSecond caps new admissions per second across all instances,
	// with bursts of at most a quarter second's worth (at least 1).
	// Default: Capacity / 10 per second, at least 1.
	AdmitPerSecond float64

	// Session is how long an access token lasts; its slot leaks when it
	// expires, unless released earlier. Default 10 minutes.
	Session time.Duration

	// ClaimWindow is how long an admitted visitor has to come in before its
	// slot leaks and its turn is lost. Default 1 minute.
	ClaimWindow time.Duration

	// AbandonAfter is how long a waiting visitor may go unseen (no request,
	// poll or open connection) before the exchanger skips it. It never
	// held a slot, so skipping it frees nothing. Default 1 minute.
	AbandonAfter time.Duration

	// OpensAt is the sale start: before it everyone queues and nobody
	// enters. Zero: open now.
	OpensAt time.Time

	// ClosesAt is the sale end: from it nobody is admitted and the waiting
	// page says the sale is over. Zero: never.
	ClosesAt time.Time

	// DataTTL is how long the zone's data lives after its last change or
	// after ClosesAt, whichever is later; then the queue removes itself.
	// Default 24 hours.
	DataTTL time.Duration

	// Mode says how visitors get in: ModeFIFO (a line in arrival order, the
	// default), ModePassthrough (no line: everyone goes in), ModeReject
	// (nobody new gets in: the closed page) or ModeRandomAtOpen (a line
	// whose places taken before OpensAt are drawn into a random order at
	// the opening, see Draw). Operators change it at run time
	// (Room.SetMode).
	Mode Mode

	// MaxWaiting caps the places in line: a newcomer beyond it sees the
	// closed page, saying the line is full. It bounds what a flood costs
	// the store (BENCHMARKS.md gives the bytes per place of each store).
	// 0: no cap.
	MaxWaiting int64

	paused  bool   // admission paused by an operator (Room.Pause); kept by the store
	version uint64 // assigned by the store
}

// Paused reports whether an operator has paused admission (Room.Pause):
// nobody is let in until Room.Resume; the line keeps its order.
func (z Zone) Paused() bool { return z.paused }

// withDefaults fills z's defaults and validates it: first as any store
// keeps a zone (ZoneState.Normalize), then as a Room runs one: capacity
// at least 1, durations at least 1s, the sale's end after its start,
// paths that start with '/'.
func (z Zone) withDefaults() (Zone, error) {
	if z.AdmitPerSecond == 0 {
		z.AdmitPerSecond = max(1, float64(z.Capacity)/10)
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"session", &z.Session, DefaultSession},
		{"claim window", &z.ClaimWindow, DefaultClaimWindow},
		{"abandonment timeout", &z.AbandonAfter, DefaultAbandonAfter},
		{"data TTL", &z.DataTTL, DefaultDataTTL},
	}
	for _, d := range durations {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if _, err := z.state().Normalize(); err != nil {
		return z, err
	}
	if z.Capacity == 0 {
		return z, fmt.Errorf("%w: zone %q: capacity must be at least 1", ErrInvalidZone, z.Name)
	}
	for _, d := range durations {
		if *d.v < time.Second {
			return z, fmt.Errorf("%w: zone %q: %s must be at least 1s, got %v", ErrInvalidZone, z.Name, d.name, *d.v)
		}
	}
	if !z.ClosesAt.IsZero() && !z.OpensAt.IsZero() && !z.ClosesAt.After(z.OpensAt) {
		return z, fmt.Errorf("%w: zone %q: closes at %v, not after it opens at %v", ErrInvalidZone, z.Name, z.ClosesAt, z.OpensAt)
	}
	paths := make([]string, 0, len(z.Paths))
	for _, p := range z.Paths {
		if !strings.HasPrefix(p, "/") {
			return z, fmt.Errorf("%w: zone %q: path %q must start with '/'", ErrInvalidZone, z.Name, p)
		}
		paths = append(paths, strings.TrimSuffix(CanonicalPath(p), "/"))
	}
	z.Paths = paths
	return z, nil
}

// Version returns the settings version the store assigned (0 before the
// zone was stored).
func (z Zone) Version() uint64 { return z.version }

// state is the part of z the store keeps.
func (z Zone) state() ZoneState {
	return ZoneState{
		Name: z.Name, Capacity: z.Capacity, AdmitPerSecond: z.AdmitPerSecond,
		Session: z.Session, ClaimWindow: z.ClaimWindow, AbandonAfter: z.AbandonAfter,
		OpensAt: z.OpensAt, ClosesAt: z.ClosesAt, DataTTL: z.DataTTL,
		Mode: z.Mode, Paused: z.paused, MaxWaiting: z.MaxWaiting,
	}
}

// fromState returns z with the settings of s (the store's word wins).
func (z Zone) fromState(s ZoneState) Zone {
	z.Capacity, z.AdmitPerSecond = s.Capacity, s.AdmitPerSecond
	z.Session, z.ClaimWindow, z.AbandonAfter = s.Session, s.ClaimWindow, s.AbandonAfter
	z.OpensAt, z.ClosesAt, z.DataTTL = s.OpensAt, s.ClosesAt, s.DataTTL
	z.Mode, z.paused, z.MaxWaiting = s.Mode, s.Paused, s.MaxWaiting
	z.version = s.Version
	return z
}

// CheckZone returns the error New or AddZone would give for z, or nil if a
// Room takes it: for programs that read zones from a file and want to say
// what is wrong before they start.
func CheckZone(z Zone) error {
	_, err := z.withDefaults()
	return err
}
