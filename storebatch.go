package waitroom

import (
	"context"
	"strconv"
	"time"
)

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
	// ErrClaimExpired, ErrLineFull: see Op). The returned error is for the batch as a
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
// it gave up: StateWaiting, StateAdmitted or StateInside; storekit.BatchEach, built
// on Release's bool, cannot tell and leaves it zero.
const (
	OpRegister  Op = iota + 1 // Register: Place, or Err ErrLineFull
	OpPosition                // Position: Place, or Err ErrNotQueued
	OpHeartbeat               // Heartbeat: Err ErrNotQueued if the visitor holds no place
	OpEnter                   // Enter: Place{State: StateInside, Slot} if the visitor went in, else the zero Place
	OpArrive                  // Enter, or else Register: Place, inside with its Slot or in line, or Err ErrLineFull
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
