package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// drawZone puts a ModeRandomAtOpen zone opening at T0 + 10s, with room
// for everyone the draw subtests queue.
func drawZone(t *testing.T, s waitroom.Store, short string) waitroom.ZoneState {
	return newZone(t, s, short, func(z *waitroom.ZoneState) {
		z.Mode = waitroom.ModeRandomAtOpen
		z.OpensAt = at(10 * time.Second)
		z.Capacity, z.AdmitPerSecond, z.AbandonAfter = 1000, 1000, time.Hour
	})
}

// drawnEvents counts the zone's EventDrawn.
func drawnEvents(t *testing.T, s waitroom.Store, zone string) int {
	n := 0
	for _, ev := range feedAll(t, s, zone) {
		if ev.Kind == waitroom.EventDrawn {
			n++
		}
	}
	return n
}

// testDraw: a ModeRandomAtOpen zone queues everyone before the opening
// without an order (Undrawn, Ahead counting everyone else), draws once at
// the first Exchange from the opening on, paused or not, and from then on
// reports each place by the number waitroom.Draw gives its arrival
// number, lets the line in in that order, and queues later arrivals
// behind it in arrival order. Comparing the store's numbers with
// Draw.Number pins every store's copy of the permutation to the Go one.
func testDraw(t *testing.T, s waitroom.Store) {
	st := drawZone(t, s, "draw")
	const n = 40
	arrival := map[string]uint64{}
	var ids []string
	for i := range n {
		id := fmt.Sprintf("v-%02d", i+1)
		p := register(t, s, st.Name, id, T0)
		ids = append(ids, id)
		arrival[id] = p.Seq
		assert.True(t, p.Undrawn, "%s: before the draw a place has no order", id)
		assert.Equal(t, int64(i), p.Ahead, "%s: Ahead counts everyone else in line", id)
	}
	release(t, s, st.Name, ids[7], at(time.Second))
	release(t, s, st.Name, ids[20], at(time.Second))
	p := position(t, s, st.Name, ids[0], at(time.Second))
	assert.True(t, p.Undrawn)
	assert.Equal(t, int64(n-3), p.Ahead, "everyone else still in line")

	assert.Empty(t, admitted(exchange(t, s, st.Name, at(5*time.Second), 10)), "nobody before the opening")
	assert.False(t, stats(t, s, st.Name, at(5*time.Second)).Draw.Drawn(), "no draw before the opening")

	st.Paused = true
	putZone(t, s, st, at(9*time.Second))
	assert.Empty(t, admitted(exchange(t, s, st.Name, at(10*time.Second), 10)), "paused at the opening")
	d := stats(t, s, st.Name, at(10*time.Second)).Draw
	require.True(t, d.Drawn(), "the opening draws, paused or not")
	assert.True(t, d.At.Equal(at(10*time.Second)), "drawn at %v", d.At)
	assert.Equal(t, uint64(1), d.First, "from the head of the line")
	assert.Equal(t, uint64(n), d.Count, "to its back")
	assert.Equal(t, 1, drawnEvents(t, s, st.Name), "one EventDrawn")

	late := register(t, s, st.Name, "late", at(11*time.Second))
	assert.False(t, late.Undrawn, "an arrival after the draw is in order")
	assert.Equal(t, uint64(n+1), late.Seq, "behind every drawn number")
	assert.GreaterOrEqual(t, late.Ahead, int64(n-2), "behind every drawn place still in line")
	assert.Equal(t, int64(late.Seq-stats(t, s, st.Name, at(11*time.Second)).HeadSeq), late.Ahead, "counted from the head")

	want := make([]string, 0, n)
	numbers := map[string]uint64{}
	for _, id := range ids {
		if id == ids[7] || id == ids[20] {
			continue
		}
		p := position(t, s, st.Name, id, at(11*time.Second))
		assert.False(t, p.Undrawn, "%s: drawn", id)
		assert.Equal(t, d.Number(arrival[id]), p.Seq, "%s: the place the draw gave arrival %d", id, arrival[id])
		numbers[id] = p.Seq
		want = append(want, id)
	}
	slices.SortFunc(want, func(a, b string) int { return int(numbers[a]) - int(numbers[b]) })
	numbers["late"] = late.Seq
	assert.NotEqual(t, ids[:5], want[:5], "the drawn order is not the arrival order (a 1 in 2.5 million chance)")

	head, err := s.Head(t.Context(), st.Name, 5, at(11*time.Second))
	require.NoError(t, err)
	var first []string
	for i, p := range head {
		first = append(first, p.Visitor)
		assert.Equal(t, numbers[p.Visitor]-numbers[want[0]], uint64(p.Ahead), "%s: Ahead in drawn order (%d)", p.Visitor, i)
	}
	assert.Equal(t, want[:5], first, "Head lists the drawn order")

	st.Paused = false
	putZone(t, s, st, at(12*time.Second))
	var got []string
	for i := range 5 {
		x := exchange(t, s, st.Name, at(time.Duration(13+i)*time.Second), 10)
		for _, a := range x.Admitted {
			assert.Equal(t, numbers[a.Visitor], a.Seq, "%s: admitted under its drawn number", a.Visitor)
		}
		got = append(got, admitted(x)...)
	}
	assert.Equal(t, append(want, "late"), got, "let in in drawn order, the late arrival last")
	assert.Equal(t, 1, drawnEvents(t, s, st.Name), "drawn once")
	assert.Equal(t, d, stats(t, s, st.Name, at(20*time.Second)).Draw, "the draw stays on record")
	for _, ev := range feedAll(t, s, st.Name) {
		if ev.Kind == waitroom.EventAdmitted {
			assert.Equal(t, numbers[ev.Visitor], ev.QueueSeq, "%s: the feed tells the drawn number", ev.Visitor)
		}
	}
}

// testDrawFromHead: the draw orders the places in line at the opening,
// from the head to the back; with nobody in line it draws nothing, and
// the line is FIFO from then on; a zone that is not ModeRandomAtOpen
// never draws.
func testDrawFromHead(t *testing.T, s waitroom.Store) {
	empty := drawZone(t, s, "drawnone")
	exchange(t, s, empty.Name, at(10*time.Second), 10)
	d := stats(t, s, empty.Name, at(10*time.Second)).Draw
	require.True(t, d.Drawn(), "an empty line draws too")
	assert.Zero(t, d.Count, "nothing")
	ids := registerN(t, s, empty.Name, "v", 3, at(11*time.Second))
	assert.Equal(t, ids, admitted(exchange(t, s, empty.Name, at(12*time.Second), 10)), "FIFO after the draw")

	fifo := newZone(t, s, "drawfifo", func(z *waitroom.ZoneState) { z.Capacity, z.AbandonAfter = 10, time.Hour })
	registerN(t, s, fifo.Name, "v", 3, T0)
	exchange(t, s, fifo.Name, at(10*time.Second), 1)
	assert.False(t, stats(t, s, fifo.Name, at(10*time.Second)).Draw.Drawn(), "ModeFIFO never draws")

	// A zone switched to ModeRandomAtOpen once open draws the line as it
	// stands, from its head.
	fifo.Mode = waitroom.ModeRandomAtOpen
	putZone(t, s, fifo, at(11*time.Second))
	exchange(t, s, fifo.Name, at(12*time.Second), 0)
	d = stats(t, s, fifo.Name, at(12*time.Second)).Draw
	assert.Equal(t, uint64(2), d.First, "from the head")
	assert.Equal(t, uint64(2), d.Count, "the two still in line")
}

// testDrawConcurrent: registrations racing the draw each get exactly one
// place, every number is held once, and each place is drawn or queued
// behind the drawn ones, by whether the store numbered it before the
// draw.
func testDrawConcurrent(t *testing.T, s waitroom.Store) {
	st := drawZone(t, s, "drawrace")
	before := registerN(t, s, st.Name, "early", 20, T0)
	var wg sync.WaitGroup
	late := make([]string, 30)
	errs := make(chan error, len(late)+1)
	for i := range late {
		late[i] = fmt.Sprintf("late-%d", i)
		wg.Go(func() {
			_, err := s.Register(t.Context(), st.Name, late[i], at(10*time.Second))
			errs <- err
		})
	}
	wg.Go(func() {
		_, err := s.Exchange(t.Context(), st.Name, at(10*time.Second), 0)
		errs <- err
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	d := stats(t, s, st.Name, at(10*time.Second)).Draw
	require.True(t, d.Drawn())
	assert.GreaterOrEqual(t, d.Count, uint64(len(before)), "everyone in line before the opening is drawn")
	seen := map[uint64]string{}
	for _, id := range append(before, late...) {
		p := register(t, s, st.Name, id, at(11*time.Second))
		assert.False(t, p.Undrawn, "%s", id)
		if other, dup := seen[p.Seq]; dup {
			t.Errorf("%s and %s both hold number %d", id, other, p.Seq)
		}
		seen[p.Seq] = id
	}
	assert.Len(t, seen, len(before)+len(late), "one place each")
	head := headNames(t, s, st.Name, at(11*time.Second))
	assert.ElementsMatch(t, append(before, late...), head, "everyone in line once")
	for i, id := range head {
		if i > 0 {
			prev := position(t, s, st.Name, head[i-1], at(11*time.Second)).Seq
			assert.Less(t, prev, position(t, s, st.Name, id, at(11*time.Second)).Seq, "Head in number order")
		}
	}
}

// testDrawBatch: a batch tells what single calls tell of a line before
// and after its draw: Register and Position in a batch report the same
// place, Undrawn before, the drawn number after.
func testDrawBatch(t *testing.T, s waitroom.Store) {
	b := batchStore(t, s)
	st := drawZone(t, s, "drawbatch")
	calls := []waitroom.Call{}
	for i := range 6 {
		calls = append(calls, waitroom.Call{Op: waitroom.OpRegister, Visitor: fmt.Sprintf("v-%d", i)})
	}
	require.NoError(t, b.Batch(t.Context(), st.Name, T0, calls))
	for i, c := range calls {
		require.NoError(t, c.Err)
		assert.True(t, c.Place.Undrawn, "%s: registered in a batch before the draw", c.Visitor)
		assert.GreaterOrEqual(t, c.Place.Ahead, int64(i), "%s: Ahead counts everyone before it", c.Visitor)
	}
	exchange(t, s, st.Name, at(10*time.Second), 0)
	for i := range calls {
		calls[i].Op = waitroom.OpPosition
	}
	require.NoError(t, b.Batch(t.Context(), st.Name, at(11*time.Second), calls))
	for _, c := range calls {
		require.NoError(t, c.Err)
		p := position(t, s, st.Name, c.Visitor, at(11*time.Second))
		assert.False(t, c.Place.Undrawn, "%s", c.Visitor)
		assert.Equal(t, p.Seq, c.Place.Seq, "%s: a batch tells the drawn number", c.Visitor)
		assert.Equal(t, p.Ahead, c.Place.Ahead, "%s", c.Visitor)
	}
}
