// Package storekit holds what every waitroom.Store has in common, so that
// a store is mostly its queries: the errors of the Store contract with the
// zone and visitor they concern, slot identifiers, the admission-rate
// credit, and the wait of a blocking ReadFeed.
//
// A store's own rules that must be atomic with its data stay in the store
// (the Redis store's Lua scripts mirror Accrue, and say where); the
// storetest suite pins each rule's edge cases so that the copies cannot
// drift.
package storekit

import (
	"errors"
	"fmt"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/ident"
)

// NotFound is waitroom.ErrZoneNotFound for zone.
func NotFound(zone string) error {
	return fmt.Errorf("%w: %q", waitroom.ErrZoneNotFound, zone)
}

// NotQueued is waitroom.ErrNotQueued for visitor in zone.
func NotQueued(zone, visitor string) error {
	return fmt.Errorf("%w: zone %q, visitor %q", waitroom.ErrNotQueued, zone, visitor)
}

// NotAdmitted is waitroom.ErrNotAdmitted for visitor in zone; why, if not
// empty, says more ("slot expired").
func NotAdmitted(zone, visitor, why string) error {
	if why != "" {
		return fmt.Errorf("%w: zone %q, visitor %q: %s", waitroom.ErrNotAdmitted, zone, visitor, why)
	}
	return fmt.Errorf("%w: zone %q, visitor %q", waitroom.ErrNotAdmitted, zone, visitor)
}

// LineFull is waitroom.ErrLineFull for zone, which holds max places in
// line.
func LineFull(zone string, max int64) error {
	return fmt.Errorf("%w: zone %q holds its %d places", waitroom.ErrLineFull, zone, max)
}

// ZoneFull is waitroom.ErrZoneFull for zone, whose capacity slots are
// all held.
func ZoneFull(zone string, capacity int) error {
	return fmt.Errorf("%w: zone %q holds its %d slots", waitroom.ErrZoneFull, zone, capacity)
}

// HeadCount bounds the n of Store.Head to 0..waitroom.MaxHead.
func HeadCount(n int) int { return min(max(n, 0), waitroom.MaxHead) }

// ClaimExpired is waitroom.ErrClaimExpired for visitor in zone.
func ClaimExpired(zone, visitor string) error {
	return fmt.Errorf("%w: zone %q, visitor %q", waitroom.ErrClaimExpired, zone, visitor)
}

// Unavailable wraps a failure of the store named store (its package name,
// with the operation if that helps: "dynamostore: register") with
// waitroom.ErrStoreUnavailable.
func Unavailable(store string, err error) error {
	return fmt.Errorf("waitroom: %s: %w: %w", store, waitroom.ErrStoreUnavailable, err)
}

// Closed is the error of every call on a closed store.
func Closed(store string) error {
	return Unavailable(store, errors.New("store closed"))
}

// EmptyVisitor is the error of a call with an empty visitor id.
func EmptyVisitor(store string) error {
	return fmt.Errorf("waitroom: %s: empty visitor id", store)
}

// NewID returns a random slot identifier: 128 bits from crypto/rand, in
// 22 characters of unpadded base64url.
func NewID() string { return ident.New() }
