package waitroom

import (
	"context"
	"errors"
	"time"
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
	// ErrLineFull: Register found MaxWaiting places in line already; the
	// visitor got none.
	ErrLineFull = errors.New("waitroom: line full")
	// ErrZoneFull: Admit found no free slot in the zone's bucket.
	ErrZoneFull = errors.New("waitroom: zone full")
)

// MaxHead is the most places Store.Head returns.
const MaxHead = 1000

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
	// Returns ErrZoneNotFound for an unknown zone, and ErrLineFull, giving
	// no place, when a new place would make more than MaxWaiting.
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
	// inside until now + Session, only if the zone admits (OpenAt: OpensAt
	// <= now < ClosesAt, not paused, not ModeReject), nobody waits, a slot
	// is free and the admission rate allows one more. Otherwise ok is false and nothing changes. A
	// visitor that already holds a slot gets it back (ok true). Appends
	// EventEntered.
	Enter(ctx context.Context, zone, visitor string, now time.Time) (slot Slot, ok bool, err error)

	// Exchange lets the next visitors in, in queue order: at most limit,
	// at most the free slots of the bucket (slots whose deadline has passed
	// leak first), at most what the admission rate allows since the last
	// admission, none while the zone does not admit (OpenAt). A waiting visitor not
	// seen for longer than AbandonAfter is skipped: it loses its place and
	// takes no slot. Each admitted visitor holds a slot until now +
	// ClaimWindow. Safe when every instance calls it at once: the slots and
	// the rate are shared. Appends EventAdmitted, EventAbandoned and
	// EventExpired as it goes.
	//
	// In ModeRandomAtOpen, the first Exchange at or after OpensAt (paused
	// or not) draws the order of the places in line first, once in the
	// zone's life, in the same atomic step (see Draw), appending
	// EventDrawn; from then on every Seq the store reports for those
	// places is the drawn number, and Ahead counts in drawn order. A
	// registration the store orders after the draw is not drawn: it
	// queues behind the drawn places.
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

	// Admit lets one waiting visitor in ahead of the line, for an
	// operator: it takes a free slot of the bucket (slots whose deadline
	// has passed leak first), reserved until now + ClaimWindow as an
	// Exchange admission is, whatever the admission rate, the pause or the
	// sale window, and the visitor's place in line is given up. It counts
	// as an admission (ZoneStats.AdmittedTotal) and spends no rate credit.
	// ErrNotQueued if the visitor is not waiting, ErrZoneFull if no slot is
	// free. Appends EventAdmitted.
	Admit(ctx context.Context, zone, visitor string, now time.Time) (Slot, error)

	// Head returns the first n places in line, in the order they are to be
	// let in, without changing anything: waiting visitors not seen for
	// longer than AbandonAfter are included until Exchange skips them.
	// n is at most MaxHead. ErrZoneNotFound for an unknown zone.
	Head(ctx context.Context, zone string, n int, now time.Time) ([]Place, error)

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
