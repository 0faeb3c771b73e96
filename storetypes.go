package waitroom

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom/internal/ident"
)

// The records a Store keeps and returns: a zone's settings, a visitor's
// place, a slot, an exchange step's outcome, a zone's counts, and the
// events of its change feed.

// ZoneState is the part of a zone's configuration that every instance must
// agree on, kept in the Store. The request-matching rules stay local to each
// Room. Durations are stored at millisecond precision.
type ZoneState struct {
	Name           string
	Capacity       int           // slots in the bucket: visitors inside at once
	AdmitPerSecond float64       // new admissions per second, shared by all instances
	Session        time.Duration // lifetime of an inside slot and its access token
	ClaimWindow    time.Duration // time an admitted visitor has to come in
	AbandonAfter   time.Duration // a waiting visitor not seen for this long is skipped
	OpensAt        time.Time     // zero: open now
	ClosesAt       time.Time     // zero: never closes
	DataTTL        time.Duration // how long the zone's data lives after its last write or ClosesAt
	Mode           Mode          // how visitors get in (ModeFIFO, the zero value: a line)
	Paused         bool          // nobody is admitted or enters; the line keeps its order
	MaxWaiting     int64         // places in line at most; Register gives no more (ErrLineFull). 0: no cap
	Version        uint64        // assigned by the store
}

// Mode says how a zone lets visitors in. Stores keep it; the Room acts on
// it.
type Mode uint8

const (
	// ModeFIFO: a line in arrival order, let in as room frees up. The
	// default.
	ModeFIFO Mode = iota
	// ModePassthrough: no line; every visitor goes straight in with an
	// access token and holds no slot. For a zone that copes, kept ready
	// to queue again at the turn of a setting.
	ModePassthrough
	// ModeReject: nobody new gets in and the line does not move; visitors
	// see the closed page. Those inside keep their access until it ends.
	// For a sale sold out, or stopped.
	ModeReject
	// ModeRandomAtOpen: a line like ModeFIFO, except that the places taken
	// before the opening are drawn into a uniformly random order when it
	// comes (see Draw): whoever came at 9:00 and whoever came at 9:59 have
	// the same chance at 10:00. Those who come later queue behind them in
	// arrival order.
	ModeRandomAtOpen

	lastMode = ModeRandomAtOpen
)

func (m Mode) String() string {
	switch m {
	case ModeFIFO:
		return "fifo"
	case ModePassthrough:
		return "passthrough"
	case ModeReject:
		return "reject"
	case ModeRandomAtOpen:
		return "random"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode returns the Mode called s ("fifo", "passthrough", "reject",
// "random").
func ParseMode(s string) (Mode, error) {
	for m := ModeFIFO; m <= lastMode; m++ {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown mode %q: want fifo, passthrough, reject or random", ErrInvalidZone, s)
}

// Normalize validates a state given to PutZone and rounds it the way every
// store keeps it: durations and instants at millisecond precision, instants
// in UTC, Version zero. Stores call it first in PutZone and return its
// error (it wraps ErrInvalidZone).
func (z ZoneState) Normalize() (ZoneState, error) {
	if !ident.ValidZone(z.Name) {
		return z, fmt.Errorf("%w: zone name %q must be %s", ErrInvalidZone, z.Name, ident.ZoneRule)
	}
	if z.Capacity < 0 {
		return z, fmt.Errorf("%w: zone %q: capacity must not be negative, got %d", ErrInvalidZone, z.Name, z.Capacity)
	}
	if z.Mode > lastMode {
		return z, fmt.Errorf("%w: zone %q: unknown mode %v", ErrInvalidZone, z.Name, z.Mode)
	}
	if z.MaxWaiting < 0 {
		return z, fmt.Errorf("%w: zone %q: max waiting must not be negative, got %d", ErrInvalidZone, z.Name, z.MaxWaiting)
	}
	if !(z.AdmitPerSecond >= 0 && z.AdmitPerSecond <= 1e9) {
		return z, fmt.Errorf("%w: zone %q: admission rate must be between 0 and 1e9 per second, got %g", ErrInvalidZone, z.Name, z.AdmitPerSecond)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{"session", &z.Session}, {"claim window", &z.ClaimWindow}, {"abandonment timeout", &z.AbandonAfter}, {"data TTL", &z.DataTTL}} {
		if *d.v < 0 {
			return z, fmt.Errorf("%w: zone %q: %s must not be negative, got %v", ErrInvalidZone, z.Name, d.name, *d.v)
		}
		*d.v = d.v.Truncate(time.Millisecond)
	}
	for _, t := range []*time.Time{&z.OpensAt, &z.ClosesAt} {
		if !t.IsZero() {
			*t = time.UnixMilli(t.UnixMilli()).UTC()
		}
	}
	z.Name = strings.Clone(z.Name)
	z.Version = 0
	return z, nil
}

// Equal reports whether two states hold the same settings, ignoring Version.
func (z ZoneState) Equal(o ZoneState) bool {
	z.Version, o.Version = 0, 0
	return z.Name == o.Name && z.Capacity == o.Capacity && z.AdmitPerSecond == o.AdmitPerSecond &&
		z.Session == o.Session && z.ClaimWindow == o.ClaimWindow && z.AbandonAfter == o.AbandonAfter &&
		z.OpensAt.Equal(o.OpensAt) && z.ClosesAt.Equal(o.ClosesAt) && z.DataTTL == o.DataTTL &&
		z.Mode == o.Mode && z.Paused == o.Paused && z.MaxWaiting == o.MaxWaiting
}

// OpenAt reports whether the zone admits anyone at now: the sale is on
// (OpensAt <= now < ClosesAt), admission is not paused and the mode is not
// ModeReject.
func (z ZoneState) OpenAt(now time.Time) bool {
	if z.Paused || z.Mode == ModeReject {
		return false
	}
	if !z.OpensAt.IsZero() && now.Before(z.OpensAt) {
		return false
	}
	return z.ClosesAt.IsZero() || now.Before(z.ClosesAt)
}

// ClosedAt reports whether the sale has ended at now.
func (z ZoneState) ClosedAt(now time.Time) bool {
	return !z.ClosesAt.IsZero() && !now.Before(z.ClosesAt)
}

// RateBurst is the number of admissions the rate allows at once after a
// pause: a quarter second's worth, at least 1. Admissions over any window of
// w seconds never exceed AdmitPerSecond*w + RateBurst. Every store uses it.
func (z ZoneState) RateBurst() float64 {
	b := z.AdmitPerSecond / 4
	if b < 1 {
		b = 1
	}
	return b
}

// VisitorState says where a visitor stands in a zone.
type VisitorState uint8

const (
	StateWaiting  VisitorState = iota + 1 // in the queue
	StateAdmitted                         // let in, slot reserved, not yet claimed
	StateInside                           // holds an inside slot (access token issued)
	StateClosed                           // the sale has ended (reported by the Room, never by a Store)
)

func (s VisitorState) String() string {
	switch s {
	case StateWaiting:
		return "waiting"
	case StateAdmitted:
		return "admitted"
	case StateInside:
		return "inside"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Place is a visitor's standing in a zone.
type Place struct {
	Visitor string
	State   VisitorState
	// Seq is the visitor's number in the zone's queue, in the order the
	// line is let in: assigned by the store at registration (1 for the
	// first), or, in a zone that has drawn its order (ModeRandomAtOpen),
	// the number the draw gave the place; 0 for direct entry.
	Seq uint64
	// Ahead is the number of places in line before this one (0: next). It
	// counts visitors who may have abandoned and will be skipped when
	// reached, so it never underestimates. 0 unless waiting. While a
	// ModeRandomAtOpen zone has not drawn yet, it counts every other place
	// in line: the most it can be after the draw.
	Ahead int64
	// Undrawn is set for a waiting place in a ModeRandomAtOpen zone that
	// has not drawn its order yet: Seq is the arrival number, and the
	// draw at the opening decides the place.
	Undrawn bool
	// Arrived is when the place was taken (store clock).
	Arrived time.Time
	// LastSeen is the visitor's last heartbeat (Register or Heartbeat).
	LastSeen time.Time
	// Slot is set for admitted and inside visitors.
	Slot Slot
}

// Slot is one entry in a zone's leaky bucket.
type Slot struct {
	TokenID string    // identifies the slot; the access token's jti
	Until   time.Time // the slot leaks at this instant
}

// Admission is one visitor let in by Exchange.
type Admission struct {
	Visitor string
	Seq     uint64
	Slot    Slot // Until is the claim deadline
}

// Exchange is the result of one exchange step.
type Exchange struct {
	Admitted  []Admission // in queue order
	Abandoned int         // waiting visitors skipped for lack of heartbeat
	Expired   int         // slots that leaked during the step
}

// ZoneStats counts a zone at an instant.
type ZoneStats struct {
	Waiting       int64     // places in line (including abandoned ones not yet skipped)
	Inside        int       // slots held: admitted and inside
	AdmittedTotal uint64    // admissions so far, direct entries included
	HeadSeq       uint64    // Seq of the next visitor in line (0: empty)
	FeedSeq       uint64    // Seq of the latest event in the feed
	LastAdmit     time.Time // last admission or direct entry
	Draw          Draw      // the zone's draw, once made (ModeRandomAtOpen)
}

// EventKind says what an Event records.
type EventKind uint8

const (
	EventZone      EventKind = iota + 1 // zone settings put; Visitor empty
	EventAdmitted                       // let in by Exchange
	EventEntered                        // direct entry
	EventClaimed                        // admitted visitor came in
	EventReleased                       // slot or waiting place given up
	EventExpired                        // slot leaked at its deadline
	EventAbandoned                      // waiting visitor skipped
	EventResync                         // the Room's feed reader skipped trimmed events; drop caches (never stored)
	EventDrawn                          // the line's order drawn (ModeRandomAtOpen; Stats has the Draw); Visitor empty
)

func (k EventKind) String() string {
	switch k {
	case EventZone:
		return "zone"
	case EventAdmitted:
		return "admitted"
	case EventEntered:
		return "entered"
	case EventClaimed:
		return "claimed"
	case EventReleased:
		return "released"
	case EventExpired:
		return "expired"
	case EventAbandoned:
		return "abandoned"
	case EventResync:
		return "resync"
	case EventDrawn:
		return "drawn"
	}
	return "unknown"
}

// Event is one entry of a zone's change feed.
type Event struct {
	Seq       uint64 // strictly increasing per zone, gap-free, from 1
	Zone      string
	Kind      EventKind
	Visitor   string    // empty for EventZone
	QueueSeq  uint64    // the visitor's queue number, where it has one
	TokenID   string    // the slot, for slot events
	At        time.Time // store clock
	Version   uint64    // zone version, for EventZone
	SlotUntil time.Time // slot deadline, for EventAdmitted, EventEntered, EventClaimed
}

// FreesSlot reports whether the event gave a slot back to the bucket.
func (e Event) FreesSlot() bool {
	return (e.Kind == EventReleased || e.Kind == EventExpired) && e.TokenID != ""
}
