package dynamostore

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

var _ waitroom.BatchStore = (*Store)(nil)

// Batch makes the calls, all in zone, one after the other in order, each
// as its own method would (see waitroom.BatchStore), in as few round trips
// as their order allows:
//
//   - Registrations that follow one another (OpRegister, and OpArrive from
//     the first one refused entry on, since after it somebody waits) are
//     written together: one tail-counter update and one transaction for up
//     to 50 of them.
//   - Position and Heartbeat calls that follow one another, each of a
//     different visitor, are made at once, in parallel: they commute.
//   - Enter (and an OpArrive's entry), Claim and Release are made one by
//     one; a Release records the state given up.
//
// A DynamoDB transaction holds at most 100 items, so unlike the Redis
// store's a batch is not one atomic step: a store failure stops it and is
// returned, and the calls before it have taken effect.
func (s *Store) Batch(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) error {
	if err := storekit.CheckCalls(calls); err != nil || len(calls) == 0 {
		return err
	}
	if err := s.check(); err != nil {
		return err
	}
	if err := checkZone(zone); err != nil {
		return storekit.NotFound(zone)
	}
	for i := range calls {
		if err := checkVisitor(calls[i].Visitor); err != nil {
			return err
		}
		calls[i].Place, calls[i].Err = waitroom.Place{}, nil
	}
	if _, err := s.readMeta(ctx, zone, s.cfg.cacheAge); err != nil {
		return err
	}
	for i := 0; i < len(calls); {
		var n int
		var err error
		switch calls[i].Op {
		case waitroom.OpRegister, waitroom.OpArrive:
			n, err = s.batchRegister(ctx, zone, now, calls[i:])
		case waitroom.OpPosition, waitroom.OpHeartbeat:
			n, err = s.batchRead(ctx, zone, now, calls[i:])
		case waitroom.OpRelease:
			var st waitroom.VisitorState
			if st, err = s.release(ctx, zone, calls[i].Visitor, now); st != 0 {
				calls[i].Place = waitroom.Place{Visitor: calls[i].Visitor, State: st}
			}
			n = 1
		default:
			n, err = 1, storekit.BatchEach(ctx, s, zone, now, calls[i:i+1])
		}
		if err != nil {
			return err
		}
		i += n
	}
	return nil
}

// batchRegister makes the run of OpRegister and OpArrive calls that starts
// calls, and returns its length. An OpArrive tries entry while no
// registration of the run comes before it; from the first registration on
// everyone is written together.
func (s *Store) batchRegister(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) (int, error) {
	n := 0
	for n < len(calls) && calls[n].Op == waitroom.OpArrive {
		c := &calls[n]
		slot, ok, err := s.Enter(ctx, zone, c.Visitor, now)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		c.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Arrived: now, Slot: slot}
		n++
	}
	start := n
	byVisitor := make(map[string]*regReq)
	var qs []*regReq
	for ; n < len(calls) && (calls[n].Op == waitroom.OpRegister || calls[n].Op == waitroom.OpArrive); n++ {
		if byVisitor[calls[n].Visitor] == nil {
			q := &regReq{visitor: strings.Clone(calls[n].Visitor), now: now}
			byVisitor[q.visitor] = q
			qs = append(qs, q)
		}
	}
	if len(qs) == 0 {
		return n, nil
	}
	if err := s.registerAll(ctx, zone, qs); err != nil {
		return 0, err
	}
	for i := start; i < n; i++ {
		c := &calls[i]
		if q := byVisitor[c.Visitor]; q.err != nil {
			c.Err = q.err // ErrLineFull
		} else {
			c.Place = q.place
			c.Place.Visitor = c.Visitor
		}
	}
	return n, nil
}

// batchRead makes the run of Position and Heartbeat calls of distinct
// visitors that starts calls, in parallel, and returns its length.
func (s *Store) batchRead(ctx context.Context, zone string, now time.Time, calls []waitroom.Call) (int, error) {
	seen := make(map[string]bool)
	n := 0
	for ; n < len(calls) && (calls[n].Op == waitroom.OpPosition || calls[n].Op == waitroom.OpHeartbeat) && !seen[calls[n].Visitor]; n++ {
		seen[calls[n].Visitor] = true
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range calls[:n] {
		wg.Go(func() { errs[i] = storekit.BatchEach(ctx, s, zone, now, calls[i:i+1]) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}
