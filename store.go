package waitroom

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom/internal/ident"
)

// Sentinel errors of the Store contract. Stores return them (possibly
// wrapped); callers match them with errors.Is.
var (
	// ErrZoneNotFound: the zone was never put, or its data has expired.
	ErrZoneNotFound = errors.New("waitroom: zone not found")
	// ErrNotQueued: the visitor holds no place in the zone (never registered,
	// skipped as abandoned, released, or its data expired).
	ErrNotQueued = errors.New("waitroom: visitor not in queue")
	// ErrNotAdmitted: Claim was called for a visitor that has not been let in
	// (still waiting, or unknown).
	ErrNotAdmitted = errors.New("waitroom: visitor not admitted")
	// ErrClaimExpired: the visitor was let in but did not claim its slot
	// within the zone's claim window; the slot has leaked back to the bucket.
	ErrClaimExpired = errors.New("waitroom: claim window passed")
	// ErrFeedTrimmed: the change feed no longer holds the events after the
	// requested sequence number. The reader must resynchronise from the
	// current state (ZoneState, Stats) and continue from Stats.FeedSeq.
	ErrFeedTrimmed = errors.New("waitroom: change feed trimmed past requested sequence")
	// ErrStoreUnavailable marks a store failure (network, timeout, server
	// down). Stores wrap their driver errors with it so the Room can apply
	// its fail policy.
	ErrStoreUnavailable = errors.New("waitroom: store unavailable")
	// ErrInvalidZone: PutZone was given settings no store can keep (see
	// ZoneState.Normalize).
	ErrInvalidZone = errors.New("waitroom: invalid zone settings")
)

// A Store keeps the shared state of every zone: its settings, its FIFO queue,
// its leaky bucket of access slots, and its change feed. The waiting-room
// algorithm lives in this package; a Store offers small operations, each of
// which is atomic per zone: Redis runs each in one Lua script, DynamoDB in one
// conditional write or transaction, the memory store under one mutex. Every
// operation is safe when any number of instances call it at once.
//
// Clock. Operations that depend on time take now, the caller's reading of its
// clock. A store with an authoritative clock of its own (Redis TIME) may use
// that instead and says so in its documentation; every instant in a result is
// then in the store's clock. Queue order never depends on any clock: the store
// assigns sequence numbers.
//
// Errors. err is for system failures only (wrapped with ErrStoreUnavailable)
// and for the sentinel errors documented on each method. A lost race is not an
// error: Enter reports it as ok == false.
//
// Feed. Every operation that changes a visitor's state or a zone's settings
// appends the Events that describe the change in the same atomic step (a
// transactional outbox). Events of one zone carry strictly increasing,
// gap-free sequence numbers starting at 1.
//
// Expiry. Every record of a zone expires DataTTL after the zone's last write
// or after ClosesAt, whichever is later; a finished zone removes itself.
type Store interface {
	// PutZone creates the zone or replaces its settings. The store assigns
	// the version: 1 for a new zone, the previous version + 1 otherwise. If
	// the settings equal the stored ones (Version ignored) nothing changes
	// and the stored state is returned. A change appends EventZone.
	PutZone(ctx context.Context, z ZoneState, now time.Time) (ZoneState, error)

	// Zone returns the stored settings, or ErrZoneNotFound.
	Zone(ctx context.Context, zone string) (ZoneState, error)

	// Register gives the visitor a place at the back of the zone's queue, or
	// returns its current place if it already holds one (waiting, admitted or
	// inside): the same visitor never holds two places. It records now as
	// the visitor's last heartbeat. A visitor whose previous place ended
	// (released; slot past its deadline, including an admitted visitor past
	// its claim window; skipped as abandoned) gets a new place at the back.
	// Returns ErrZoneNotFound for an unknown zone.
	Register(ctx context.Context, zone, visitor string, now time.Time) (Place, error)

	// Position returns the visitor's current place without changing
	// anything. It must not cost O(queue length). ErrNotQueued if the visitor
	// holds no place (a slot past its deadline is no place). A waiting
	// visitor not seen for longer than AbandonAfter still holds its place
	// until Exchange skips it.
	Position(ctx context.Context, zone, visitor string, now time.Time) (Place, error)

	// Heartbeat records now as the last time a waiting visitor was seen.
	// ErrNotQueued if the visitor holds no place; for an admitted or inside
	// visitor it is a no-op.
	Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error

	// Enter is direct entry: it gives the visitor a slot in the bucket,
	// inside until now + Session, only if the zone is open (OpensAt <= now <
	// ClosesAt), nobody waits in the queue, a slot is free and the admission
	// rate allows one more. Otherwise ok is false and nothing changes. A
	// visitor that already holds a slot gets it back (ok true). Appends
	// EventEntered.
	Enter(ctx context.Context, zone, visitor string, now time.Time) (slot Slot, ok bool, err error)

	// Exchange lets the next visitors in, in queue order: at most limit,
	// at most the free slots of the bucket (slots whose deadline has passed
	// leak first), at most what the admission rate allows since the last
	// admission, none before OpensAt or after ClosesAt. A waiting visitor not
	// seen for longer than AbandonAfter is skipped: it loses its place and
	// takes no slot. Each admitted visitor holds a slot until now +
	// ClaimWindow. Safe when every instance calls it at once: the slots and
	// the rate are shared. Appends EventAdmitted, EventAbandoned and
	// EventExpired as it goes.
	Exchange(ctx context.Context, zone string, now time.Time, limit int) (Exchange, error)

	// Claim turns an admitted visitor's reserved slot into an inside slot
	// that lasts until now + Session. Claiming an inside visitor again
	// returns its slot unchanged (idempotent). ErrNotAdmitted if the visitor
	// is waiting or unknown, ErrClaimExpired if the claim window has passed.
	// Appends EventClaimed.
	Claim(ctx context.Context, zone, visitor string, now time.Time) (Slot, error)

	// Release frees the visitor's slot, or gives up its waiting place. It
	// reports whether anything was held; releasing twice is a no-op
	// (false, nil). Appends EventReleased.
	Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error)

	// Stats counts the zone at now. ErrZoneNotFound for an unknown zone.
	Stats(ctx context.Context, zone string, now time.Time) (ZoneStats, error)

	// ReadFeed returns up to limit events of the zone with Seq > after, in
	// order. If none exist yet it waits up to wait for one (0: returns at
	// once) and returns an empty slice if none came; it returns early with
	// ctx.Err() when ctx is done. ErrFeedTrimmed if events after after are no
	// longer kept.
	ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]Event, error)

	// Close releases the store's resources. It does not delete data.
	Close() error
}

// A BatchStore is a Store that can make the calls of many visitors of one
// zone in one round trip. It is optional: a Room over a BatchStore gathers
// the Register, Position, Heartbeat and Enter (Arrive) calls its visitors
// make at the same time into batches, one in flight per zone, so that a
// crowd arriving at once costs the store a few large calls instead of as
// many small ones (see Room). A batch may carry Claim and Release calls
// too, for callers that gather their own; the Room makes those on their
// own, since a slot is held while they wait.
type BatchStore interface {
	Store

	// Batch makes calls, all in zone, one after the other in order, each
	// as its Store method would at now, and records each one's outcome in
	// it (Place and Err). A call's Err is only ever a sentinel its method
	// documents for one visitor (ErrNotQueued, ErrNotAdmitted,
	// ErrClaimExpired: see Op). The returned error is for the batch as a
	// whole (ErrZoneNotFound, or a failure wrapped with
	// ErrStoreUnavailable). A store makes the batch in one atomic step
	// where it can (memory, Redis): then a failed batch took no effect.
	// One that cannot (DynamoDB) says what it guarantees instead.
	Batch(ctx context.Context, zone string, now time.Time, calls []Call) error
}

// Op names the Store operation a Call makes.
type Op uint8

// The operations a batch can carry, and what each records in its Call.
// A call's Place is the zero Place unless said otherwise, and its Err nil.
//
// OpClaim records only what Claim returns: Visitor, State and Slot are
// set; Seq, Arrived and LastSeen are zero (Position tells them).
//
// OpRelease never records an Err: a visitor who held nothing (unknown,
// released already, or its slot past its deadline) gets the zero Place,
// so Place.Visitor != "" tells that something was released. State is what
// it gave up: StateWaiting, StateAdmitted or StateInside; BatchEach, built
// on Release's bool, cannot tell and leaves it zero.
const (
	OpRegister  Op = iota + 1 // Register: Place
	OpPosition                // Position: Place, or Err ErrNotQueued
	OpHeartbeat               // Heartbeat: Err ErrNotQueued if the visitor holds no place
	OpEnter                   // Enter: Place{State: StateInside, Slot} if the visitor went in, else the zero Place
	OpArrive                  // Enter, or else Register: Place, inside with its Slot or in line
	OpClaim                   // Claim: Place{Visitor, State: StateInside, Slot}, or Err ErrNotAdmitted or ErrClaimExpired
	OpRelease                 // Release: Place{Visitor, State: the state given up} if anything was held, else the zero Place
)

func (o Op) String() string {
	switch o {
	case OpRegister:
		return "Register"
	case OpPosition:
		return "Position"
	case OpHeartbeat:
		return "Heartbeat"
	case OpEnter:
		return "Enter"
	case OpArrive:
		return "Arrive"
	case OpClaim:
		return "Claim"
	case OpRelease:
		return "Release"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Call is one visitor's operation in a batch, and its outcome.
type Call struct {
	Op      Op
	Visitor string

	Place Place // the outcome (see Op)
	Err   error // the visitor's own error (see Op)
}

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
	Version        uint64        // assigned by the store
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
		z.OpensAt.Equal(o.OpensAt) && z.ClosesAt.Equal(o.ClosesAt) && z.DataTTL == o.DataTTL
}

// OpenAt reports whether the zone admits anyone at now.
func (z ZoneState) OpenAt(now time.Time) bool {
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
	// Seq is the visitor's number in the zone's queue, assigned by the
	// store at registration (1 for the first); 0 for direct entry.
	Seq uint64
	// Ahead is the number of places in line before this one (0: next). It
	// counts visitors who may have abandoned and will be skipped when
	// reached, so it never underestimates. 0 unless waiting.
	Ahead int64
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

// CheckCalls reports the first call a BatchStore cannot make: an unknown
// Op or an empty visitor. Stores call it first in Batch and return its
// error.
func CheckCalls(calls []Call) error {
	for i, c := range calls {
		switch {
		case c.Op < OpRegister || c.Op > OpRelease:
			return fmt.Errorf("waitroom: batch call %d: unknown operation %v", i, c.Op)
		case c.Visitor == "":
			return fmt.Errorf("waitroom: batch call %d: %v: empty visitor", i, c.Op)
		}
	}
	return nil
}

// BatchEach makes calls in zone one by one with s's own methods, for a
// wrapper in front of a store that does not batch. Unlike a BatchStore's
// Batch it is not atomic: a store failure stops it, and the calls before
// have taken effect. A released call's Place has Visitor set and State
// zero: Release does not tell what was held (see Op).
func BatchEach(ctx context.Context, s Store, zone string, now time.Time, calls []Call) error {
	if err := CheckCalls(calls); err != nil {
		return err
	}
	for i := range calls {
		c := &calls[i]
		c.Place, c.Err = Place{}, nil
		var err error
		switch c.Op {
		case OpRegister:
			c.Place, err = s.Register(ctx, zone, c.Visitor, now)
		case OpPosition:
			c.Place, err = s.Position(ctx, zone, c.Visitor, now)
		case OpHeartbeat:
			err = s.Heartbeat(ctx, zone, c.Visitor, now)
		case OpEnter, OpArrive:
			var slot Slot
			var ok bool
			if slot, ok, err = s.Enter(ctx, zone, c.Visitor, now); ok {
				c.Place = Place{Visitor: c.Visitor, State: StateInside, Arrived: now, Slot: slot}
			} else if err == nil && c.Op == OpArrive {
				c.Place, err = s.Register(ctx, zone, c.Visitor, now)
			}
		case OpClaim:
			var slot Slot
			if slot, err = s.Claim(ctx, zone, c.Visitor, now); err == nil {
				c.Place = Place{Visitor: c.Visitor, State: StateInside, Slot: slot}
			}
		case OpRelease:
			var held bool
			if held, err = s.Release(ctx, zone, c.Visitor, now); held && err == nil {
				c.Place = Place{Visitor: c.Visitor}
			}
		}
		switch {
		case errors.Is(err, ErrNotQueued) || errors.Is(err, ErrNotAdmitted) || errors.Is(err, ErrClaimExpired):
			c.Place, c.Err = Place{}, err
		case err != nil:
			return err
		}
	}
	return nil
}
