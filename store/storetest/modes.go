package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testModeSettingsKept: the mode, the pause and the cap on the line are
// settings like the others: kept, returned by Zone, versioned, and each
// change is one EventZone.
func testModeSettingsKept(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "modes", nil)
	for i, edit := range []func(*waitroom.ZoneState){
		func(z *waitroom.ZoneState) { z.Mode = waitroom.ModePassthrough },
		func(z *waitroom.ZoneState) { z.Paused = true },
		func(z *waitroom.ZoneState) { z.MaxWaiting = 1_000_000 },
		func(z *waitroom.ZoneState) { z.Mode, z.Paused, z.MaxWaiting = waitroom.ModeReject, false, 0 },
	} {
		edit(&st)
		got := putZone(t, s, st, at(time.Duration(i+1)*time.Second))
		assert.Equal(t, uint64(i+2), got.Version, "change %d is a new version", i)
		stored, err := s.Zone(t.Context(), st.Name)
		require.NoError(t, err)
		assert.True(t, stored.Equal(st), "change %d: Zone returns %+v, put %+v", i, stored, st)
	}
	again := putZone(t, s, st, at(time.Minute))
	assert.Equal(t, uint64(5), again.Version, "equal settings, mode included, change nothing")
	zones := 0
	for _, ev := range feedAll(t, s, st.Name) {
		if ev.Kind == waitroom.EventZone {
			zones++
		}
	}
	assert.Equal(t, 5, zones, "one EventZone per change")
}

// testPause: a paused zone lets nobody in, by the line or directly, and
// keeps the line's order; resumed, it goes on from the head.
func testPause(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "pause", func(z *waitroom.ZoneState) { z.Capacity = 10; z.AbandonAfter = time.Hour })
	ids := registerN(t, s, st.Name, "v", 4, T0)
	require.Equal(t, ids[:1], admitted(exchange(t, s, st.Name, T0, 1)))

	st.Paused = true
	putZone(t, s, st, at(time.Second))
	assert.Empty(t, admitted(exchange(t, s, st.Name, at(2*time.Second), 10)), "paused: nobody is let in")
	release(t, s, st.Name, ids[1], at(2*time.Second))
	release(t, s, st.Name, ids[2], at(2*time.Second))
	_, ok := enter(t, s, st.Name, "direct", at(3*time.Second))
	assert.False(t, ok, "paused: nobody enters directly")
	p := position(t, s, st.Name, ids[3], at(3*time.Second))
	assert.Equal(t, waitroom.StateWaiting, p.State, "a paused line keeps its places")
	assert.Zero(t, p.Ahead, "and its order")

	st.Paused = false
	putZone(t, s, st, at(4*time.Second))
	assert.Equal(t, ids[3:], admitted(exchange(t, s, st.Name, at(5*time.Second), 10)), "resumed: the head goes in")
}

// testRejectMode: in ModeReject nobody new gets in, by the line or
// directly; a slot held before stays held.
func testRejectMode(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "reject", func(z *waitroom.ZoneState) { z.Capacity = 10; z.AbandonAfter = time.Hour })
	_, ok := enter(t, s, st.Name, "early", T0)
	require.True(t, ok)
	ids := registerN(t, s, st.Name, "v", 2, T0)
	st.Mode = waitroom.ModeReject
	putZone(t, s, st, at(time.Second))
	assert.Empty(t, admitted(exchange(t, s, st.Name, at(2*time.Second), 10)), "ModeReject: the line does not move")
	_, ok = enter(t, s, st.Name, "late", at(2*time.Second))
	assert.False(t, ok, "ModeReject: nobody enters")
	assert.Equal(t, waitroom.StateInside, position(t, s, st.Name, "early", at(3*time.Second)).State, "inside stays inside")
	st.Mode = waitroom.ModeFIFO
	putZone(t, s, st, at(4*time.Second))
	assert.Equal(t, ids, admitted(exchange(t, s, st.Name, at(5*time.Second), 10)), "back to FIFO, in order")
}

// testMaxWaiting: a line of MaxWaiting places gives no new place
// (ErrLineFull) and changes nothing; a visitor already in line keeps its
// place; a place freed is a place to give again.
func testMaxWaiting(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "maxw", func(z *waitroom.ZoneState) { z.MaxWaiting = 3; z.AbandonAfter = time.Hour })
	ids := registerN(t, s, st.Name, "v", 3, T0)
	_, err := s.Register(t.Context(), st.Name, "one-too-many", at(time.Second))
	requireIs(t, err, waitroom.ErrLineFull, "Register past MaxWaiting")
	_, err = s.Position(t.Context(), st.Name, "one-too-many", at(time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "a refused visitor holds no place")
	assert.Equal(t, int64(3), stats(t, s, st.Name, at(time.Second)).Waiting)
	again := register(t, s, st.Name, ids[2], at(time.Second))
	assert.Equal(t, int64(2), again.Ahead, "a visitor in line registering again keeps its place")

	require.Equal(t, ids[:1], admitted(exchange(t, s, st.Name, at(2*time.Second), 1)))
	p := register(t, s, st.Name, "next", at(3*time.Second))
	assert.Equal(t, int64(2), p.Ahead, "the place freed at the head is given again, at the back")

	if b, ok := s.(waitroom.BatchStore); ok {
		calls := []waitroom.Call{{Op: waitroom.OpRegister, Visitor: "b1"}, {Op: waitroom.OpArrive, Visitor: "b2"}}
		require.NoError(t, b.Batch(t.Context(), st.Name, at(4*time.Second), calls), "a full line fails the calls, not the batch")
		for _, c := range calls {
			requireIs(t, c.Err, waitroom.ErrLineFull, "batched "+c.Op.String()+" past MaxWaiting")
			assert.Zero(t, c.Place)
		}
	}
}

// testAdmitAhead: an operator lets one visitor in ahead of the line. It
// takes a free slot, whatever the rate and the pause; the line closes up
// behind it; a full bucket or a visitor not waiting is refused.
func testAdmitAhead(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "ahead", func(z *waitroom.ZoneState) {
		z.Capacity = 2
		z.AdmitPerSecond = 0.01 // the rate would admit nobody for a long time
		z.AbandonAfter = time.Hour
	})
	ids := registerN(t, s, st.Name, "v", 5, T0)
	require.Equal(t, ids[:1], admitted(exchange(t, s, st.Name, T0, 10)), "the burst lets the first in")
	st.Paused = true
	putZone(t, s, st, at(time.Second))
	seq := stats(t, s, st.Name, at(time.Second)).FeedSeq
	last := position(t, s, st.Name, ids[4], at(time.Second)).Ahead

	slot, err := s.Admit(t.Context(), st.Name, ids[3], at(2*time.Second))
	require.NoError(t, err, "Admit of a waiting visitor, paused and out of rate credit")
	assert.NotEmpty(t, slot.TokenID)
	assert.True(t, slot.Until.Equal(at(2*time.Second).Add(st.ClaimWindow)), "reserved for the claim window, got %v", slot.Until)
	p := position(t, s, st.Name, ids[3], at(2*time.Second))
	assert.Equal(t, waitroom.StateAdmitted, p.State)
	assert.Equal(t, slot, p.Slot)
	behind := position(t, s, st.Name, ids[4], at(2*time.Second))
	assert.Equal(t, waitroom.StateWaiting, behind.State, "the visitor behind keeps its place")
	assert.LessOrEqual(t, behind.Ahead, last, "and is no further back (Ahead may count the place left until the head passes it)")
	assert.Equal(t, []string{ids[1], ids[2], ids[4]}, headNames(t, s, st.Name, at(2*time.Second)), "the line without it")
	got := claim(t, s, st.Name, ids[3], at(3*time.Second))
	assert.Equal(t, slot.TokenID, got.TokenID, "it claims its slot as an admitted visitor does")
	evs := feedSince(t, s, st.Name, seq)
	require.NotEmpty(t, evs)
	assert.Equal(t, waitroom.EventAdmitted, evs[0].Kind)
	assert.Equal(t, ids[3], evs[0].Visitor)
	assert.Equal(t, uint64(2), stats(t, s, st.Name, at(3*time.Second)).AdmittedTotal)

	_, err = s.Admit(t.Context(), st.Name, ids[1], at(4*time.Second))
	requireIs(t, err, waitroom.ErrZoneFull, "Admit into a full bucket")
	assert.Equal(t, waitroom.StateWaiting, position(t, s, st.Name, ids[1], at(4*time.Second)).State, "a refused Admit changes nothing")
	for _, v := range []string{ids[0], ids[3], "nobody"} {
		_, err = s.Admit(t.Context(), st.Name, v, at(4*time.Second))
		requireIs(t, err, waitroom.ErrNotQueued, "Admit of a visitor not waiting ("+v+")")
	}
	_, err = s.Admit(t.Context(), ZoneName("nozone"), "v", T0)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Admit in an unknown zone")
}

// testHead: Head lists the first places in line in the order they are to
// be let in, passing over places given up, and changes nothing.
func testHead(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "head", func(z *waitroom.ZoneState) { z.Capacity = 1; z.AbandonAfter = time.Hour })
	head, err := s.Head(t.Context(), st.Name, 10, T0)
	require.NoError(t, err)
	assert.Empty(t, head, "an empty line")
	ids := registerN(t, s, st.Name, "v", 6, T0)
	require.Equal(t, ids[:1], admitted(exchange(t, s, st.Name, at(time.Second), 10)))
	release(t, s, st.Name, ids[2], at(2*time.Second))
	seq := stats(t, s, st.Name, at(2*time.Second)).FeedSeq

	head, err = s.Head(t.Context(), st.Name, 3, at(3*time.Second))
	require.NoError(t, err)
	var names []string
	for i, p := range head {
		names = append(names, p.Visitor)
		assert.Equal(t, waitroom.StateWaiting, p.State)
		assert.GreaterOrEqual(t, p.Ahead, int64(i), "%s: Ahead never underestimates", p.Visitor)
		if i > 0 {
			assert.Greater(t, p.Ahead, head[i-1].Ahead, "%s is behind %s", p.Visitor, head[i-1].Visitor)
		}
		assert.True(t, p.Arrived.Equal(T0), "%s arrived at T0, got %v", p.Visitor, p.Arrived)
		assert.Equal(t, position(t, s, st.Name, p.Visitor, at(3*time.Second)), p, "Head tells what Position tells")
	}
	assert.Equal(t, []string{ids[1], ids[3], ids[4]}, names, "in order, past the released place, at most 3")
	all, err := s.Head(t.Context(), st.Name, 100, at(3*time.Second))
	require.NoError(t, err)
	assert.Len(t, all, 4)
	assert.Equal(t, seq, stats(t, s, st.Name, at(3*time.Second)).FeedSeq, "Head changes nothing")
	_, err = s.Head(t.Context(), ZoneName("nozone"), 10, T0)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Head of an unknown zone")
}

// headNames lists the visitors of the first places in line.
func headNames(t *testing.T, s waitroom.Store, zone string, now time.Time) []string {
	t.Helper()
	head, err := s.Head(t.Context(), zone, waitroom.MaxHead, now)
	require.NoError(t, err)
	var out []string
	for _, p := range head {
		out = append(out, p.Visitor)
	}
	return out
}

// testConcurrentAdmit: operators on many instances letting visitors in
// ahead of the line at once never fill more slots than the capacity, and
// each visitor is let in at most once.
func testConcurrentAdmit(t *testing.T, s waitroom.Store) {
	st := newZone(t, s, "cadmit", func(z *waitroom.ZoneState) { z.Capacity = 3; z.AbandonAfter = time.Hour })
	ids := registerN(t, s, st.Name, "v", 12, T0)
	var mu sync.Mutex
	let := map[string]int{}
	inParallel(t, 6, "concurrent Admit", func(w int) error {
		for i := range ids {
			v := ids[(i+2*w)%len(ids)]
			_, err := s.Admit(t.Context(), st.Name, v, at(time.Second))
			switch {
			case err == nil:
				mu.Lock()
				let[v]++
				mu.Unlock()
			case errors.Is(err, waitroom.ErrZoneFull) || errors.Is(err, waitroom.ErrNotQueued):
			default:
				return err
			}
		}
		return nil
	})
	assert.Len(t, let, st.Capacity, "exactly the capacity is let in")
	for v, n := range let {
		assert.Equal(t, 1, n, "%s let in once", v)
	}
	got := stats(t, s, st.Name, at(time.Second))
	assert.Equal(t, st.Capacity, got.Inside)
	assert.Equal(t, int64(len(ids)-st.Capacity), got.Waiting)
}
