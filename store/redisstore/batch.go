package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

var _ waitroom.BatchStore = (*Store)(nil)

// Batch makes the calls, all in zone, one after the other in order, each as
// its own method would (see waitroom.BatchStore): one script, one EVALSHA,
// one round trip for the whole batch, however many calls it holds. The
// calls share one reading of the clock and one write of the zone's hash.
// An Enter that goes in records Place{State: StateInside, Arrived, Slot},
// Arrived being when its slot was taken; a Claim records Place{Visitor,
// State: StateInside, Slot} only, and a Release Place{Visitor, State} with
// the state given up (see waitroom.Op). An empty batch makes no round
// trip. Script: lua/batch.lua.
func (s *Store) Batch(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) error {
	if err := storekit.CheckCalls(calls); err != nil || len(calls) == 0 {
		return err
	}
	if zone == "" {
		return storekit.NotFound(zone)
	}
	args := make([]any, 0, 1+2*len(calls))
	args = append(args, storekit.NewID())
	for _, c := range calls {
		args = append(args, int(c.Op), c.Visitor)
	}
	res, err := s.run(ctx, scriptBatch, zone, s.nowArg(now), args...)
	if err != nil {
		return err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return storekit.NotFound(zone)
	case "OK":
	default:
		return unexpected(res)
	}
	if len(r.vals) != len(calls) {
		return unexpected(res)
	}
	for i := range calls {
		c := &calls[i]
		c.Place, c.Err = waitroom.Place{}, nil
		sub, ok := r.vals[i].([]any)
		if !ok || len(sub) == 0 {
			return unexpected(res)
		}
		var err error
		switch c.Op {
		case waitroom.OpRegister, waitroom.OpPosition:
			c.Place, err = placeReply(sub, zone, c.Visitor)
		case waitroom.OpHeartbeat:
			err = heartbeatReply(sub, zone, c.Visitor)
		case waitroom.OpEnter:
			c.Place, err = enteredPlace(sub, zone, c.Visitor)
		case waitroom.OpArrive:
			if r, _ := sub[0].(string); r == "IN" {
				c.Place, err = enteredPlace(append([]any{"OK"}, sub[1:]...), zone, c.Visitor)
			} else {
				c.Place, err = placeReply(sub, zone, c.Visitor)
			}
		case waitroom.OpClaim:
			var slot waitroom.Slot
			if slot, err = claimReply(sub, zone, c.Visitor); err == nil {
				c.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Slot: slot}
			}
		case waitroom.OpRelease:
			var held waitroom.VisitorState
			if held, err = releaseReply(sub, zone); err == nil && held != 0 {
				c.Place = waitroom.Place{Visitor: c.Visitor, State: held}
			}
		}
		if err != nil {
			if !visitorErr(c.Op, err) {
				return err
			}
			c.Err = err
		}
	}
	return nil
}

// visitorErr reports whether err is a sentinel that op's method documents
// for one visitor: the call's own outcome, not the batch's.
func visitorErr(op waitroom.Op, err error) bool {
	switch op {
	case waitroom.OpRegister, waitroom.OpArrive:
		return errors.Is(err, waitroom.ErrLineFull)
	case waitroom.OpPosition, waitroom.OpHeartbeat, waitroom.OpEnter:
		return errors.Is(err, waitroom.ErrNotQueued)
	case waitroom.OpClaim:
		return errors.Is(err, waitroom.ErrNotAdmitted) || errors.Is(err, waitroom.ErrClaimExpired)
	}
	return false
}

// enteredPlace reads an Enter's reply: an inside place, or the zero Place
// if the visitor did not go in.
func enteredPlace(sub []any, zone, visitor string) (waitroom.Place, error) {
	slot, arrived, in, err := enterReply(sub, zone)
	if !in || err != nil {
		return waitroom.Place{}, err
	}
	return waitroom.Place{Visitor: visitor, State: waitroom.StateInside, Arrived: arrived, Slot: slot}, nil
}
