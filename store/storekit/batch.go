package storekit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waitroom/waitroom"
)

// CheckCalls reports the first call a BatchStore cannot make: an unknown
// Op or an empty visitor. Stores call it first in Batch and return its
// error.
func CheckCalls(calls []waitroom.Call) error {
	for i, c := range calls {
		switch {
		case c.Op < waitroom.OpRegister || c.Op > waitroom.OpRelease:
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
// zero: Release does not tell what was held (see waitroom.Op).
func BatchEach(ctx context.Context, s waitroom.Store, zone string, now time.Time, calls []waitroom.Call) error {
	if err := CheckCalls(calls); err != nil {
		return err
	}
	for i := range calls {
		c := &calls[i]
		c.Place, c.Err = waitroom.Place{}, nil
		var err error
		switch c.Op {
		case waitroom.OpRegister:
			c.Place, err = s.Register(ctx, zone, c.Visitor, now)
		case waitroom.OpPosition:
			c.Place, err = s.Position(ctx, zone, c.Visitor, now)
		case waitroom.OpHeartbeat:
			err = s.Heartbeat(ctx, zone, c.Visitor, now)
		case waitroom.OpEnter, waitroom.OpArrive:
			var slot waitroom.Slot
			var ok bool
			if slot, ok, err = s.Enter(ctx, zone, c.Visitor, now); ok {
				c.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Arrived: now, Slot: slot}
			} else if err == nil && c.Op == waitroom.OpArrive {
				c.Place, err = s.Register(ctx, zone, c.Visitor, now)
			}
		case waitroom.OpClaim:
			var slot waitroom.Slot
			if slot, err = s.Claim(ctx, zone, c.Visitor, now); err == nil {
				c.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Slot: slot}
			}
		case waitroom.OpRelease:
			var held bool
			if held, err = s.Release(ctx, zone, c.Visitor, now); held && err == nil {
				c.Place = waitroom.Place{Visitor: c.Visitor}
			}
		}
		switch {
		case errors.Is(err, waitroom.ErrNotQueued) || errors.Is(err, waitroom.ErrNotAdmitted) ||
			errors.Is(err, waitroom.ErrClaimExpired) || errors.Is(err, waitroom.ErrLineFull):
			c.Place, c.Err = waitroom.Place{}, err
		case err != nil:
			return err
		}
	}
	return nil
}
