package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// PutZone creates the zone or replaces its settings (see waitroom.Store).
// A zone whose data has expired is created afresh, at version 1, with an
// empty queue, bucket and feed. Script: lua/putzone.lua.
func (s *Store) PutZone(ctx context.Context, st waitroom.ZoneState, now time.Time) (waitroom.ZoneState, error) {
	st, err := normalize(st)
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	res, err := s.run(ctx, scriptPutZone, st.Name, s.nowArg(now),
		st.Name, st.Capacity, strconv.FormatFloat(st.AdmitPerSecond, 'g', -1, 64),
		st.Session.Microseconds(), st.ClaimWindow.Microseconds(), st.AbandonAfter.Microseconds(),
		instant(st.OpensAt), instant(st.ClosesAt), st.DataTTL.Microseconds(),
		int(st.Mode), boolArg(st.Paused), st.MaxWaiting)
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	r := newReply(res)
	if r.status != "OK" {
		return waitroom.ZoneState{}, unexpected(res)
	}
	// Equal settings or new ones: either way the stored settings are st.
	st.Version = uint64(r.int(0))
	if r.err != nil {
		return waitroom.ZoneState{}, r.err
	}
	return st, nil
}

// Zone returns the stored settings, or waitroom.ErrZoneNotFound. Under
// WithCallerClock expiry is checked against the latest now any call passed
// to this Store. Script: lua/zone.lua.
func (s *Store) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	if zone == "" {
		return waitroom.ZoneState{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptZone, zone, s.latestArg())
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.ZoneState{}, storekit.NotFound(zone)
	case "OK":
	default:
		return waitroom.ZoneState{}, unexpected(res)
	}
	rate, perr := strconv.ParseFloat(r.str(2), 64)
	st := waitroom.ZoneState{
		Name:           r.str(0),
		Capacity:       int(r.int(1)),
		AdmitPerSecond: rate,
		Session:        time.Duration(r.int(3)) * time.Microsecond,
		ClaimWindow:    time.Duration(r.int(4)) * time.Microsecond,
		AbandonAfter:   time.Duration(r.int(5)) * time.Microsecond,
		OpensAt:        micros(r.int(6)),
		ClosesAt:       micros(r.int(7)),
		DataTTL:        time.Duration(r.int(8)) * time.Microsecond,
		Version:        uint64(r.int(9)),
		Mode:           waitroom.Mode(r.int(10)),
		Paused:         r.int(11) != 0,
		MaxWaiting:     r.int(12),
	}
	if r.err != nil {
		return waitroom.ZoneState{}, r.err
	}
	if perr != nil {
		return waitroom.ZoneState{}, unexpected(res)
	}
	return st, nil
}

// Register gives the visitor a place at the back of the queue, or returns
// the place it holds (see waitroom.Store). It appends no event, except
// EventExpired for a slot found past its deadline. Script:
// lua/register.lua.
func (s *Store) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if visitor == "" {
		return waitroom.Place{}, errEmptyVisitor
	}
	if zone == "" {
		return waitroom.Place{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptRegister, zone, s.nowArg(now), visitor)
	if err != nil {
		return waitroom.Place{}, err
	}
	return placeReply(res, zone, visitor)
}

// Position returns the visitor's place without changing anything (see
// waitroom.Store): two hash lookups and the head of a sorted set, whatever
// the length of the line. Script: lua/position.lua.
func (s *Store) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if zone == "" {
		return waitroom.Place{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptPosition, zone, s.nowArg(now), visitor)
	if err != nil {
		return waitroom.Place{}, err
	}
	return placeReply(res, zone, visitor)
}

// placeReply reads {'OK', state, seq, ahead, arrived, last seen, token,
// until} or an error status.
func placeReply(res []any, zone, visitor string) (waitroom.Place, error) {
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.Place{}, storekit.NotFound(zone)
	case "NOTQUEUED":
		return waitroom.Place{}, storekit.NotQueued(zone, visitor)
	case "FULL":
		return waitroom.Place{}, storekit.LineFull(zone, r.int(0))
	case "OK":
	default:
		return waitroom.Place{}, unexpected(res)
	}
	p := waitroom.Place{
		Visitor:  visitor,
		State:    waitroom.VisitorState(r.int(0)),
		Seq:      uint64(r.int(1)),
		Ahead:    r.int(2),
		Arrived:  micros(r.int(3)),
		LastSeen: micros(r.int(4)),
		Undrawn:  r.int(7) != 0,
	}
	if p.State != waitroom.StateWaiting {
		p.Slot = waitroom.Slot{TokenID: r.str(5), Until: micros(r.int(6))}
	}
	if r.err != nil {
		return waitroom.Place{}, r.err
	}
	return p, nil
}

// Heartbeat records now as the waiting visitor's last heartbeat (see
// waitroom.Store). Script: lua/heartbeat.lua.
func (s *Store) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	if zone == "" {
		return storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptHeartbeat, zone, s.nowArg(now), visitor)
	if err != nil {
		return err
	}
	return heartbeatReply(res, zone, visitor)
}

// heartbeatReply reads {'OK'} or an error status.
func heartbeatReply(res []any, zone, visitor string) error {
	switch newReply(res).status {
	case "OK":
		return nil
	case "NOZONE":
		return storekit.NotFound(zone)
	case "NOTQUEUED":
		return storekit.NotQueued(zone, visitor)
	}
	return unexpected(res)
}

// Enter gives the visitor a slot directly (see waitroom.Store). "Nobody
// waits" counts visitors who have abandoned but not yet been skipped.
// Slots past their deadline leak first, each with EventExpired, even when
// Enter then reports false. Script: lua/enter.lua.
func (s *Store) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	if visitor == "" {
		return waitroom.Slot{}, false, errEmptyVisitor
	}
	if zone == "" {
		return waitroom.Slot{}, false, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptEnter, zone, s.nowArg(now), visitor, storekit.NewID())
	if err != nil {
		return waitroom.Slot{}, false, err
	}
	slot, _, ok, err := enterReply(res, zone)
	return slot, ok, err
}

// enterReply reads {'OK', token, until, arrived}, {'NO'} or an error
// status.
func enterReply(res []any, zone string) (slot waitroom.Slot, arrived time.Time, ok bool, err error) {
	r := newReply(res)
	switch r.status {
	case "NO":
		return waitroom.Slot{}, time.Time{}, false, nil
	case "NOZONE":
		return waitroom.Slot{}, time.Time{}, false, storekit.NotFound(zone)
	case "OK":
	default:
		return waitroom.Slot{}, time.Time{}, false, unexpected(res)
	}
	slot = waitroom.Slot{TokenID: r.str(0), Until: micros(r.int(1))}
	arrived = micros(r.int(2))
	if r.err != nil {
		return waitroom.Slot{}, time.Time{}, false, r.err
	}
	return slot, arrived, true, nil
}

// Exchange lets the next visitors in (see waitroom.Store). It first leaks
// every slot past its deadline; then, while the zone is open, limit is not
// reached, a slot is free and the rate allows one more, it takes the head
// of the line: a visitor not seen for longer than AbandonAfter is skipped
// (at most MaxSkipsPerExchange per call), any other is admitted. Script:
// lua/exchange.lua.
func (s *Store) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	if zone == "" {
		return waitroom.Exchange{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptExchange, zone, s.nowArg(now), limit, storekit.NewID(), MaxSkipsPerExchange,
		strconv.FormatUint(storekit.NewSeed(), 10))
	if err != nil {
		return waitroom.Exchange{}, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.Exchange{}, storekit.NotFound(zone)
	case "OK":
	default:
		return waitroom.Exchange{}, unexpected(res)
	}
	x := waitroom.Exchange{Expired: int(r.int(0)), Abandoned: int(r.int(1))}
	for i := 2; i+3 < len(r.vals); i += 4 {
		x.Admitted = append(x.Admitted, waitroom.Admission{
			Visitor: r.str(i),
			Seq:     uint64(r.int(i + 1)),
			Slot:    waitroom.Slot{TokenID: r.str(i + 2), Until: micros(r.int(i + 3))},
		})
	}
	if r.err != nil {
		return waitroom.Exchange{}, r.err
	}
	return x, nil
}

// Claim turns an admitted visitor's reserved slot into an inside slot (see
// waitroom.Store). A slot found past its deadline is removed with
// EventExpired: an admitted visitor then gets waitroom.ErrClaimExpired, an
// inside visitor waitroom.ErrNotAdmitted. Script: lua/claim.lua.
func (s *Store) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	if zone == "" {
		return waitroom.Slot{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptClaim, zone, s.nowArg(now), visitor)
	if err != nil {
		return waitroom.Slot{}, err
	}
	return claimReply(res, zone, visitor)
}

// claimReply reads {'OK', token, until} or an error status.
func claimReply(res []any, zone, visitor string) (waitroom.Slot, error) {
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.Slot{}, storekit.NotFound(zone)
	case "NOTADMITTED":
		return waitroom.Slot{}, storekit.NotAdmitted(zone, visitor, "")
	case "CLAIMEXPIRED":
		return waitroom.Slot{}, storekit.ClaimExpired(zone, visitor)
	case "OK":
		return slotReply(r, res)
	}
	return waitroom.Slot{}, unexpected(res)
}

// slotReply reads the slot of {'OK', token, until}.
func slotReply(r *reply, res []any) (waitroom.Slot, error) {
	slot := waitroom.Slot{TokenID: r.str(0), Until: micros(r.int(1))}
	if r.err != nil {
		return waitroom.Slot{}, r.err
	}
	return slot, nil
}

// Release frees the visitor's slot or gives up its waiting place (see
// waitroom.Store). A slot found past its deadline was no longer held: it is
// removed with EventExpired and Release reports false. Script:
// lua/release.lua.
func (s *Store) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	if zone == "" {
		return false, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptRelease, zone, s.nowArg(now), visitor)
	if err != nil {
		return false, err
	}
	held, err := releaseReply(res, zone)
	return held != 0, err
}

// releaseReply reads {'OK', the state given up or 0} or an error status.
func releaseReply(res []any, zone string) (waitroom.VisitorState, error) {
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return 0, storekit.NotFound(zone)
	case "OK":
	default:
		return 0, unexpected(res)
	}
	held := r.int(0)
	if r.err != nil {
		return 0, r.err
	}
	if held < 0 || held > int64(waitroom.StateInside) {
		return 0, unexpected(res)
	}
	return waitroom.VisitorState(held), nil
}

// Stats counts the zone at now without changing it (see waitroom.Store).
// Inside counts the slots whose deadline has not passed at now. Script:
// lua/stats.lua.
func (s *Store) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	if zone == "" {
		return waitroom.ZoneStats{}, storekit.NotFound(zone)
	}
	res, err := s.run(ctx, scriptStats, zone, s.nowArg(now))
	if err != nil {
		return waitroom.ZoneStats{}, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.ZoneStats{}, storekit.NotFound(zone)
	case "OK":
	default:
		return waitroom.ZoneStats{}, unexpected(res)
	}
	st := waitroom.ZoneStats{
		Waiting:       r.int(0),
		Inside:        int(r.int(1)),
		AdmittedTotal: uint64(r.int(2)),
		HeadSeq:       uint64(r.int(3)),
		FeedSeq:       uint64(r.int(4)),
		LastAdmit:     micros(r.int(5)),
	}
	if at := r.int(9); at != 0 {
		seed, err := strconv.ParseUint(r.str(8), 10, 64)
		if err != nil {
			return waitroom.ZoneStats{}, unexpected(res)
		}
		st.Draw = waitroom.Draw{First: uint64(r.int(6)), Count: uint64(r.int(7)), Seed: seed, At: micros(at)}
	}
	if r.err != nil {
		return waitroom.ZoneStats{}, r.err
	}
	return st, nil
}

func unexpected(res []any) error {
	return unavailable(fmt.Errorf("unexpected script reply %v", res))
}

// boolArg is b as a script argument: 1 or 0.
func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Admit lets one waiting visitor in ahead of the line (see
// waitroom.Store). Script: lua/admit.lua.
func (s *Store) Admit(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	if zone == "" {
		return waitroom.Slot{}, storekit.NotFound(zone)
	}
	if visitor == "" {
		return waitroom.Slot{}, storekit.NotQueued(zone, visitor)
	}
	res, err := s.run(ctx, scriptAdmit, zone, s.nowArg(now), visitor, storekit.NewID())
	if err != nil {
		return waitroom.Slot{}, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return waitroom.Slot{}, storekit.NotFound(zone)
	case "NOTQUEUED":
		return waitroom.Slot{}, storekit.NotQueued(zone, visitor)
	case "FULL":
		return waitroom.Slot{}, storekit.ZoneFull(zone, int(r.int(0)))
	case "OK":
		return slotReply(r, res)
	}
	return waitroom.Slot{}, unexpected(res)
}

// Head returns the first n places in line (see waitroom.Store): the head
// of the line's sorted set and each visitor's record, in one read-only
// script. Script: lua/head.lua.
func (s *Store) Head(ctx context.Context, zone string, n int, now time.Time) ([]waitroom.Place, error) {
	if zone == "" {
		return nil, storekit.NotFound(zone)
	}
	n = storekit.HeadCount(n)
	if n == 0 {
		if _, err := s.Stats(ctx, zone, now); err != nil {
			return nil, err
		}
		return []waitroom.Place{}, nil
	}
	res, err := s.run(ctx, scriptHead, zone, s.nowArg(now), n)
	if err != nil {
		return nil, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return nil, storekit.NotFound(zone)
	case "OK":
	default:
		return nil, unexpected(res)
	}
	out := make([]waitroom.Place, 0, len(r.vals))
	for _, v := range r.vals {
		sub, ok := v.([]any)
		if !ok || len(sub) < 2 {
			return nil, unexpected(res)
		}
		visitor, ok := sub[len(sub)-1].(string)
		if !ok {
			return nil, unexpected(res)
		}
		p, err := placeReply(sub[:len(sub)-1], zone, visitor)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}
