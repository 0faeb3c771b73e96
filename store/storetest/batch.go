package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// batchStore returns s as a waitroom.BatchStore, or skips the subtest: a
// store need not batch (every store of this module does).
func batchStore(t *testing.T, s waitroom.Store) waitroom.BatchStore {
	t.Helper()
	b, ok := s.(waitroom.BatchStore)
	if !ok {
		t.Skipf("%T does not implement waitroom.BatchStore", s)
	}
	return b
}

// testBatchCalls: each call of a batch does what its Store method does,
// in order: an entry into an empty line, registrations (a repeat one
// included), reads and heartbeats of known and unknown visitors, and an
// entry refused because somebody now waits.
func testBatchCalls(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	z := newZone(t, s, "batch", nil)
	register(t, s, z.Name, "early", T0)
	exchange(t, s, z.Name, at(time.Second), 1) // early is let in: the line is empty again
	calls := []waitroom.Call{
		{Op: waitroom.OpEnter, Visitor: "x"},
		{Op: waitroom.OpRegister, Visitor: "a"},
		{Op: waitroom.OpRegister, Visitor: "b"},
		{Op: waitroom.OpRegister, Visitor: "a"},
		{Op: waitroom.OpPosition, Visitor: "b"},
		{Op: waitroom.OpPosition, Visitor: "early"},
		{Op: waitroom.OpPosition, Visitor: "nobody"},
		{Op: waitroom.OpHeartbeat, Visitor: "b"},
		{Op: waitroom.OpHeartbeat, Visitor: "nobody"},
		{Op: waitroom.OpEnter, Visitor: "y"},
		{Op: waitroom.OpEnter, Visitor: "x"},
	}
	// Outcomes a batch must overwrite.
	for i := range calls {
		calls[i].Err = fmt.Errorf("stale")
		calls[i].Place = waitroom.Place{Visitor: "stale", Seq: 99}
	}
	now := at(2 * time.Second)
	require.NoError(t, b.Batch(t.Context(), z.Name, now, calls), "Batch")

	x := calls[0]
	require.NoError(t, x.Err)
	assert.Equal(t, waitroom.StateInside, x.Place.State, "Enter into an empty line with a free slot goes in")
	assert.Equal(t, "x", x.Place.Visitor)
	assert.NotEmpty(t, x.Place.Slot.TokenID, "an entered visitor holds a slot")
	assert.True(t, x.Place.Slot.Until.Equal(now.Add(z.Session)), "an entered slot lasts the session, got %v", x.Place.Slot.Until)

	a, bb, again := calls[1].Place, calls[2].Place, calls[3].Place
	assert.Equal(t, waitroom.StateWaiting, a.State)
	assert.Equal(t, []uint64{2, 3}, []uint64{a.Seq, bb.Seq}, "the batch's registrations take the next places in order")
	assert.Equal(t, []int64{0, 1}, []int64{a.Ahead, bb.Ahead})
	assert.True(t, a.LastSeen.Equal(now) && a.Arrived.Equal(now), "Register records now")
	assert.Equal(t, a.Seq, again.Seq, "a repeat registration in the same batch returns the same place")

	assert.Equal(t, bb.Seq, calls[4].Place.Seq, "Position after Register in the same batch sees the place")
	assert.Equal(t, int64(1), calls[4].Place.Ahead)
	assert.Equal(t, waitroom.StateAdmitted, calls[5].Place.State, "Position of a visitor let in")
	assert.Equal(t, "early", calls[5].Place.Visitor)
	requireIs(t, calls[6].Err, waitroom.ErrNotQueued, "Position of an unknown visitor in a batch")
	assert.Zero(t, calls[6].Place, "no place for an unknown visitor")
	assert.NoError(t, calls[7].Err, "Heartbeat of a waiting visitor")
	requireIs(t, calls[8].Err, waitroom.ErrNotQueued, "Heartbeat of an unknown visitor in a batch")
	assert.NoError(t, calls[9].Err)
	assert.Zero(t, calls[9].Place, "Enter while somebody waits: refused, the zero Place")
	assert.Equal(t, x.Place.Slot, calls[10].Place.Slot, "Enter of a visitor inside gives its slot back")
	for i, c := range calls {
		if c.Op != waitroom.OpHeartbeat && c.Err == nil && c.Place.State != 0 {
			assert.NotEqual(t, "stale", c.Place.Visitor, "call %d: the outcome is overwritten", i)
		}
	}

	// The singles see what the batch did.
	p := position(t, s, z.Name, "b", at(3*time.Second))
	assert.Equal(t, bb.Seq, p.Seq)
	assert.True(t, p.LastSeen.Equal(now), "the batch's heartbeat is recorded, got %v", p.LastSeen)
	st := stats(t, s, z.Name, at(3*time.Second))
	assert.Equal(t, int64(2), st.Waiting, "two places in line: a and b")
	var entered []string
	for _, ev := range feedAll(t, s, z.Name) {
		if ev.Kind == waitroom.EventEntered {
			entered = append(entered, ev.Visitor)
		}
	}
	assert.Equal(t, []string{"x"}, entered, "the batch's one entry appends one EventEntered")
}

// testBatchArrive: Arrive enters while a slot is free and nobody waits,
// and else queues; a visitor who arrives again keeps what it holds.
func testBatchArrive(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	z := newZone(t, s, "arrive", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	calls := []waitroom.Call{
		{Op: waitroom.OpArrive, Visitor: "a"},
		{Op: waitroom.OpArrive, Visitor: "b"},
		{Op: waitroom.OpArrive, Visitor: "c"},
		{Op: waitroom.OpArrive, Visitor: "a"},
		{Op: waitroom.OpArrive, Visitor: "b"},
	}
	now := at(time.Second)
	require.NoError(t, b.Batch(t.Context(), z.Name, now, calls))
	for i, c := range calls {
		require.NoError(t, c.Err, "call %d", i)
		assert.Equal(t, c.Visitor, c.Place.Visitor, "call %d", i)
	}
	a := calls[0].Place
	assert.Equal(t, waitroom.StateInside, a.State, "the one free slot, nobody waiting: a goes in")
	assert.True(t, a.Slot.Until.Equal(now.Add(z.Session)), "an entered slot lasts the session, got %v", a.Slot.Until)
	assert.Equal(t, waitroom.StateWaiting, calls[1].Place.State, "no slot left: b queues")
	assert.Equal(t, waitroom.StateWaiting, calls[2].Place.State)
	assert.Equal(t, []int64{0, 1}, []int64{calls[1].Place.Ahead, calls[2].Place.Ahead}, "b then c, in order")
	assert.Equal(t, calls[2].Place.Seq, calls[1].Place.Seq+1)
	assert.Equal(t, waitroom.StateInside, calls[3].Place.State, "a arrives again: still inside")
	assert.Equal(t, a.Slot, calls[3].Place.Slot, "with the same slot")
	assert.Equal(t, calls[1].Place.Seq, calls[4].Place.Seq, "b arrives again: the same place")

	release(t, s, z.Name, "a", at(2*time.Second))
	more := []waitroom.Call{{Op: waitroom.OpArrive, Visitor: "d"}}
	require.NoError(t, b.Batch(t.Context(), z.Name, at(3*time.Second), more))
	assert.Equal(t, waitroom.StateWaiting, more[0].Place.State, "a slot is free but b and c wait: d queues behind them")
	assert.Equal(t, int64(2), more[0].Place.Ahead)
	assert.Equal(t, int64(3), stats(t, s, z.Name, at(3*time.Second)).Waiting)
}

// testBatchErrors: a batch on an unknown zone, or with a call no store can
// make, fails as a whole and changes nothing; an empty batch does nothing.
func testBatchErrors(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	calls := []waitroom.Call{{Op: waitroom.OpRegister, Visitor: "a"}}
	err := b.Batch(t.Context(), ZoneName("nozone"), T0, calls)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Batch on an unknown zone")

	z := newZone(t, s, "batcherr", nil)
	for _, bad := range [][]waitroom.Call{
		{{Op: waitroom.OpRegister, Visitor: "a"}, {Op: 0, Visitor: "b"}},
		{{Op: waitroom.OpRegister, Visitor: "a"}, {Op: waitroom.Op(99), Visitor: "b"}},
		{{Op: waitroom.OpRegister, Visitor: "a"}, {Op: waitroom.OpRegister, Visitor: ""}},
	} {
		err := b.Batch(t.Context(), z.Name, T0, bad)
		require.Error(t, err, "Batch with a bad call %+v", bad[1])
		assert.Contains(t, err.Error(), "waitroom:")
		assert.Zero(t, stats(t, s, z.Name, T0).Waiting, "a refused batch registers nobody")
	}
	require.NoError(t, b.Batch(t.Context(), z.Name, T0, nil), "an empty batch")
}

// testBatchConcurrent: batches from many workers at once, overlapping in
// visitors, give each visitor one place and the places gap-free numbers.
func testBatchConcurrent(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	z := newZone(t, s, "cbatch", nil)
	const workers, visitors, size = 8, 64, 16
	inParallel(t, workers, "concurrent Batch", func(w int) error {
		for start := 0; start < visitors; start += size {
			calls := make([]waitroom.Call, size)
			for i := range calls {
				// Every worker registers every visitor, from a different one.
				calls[i] = waitroom.Call{Op: waitroom.OpRegister, Visitor: fmt.Sprintf("v-%d", (start+i+w*size/2)%visitors)}
			}
			if err := b.Batch(t.Context(), z.Name, at(time.Duration(start)*time.Millisecond), calls); err != nil {
				return err
			}
		}
		return nil
	})
	onePlaceEach(t, s, z.Name, visitors)
}

// testBatchClaimRelease: Claim and Release in a batch do what the single
// ones do, events included, on a twin zone driven by the single methods
// (storekit.BatchEach): a claim of an admitted visitor, of a waiting one
// and of a stranger (ErrNotAdmitted), a repeated claim (the same slot),
// releases of an admitted and a waiting visitor (the state given up) and
// a repeated one (nothing held); then a claim past the claim window
// (ErrClaimExpired).
func testBatchClaimRelease(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	batched := newZone(t, s, "bclaim", nil)
	single := newZone(t, s, "sclaim", nil)
	for _, z := range []string{batched.Name, single.Name} {
		registerN(t, s, z, "v", 3, T0)
		assert.Equal(t, []string{"v-1", "v-2"}, admitted(exchange(t, s, z, at(time.Second), 2)), "v-1 and v-2 are let in")
	}
	seq0 := stats(t, s, batched.Name, at(time.Second)).FeedSeq
	require.Equal(t, seq0, stats(t, s, single.Name, at(time.Second)).FeedSeq, "the twin zones have the same history")

	// run makes calls as one Batch on the batched zone and one by one on
	// the other, and compares the outcomes.
	run := func(now time.Time, calls []waitroom.Call) {
		t.Helper()
		for i := range calls { // outcomes a batch must overwrite
			calls[i].Place, calls[i].Err = waitroom.Place{Visitor: "stale", Seq: 99}, fmt.Errorf("stale")
		}
		singles := make([]waitroom.Call, len(calls))
		for i, c := range calls {
			singles[i] = waitroom.Call{Op: c.Op, Visitor: c.Visitor}
		}
		require.NoError(t, b.Batch(t.Context(), batched.Name, now, calls), "Batch")
		require.NoError(t, storekit.BatchEach(t.Context(), s, single.Name, now, singles), "the same calls one by one")
		for i, c := range calls {
			want := singles[i]
			what := fmt.Sprintf("call %d: %v %s", i, c.Op, c.Visitor)
			for _, sentinel := range []error{waitroom.ErrNotAdmitted, waitroom.ErrClaimExpired} {
				assert.Equal(t, errors.Is(want.Err, sentinel), errors.Is(c.Err, sentinel), "%s: %v as the single call: got %v", what, sentinel, c.Err)
			}
			assert.Equal(t, want.Err == nil, c.Err == nil, "%s: err %v, the single call's %v", what, c.Err, want.Err)
			assert.Equal(t, want.Place.Slot.TokenID == "", c.Place.Slot.TokenID == "", "%s: holds a slot", what)
			got := c.Place
			got.Slot.TokenID, want.Place.Slot.TokenID = "", ""
			if c.Op == waitroom.OpRelease {
				got.State = 0 // BatchEach cannot tell what was given up
			}
			assert.Equal(t, want.Place, got, what)
		}
	}

	now := at(2 * time.Second)
	calls := []waitroom.Call{
		{Op: waitroom.OpClaim, Visitor: "v-1"},
		{Op: waitroom.OpClaim, Visitor: "v-3"},
		{Op: waitroom.OpClaim, Visitor: "v-1"},
		{Op: waitroom.OpRelease, Visitor: "v-2"},
		{Op: waitroom.OpRelease, Visitor: "v-2"},
		{Op: waitroom.OpRelease, Visitor: "v-3"},
		{Op: waitroom.OpClaim, Visitor: "nobody"},
	}
	run(now, calls)

	a := calls[0]
	require.NoError(t, a.Err, "Claim of an admitted visitor")
	assert.Equal(t, "v-1", a.Place.Visitor)
	assert.Equal(t, waitroom.StateInside, a.Place.State)
	assert.NotEmpty(t, a.Place.Slot.TokenID, "a claimed visitor holds a slot")
	assert.True(t, a.Place.Slot.Until.Equal(now.Add(batched.Session)), "a claimed slot lasts the session, got %v", a.Place.Slot.Until)
	assert.Zero(t, a.Place.Seq, "a claim records Visitor, State and Slot only")
	requireIs(t, calls[1].Err, waitroom.ErrNotAdmitted, "Claim of a waiting visitor in a batch")
	assert.Zero(t, calls[1].Place)
	require.NoError(t, calls[2].Err, "Claim again")
	assert.Equal(t, a.Place, calls[2].Place, "claiming again gives the same slot")
	assert.Equal(t, waitroom.Place{Visitor: "v-2", State: waitroom.StateAdmitted}, calls[3].Place, "Release of an admitted visitor")
	assert.Zero(t, calls[4].Place, "a second Release holds nothing")
	assert.Equal(t, waitroom.Place{Visitor: "v-3", State: waitroom.StateWaiting}, calls[5].Place, "Release of a waiting visitor")
	requireIs(t, calls[6].Err, waitroom.ErrNotAdmitted, "Claim of an unknown visitor in a batch")
	assert.Zero(t, calls[6].Place)
	for i, c := range calls {
		if c.Op == waitroom.OpRelease {
			assert.NoError(t, c.Err, "call %d: Release records no error", i)
		}
	}

	// The singles see what the batch did.
	later := at(3 * time.Second)
	p := position(t, s, batched.Name, "v-1", later)
	assert.Equal(t, waitroom.StateInside, p.State)
	assert.Equal(t, a.Place.Slot, p.Slot, "the claimed slot")
	for _, v := range []string{"v-2", "v-3"} {
		_, err := s.Position(t.Context(), batched.Name, v, later)
		requireIs(t, err, waitroom.ErrNotQueued, "Position of a released visitor")
	}
	st := stats(t, s, batched.Name, later)
	assert.Equal(t, int64(0), st.Waiting, "v-3 gave up its place")
	assert.Equal(t, 1, st.Inside, "v-1 inside, v-2's slot freed")
	assert.Zero(t, st.HeadSeq, "nobody waits")
	evs := feedSince(t, s, batched.Name, seq0)
	assert.Equal(t, []waitroom.EventKind{waitroom.EventClaimed, waitroom.EventReleased, waitroom.EventReleased}, kinds(evs))
	if len(evs) == 3 {
		assert.Equal(t, []string{"v-1", "v-2", "v-3"}, []string{evs[0].Visitor, evs[1].Visitor, evs[2].Visitor})
		assert.Equal(t, a.Place.Slot.TokenID, evs[0].TokenID, "EventClaimed names the slot")
		assert.True(t, evs[0].SlotUntil.Equal(a.Place.Slot.Until), "EventClaimed carries the new deadline")
		assert.True(t, evs[1].FreesSlot(), "v-2's release frees its slot")
		assert.False(t, evs[2].FreesSlot(), "v-3 held no slot")
	}

	// Past the claim window: a visitor let in and not come in gets
	// ErrClaimExpired (its slot leaks with EventExpired), then holds
	// nothing to release or claim.
	for _, z := range []string{batched.Name, single.Name} {
		register(t, s, z, "late", later)
		assert.Equal(t, []string{"late"}, admitted(exchange(t, s, z, later, 1)))
	}
	run(later.Add(batched.ClaimWindow+time.Second), []waitroom.Call{
		{Op: waitroom.OpClaim, Visitor: "late"},
		{Op: waitroom.OpRelease, Visitor: "late"},
		{Op: waitroom.OpClaim, Visitor: "late"},
		{Op: waitroom.OpClaim, Visitor: "v-1"},
	})
	// The slot leaks with EventExpired: at the claim, or at the latest
	// at the next Exchange (a store may leave it to Exchange).
	for _, z := range []string{batched.Name, single.Name} {
		exchange(t, s, z, later.Add(batched.ClaimWindow+time.Second), 0)
	}
	late := feedSince(t, s, batched.Name, st.FeedSeq)
	assert.Contains(t, kinds(late), waitroom.EventExpired, "the late claim's slot leaks")

	// The two zones' feeds tell the same story.
	fb, fs := feedAll(t, s, batched.Name), feedAll(t, s, single.Name)
	require.Len(t, fb, len(fs), "as many events as the single calls append")
	for i := range fb {
		x, y := fb[i], fs[i]
		assert.Equal(t, y.TokenID == "", x.TokenID == "", "event %d names a slot", i)
		x.Zone, y.Zone, x.TokenID, y.TokenID = "", "", "", ""
		assert.Equal(t, y, x, "event %d", i)
	}
}
