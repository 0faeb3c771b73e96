package waitroom_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// TestDrawIsAPermutation: Number maps the drawn numbers onto themselves,
// one to one, Arrival undoes it, and numbers outside the draw stay.
func TestDrawIsAPermutation(t *testing.T) {
	for _, count := range []uint64{0, 1, 2, 3, 4, 5, 8, 17, 64, 100, 1000, 4097} {
		d := waitroom.Draw{First: 11, Count: count, Seed: 42 + count, At: time.Unix(1, 0)}
		seen := make(map[uint64]bool, count)
		for a := d.First; a < d.First+count; a++ {
			n := d.Number(a)
			require.GreaterOrEqual(t, n, d.First, "count %d: %d -> %d", count, a, n)
			require.Less(t, n, d.First+count, "count %d: %d -> %d", count, a, n)
			require.False(t, seen[n], "count %d: %d given twice", count, n)
			seen[n] = true
			require.Equal(t, a, d.Arrival(n), "count %d: Arrival undoes Number", count)
		}
		for _, a := range []uint64{0, 1, 10, d.First + count, d.First + count + 1} {
			assert.Equal(t, a, d.Number(a), "count %d: %d is not drawn", count, a)
			assert.Equal(t, a, d.Arrival(a), "count %d: %d is not drawn", count, a)
		}
	}
}

// TestDrawDependsOnSeed: another seed, another order; the same seed, the
// same order (what an audit relies on).
func TestDrawDependsOnSeed(t *testing.T) {
	order := func(seed uint64) []uint64 {
		d := waitroom.Draw{First: 1, Count: 20, Seed: seed}
		out := make([]uint64, 20)
		for a := range uint64(20) {
			out[a] = d.Number(a + 1)
		}
		return out
	}
	assert.Equal(t, order(7), order(7))
	assert.NotEqual(t, order(7), order(8))
}

// TestRandomAtOpen: through a Room, everyone who came before the opening
// waits without an order; at the opening the line is drawn once, every
// instance logs the draw, the line goes in in drawn order, and a visitor
// who comes after queues behind it.
func TestRandomAtOpen(t *testing.T) {
	z := checkout(100)
	z.Mode, z.OpensAt, z.AbandonAfter = waitroom.ModeRandomAtOpen, t0.Add(time.Hour), 2*time.Hour
	z.AdmitPerSecond = 4 // one at a time
	var logs bytes.Buffer
	room, clock := newRoom(t, z, waitroom.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	out := arrive(t, room, "checkout", 12)
	arrival := make(map[string]uint64)
	for i, o := range out {
		require.Equal(t, waitroom.StateWaiting, o.State)
		assert.True(t, o.Place.Undrawn, "visitor %d: no order before the draw", i)
		arrival[o.Visitor.ID] = o.Place.Seq
	}
	require.NoError(t, room.Step(ctx))
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.False(t, st.Draw.Drawn(), "no draw before the opening")

	clock.Set(z.OpensAt)
	require.NoError(t, room.Step(ctx))
	st, err = room.Stats(ctx, "checkout")
	require.NoError(t, err)
	d := st.Draw
	require.True(t, d.Drawn(), "drawn at the opening")
	assert.Contains(t, logs.String(), fmt.Sprintf(`msg="waitroom: line drawn" zone=checkout first=1 count=12 seed=%d`, d.Seed),
		"the draw is logged with what an audit needs")

	late, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateWaiting, late.State, "the drawn line is still there")
	assert.False(t, late.Place.Undrawn)
	for range 30 {
		clock.Advance(time.Second)
		for _, o := range append(out, late) { // every page stays open
			_, err := room.Status(ctx, "checkout", o.Visitor)
			require.NoError(t, err)
		}
		require.NoError(t, room.Step(ctx))
	}
	type admitted struct {
		seq     uint64
		visitor string
	}
	var got []admitted
	for _, o := range append(out, late) {
		s, err := room.Status(ctx, "checkout", o.Visitor)
		require.NoError(t, err)
		require.Contains(t, []waitroom.VisitorState{waitroom.StateAdmitted, waitroom.StateInside}, s.State, "%s let in", o.Visitor.ID)
		got = append(got, admitted{s.Place.Seq, o.Visitor.ID})
	}
	for _, a := range got[:12] {
		assert.Equal(t, d.Number(arrival[a.visitor]), a.seq, "%s: admitted under its drawn number", a.visitor)
	}
	assert.Equal(t, uint64(13), got[12].seq, "the late visitor after the drawn line")
	assert.Equal(t, 1, strings.Count(logs.String(), "line drawn"), "drawn once")
}
