package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// batchStore returns s as a waitroom.BatchStore, or skips the subtest: a
// store need not batch.
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
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for start := 0; start < visitors; start += size {
				calls := make([]waitroom.Call, size)
				for i := range calls {
					// Every worker registers every visitor, from a different one.
					calls[i] = waitroom.Call{Op: waitroom.OpRegister, Visitor: fmt.Sprintf("v-%d", (start+i+w*size/2)%visitors)}
				}
				if err := b.Batch(t.Context(), z.Name, at(time.Duration(start)*time.Millisecond), calls); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		require.NoError(t, <-errs, "concurrent Batch")
	}
	seen := make(map[uint64]string)
	for i := range visitors {
		v := fmt.Sprintf("v-%d", i)
		p := position(t, s, z.Name, v, at(time.Second))
		if other, dup := seen[p.Seq]; dup {
			t.Fatalf("visitors %s and %s share Seq %d", other, v, p.Seq)
		}
		seen[p.Seq] = v
		assert.LessOrEqual(t, p.Seq, uint64(visitors), "repeat registrations must not consume Seqs: %s has Seq %d", v, p.Seq)
	}
	assert.Equal(t, int64(visitors), stats(t, s, z.Name, at(time.Second)).Waiting, "one place per visitor")
}
