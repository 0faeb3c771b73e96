package memstore

import (
	"context"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

var _ waitroom.BatchStore = (*Store)(nil)

// Batch makes the calls, all in zone, one after the other in order, each
// as its own method would (see waitroom.BatchStore), under one hold of the
// zone's lock: one atomic step. An Enter that goes in records
// Place{Visitor, State: StateInside, Arrived, Slot}, Arrived being when
// its slot was taken; a Claim records Place{Visitor, State: StateInside,
// Slot}, and a Release Place{Visitor, State} with the state given up.
func (s *Store) Batch(ctx context.Context, zoneName string, now time.Time, calls []waitroom.Call) error {
	if err := storekit.CheckCalls(calls); err != nil || len(calls) == 0 {
		return err
	}
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return err
	}
	defer z.mu.Unlock()
	for i := range calls {
		c := &calls[i]
		c.Place, c.Err = waitroom.Place{}, nil
		switch c.Op {
		case waitroom.OpRegister:
			c.Place, c.Err = z.register(c.Visitor, n)
		case waitroom.OpPosition:
			c.Place, c.Err = z.position(c.Visitor, n)
		case waitroom.OpHeartbeat:
			c.Err = z.heartbeat(c.Visitor, n)
		case waitroom.OpEnter, waitroom.OpArrive:
			if sl := z.enter(c.Visitor, n); sl != nil {
				c.Place = waitroom.Place{Visitor: sl.visitor, State: waitroom.StateInside, Arrived: unix(sl.arrived), Slot: sl.public()}
			} else if c.Op == waitroom.OpArrive {
				c.Place, c.Err = z.register(c.Visitor, n)
			}
		case waitroom.OpClaim:
			slot, err := z.claim(c.Visitor, n)
			if err != nil {
				c.Err = err
				break
			}
			c.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Slot: slot}
		case waitroom.OpRelease:
			if st := z.release(c.Visitor, n); st != 0 {
				c.Place = waitroom.Place{Visitor: c.Visitor, State: st}
			}
		}
	}
	return nil
}
