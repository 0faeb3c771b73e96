package waitroom_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// Pause holds the line where it is; Resume lets it go on, in order. The
// pause is stored: a second Room on the same store, started while the zone
// is paused, keeps it, and learns of the resume from the feed.
func TestPauseAndResume(t *testing.T) {
	store := memstore.New()
	clock := waitroomtest.NewClock(t0)
	var log waitroomtest.Log
	opts := []waitroom.Option{waitroom.WithZone(checkout(1)), waitroom.WithClock(clock.Now), waitroom.WithManualStep()}
	a, err := waitroom.New(store, append(opts, waitroom.WithLogger(log.Logger()))...)
	require.NoError(t, err)
	defer a.Close()
	out := arrive(t, a, "checkout", 3)
	require.Equal(t, waitroom.StateInside, out[0].State)

	require.NoError(t, a.Pause(ctx, "checkout"))
	z, _ := a.Zone("checkout")
	assert.True(t, z.Paused())
	_, err = a.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, a.Step(ctx))
	st, err := a.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.True(t, st.Paused)
	assert.Zero(t, st.Inside, "paused: the freed slot is not given again")
	o, err := a.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, o.State, "paused: a newcomer queues even with a slot free")
	assert.True(t, o.Paused, "and is told the line is paused")

	b, err := waitroom.New(struct{ waitroom.Store }{store}, opts...) // a Room started mid-sale
	require.NoError(t, err)
	zb, _ := b.Zone("checkout")
	assert.True(t, zb.Paused(), "a Room started while the zone is paused keeps the pause")

	require.NoError(t, a.Resume(ctx, "checkout"))
	require.NoError(t, b.Step(ctx))
	zb, _ = b.Zone("checkout")
	assert.False(t, zb.Paused(), "the other Room learns of the resume from the feed")
	require.NoError(t, b.Step(ctx))
	next, err := a.Status(ctx, "checkout", out[1].Visitor)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateAdmitted, next.State, "resumed, the head of the line goes in first")

	changes := log.Lines("INFO")
	require.Len(t, changes, 2, "each change is logged once")
	assert.Contains(t, changes[0], "paused: false -> true")
	assert.Contains(t, changes[1], "paused: true -> false")
}

// ChangeZone raises capacity at run time and refuses what AddZone would.
func TestChangeZone(t *testing.T) {
	room, _ := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 3)
	before, after, err := room.ChangeZone(ctx, "checkout", func(z *waitroom.Zone) { z.Capacity = 3 })
	require.NoError(t, err)
	assert.Equal(t, 1, before.Capacity)
	assert.Equal(t, 3, after.Capacity)
	assert.Greater(t, after.Version(), before.Version())
	require.NoError(t, room.Step(ctx))
	for _, o := range out[1:] {
		s, err := room.Status(ctx, "checkout", o.Visitor)
		require.NoError(t, err)
		assert.Equal(t, waitroom.StateAdmitted, s.State, "the new capacity lets the line in")
	}

	_, _, err = room.ChangeZone(ctx, "checkout", func(z *waitroom.Zone) { z.Capacity = 0 })
	require.ErrorIs(t, err, waitroom.ErrInvalidZone)
	_, _, err = room.ChangeZone(ctx, "checkout", func(z *waitroom.Zone) { z.AdmitPerSecond = 2e9 })
	require.ErrorIs(t, err, waitroom.ErrInvalidZone)
	_, _, err = room.ChangeZone(ctx, "nowhere", func(z *waitroom.Zone) {})
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	z, _ := room.Zone("checkout")
	assert.Equal(t, 3, z.Capacity, "a refused change changes nothing")

	// Lowering capacity evicts nobody.
	_, _, err = room.ChangeZone(ctx, "checkout", func(z *waitroom.Zone) { z.Capacity = 1 })
	require.NoError(t, err)
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.Equal(t, 3, st.Inside, "those inside stay inside")
}

// ModeReject shows newcomers and the line the closed page; those inside
// keep their access. Back in ModeFIFO the line goes on.
func TestRejectMode(t *testing.T) {
	room, _ := newRoom(t, checkout(1))
	out := arrive(t, room, "checkout", 2)
	require.NoError(t, room.SetMode(ctx, "checkout", waitroom.ModeReject))
	o, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateClosed, o.State, "a newcomer is turned away")
	assert.Empty(t, o.VisitorToken, "and gets no place")
	o, err = room.Visit(ctx, "checkout", &out[1].Visitor, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateClosed, o.State, "the line sees the closed page")
	_, err = room.VerifyAccess(out[0].AccessToken, "checkout")
	require.NoError(t, err, "the one inside keeps its access")
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.True(t, st.Closed)
	assert.Equal(t, waitroom.ModeReject, st.Mode)

	require.NoError(t, room.SetMode(ctx, "checkout", waitroom.ModeFIFO))
	o, err = room.Visit(ctx, "checkout", &out[1].Visitor, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, o.State, "back in FIFO the line is there again")
	assert.Zero(t, o.Place.Ahead)
}

// ModePassthrough lets everyone in with an access token and no slot, and
// counts them.
func TestPassthroughMode(t *testing.T) {
	z := checkout(1)
	z.Mode = waitroom.ModePassthrough
	room, _ := newRoom(t, z)
	for i := range 5 {
		o, err := room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
		require.Equal(t, waitroom.StateInside, o.State, "visitor %d goes through", i)
		a, err := room.VerifyAccess(o.AccessToken, "checkout")
		require.NoError(t, err)
		assert.Equal(t, o.Visitor.ID, a.Visitor)
	}
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.Equal(t, uint64(5), st.PassedThrough)
	assert.Zero(t, st.Inside, "nobody holds a slot")
	assert.Zero(t, st.Waiting)
}

// MaxWaiting: a full line turns newcomers away with the closed page, no
// token and no place; the line itself is unchanged.
func TestMaxWaiting(t *testing.T) {
	z := checkout(1)
	z.MaxWaiting = 2
	room, _ := newRoom(t, z)
	out := arrive(t, room, "checkout", 3) // one inside, two waiting
	require.Equal(t, waitroom.StateWaiting, out[2].State)
	o, err := room.Visit(ctx, "checkout", nil, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateClosed, o.State)
	assert.True(t, o.LineFull)
	assert.Empty(t, o.VisitorToken, "no place, no token")
	again, err := room.Visit(ctx, "checkout", &out[2].Visitor, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, again.State, "a visitor in line keeps its place")
	st, err := room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.Equal(t, int64(2), st.Waiting)
}

// CloseNow ends the sale at once, also one that had not opened.
func TestCloseNow(t *testing.T) {
	z := checkout(1)
	z.OpensAt = t0.Add(time.Hour)
	room, _ := newRoom(t, z)
	out := arrive(t, room, "checkout", 1)
	require.Equal(t, waitroom.StateWaiting, out[0].State)
	require.NoError(t, room.CloseNow(ctx, "checkout"))
	o, err := room.Visit(ctx, "checkout", &out[0].Visitor, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateClosed, o.State)
	zz, _ := room.Zone("checkout")
	assert.False(t, zz.ClosesAt.After(t0), "closed now")
}

// The exchanger logs a zone's opening and its closing, with why.
func TestOpeningAndClosingAreLogged(t *testing.T) {
	var log waitroomtest.Log
	z := checkout(1)
	z.OpensAt = t0.Add(time.Minute)
	z.ClosesAt = t0.Add(time.Hour)
	room, clock := newRoom(t, z, waitroom.WithLogger(log.Logger()))
	require.NoError(t, room.Step(ctx)) // the baseline: not open yet
	assert.Empty(t, log.Lines("INFO"))
	clock.Advance(time.Minute)
	require.NoError(t, room.Step(ctx))
	require.NoError(t, room.Pause(ctx, "checkout"))
	require.NoError(t, room.Step(ctx))
	require.NoError(t, room.Resume(ctx, "checkout"))
	require.NoError(t, room.Step(ctx))
	clock.Advance(time.Hour)
	require.NoError(t, room.Step(ctx))
	var events []string
	for _, l := range log.Lines("INFO") {
		switch {
		case strings.Contains(l, "zone opened"):
			events = append(events, "opened")
		case strings.Contains(l, "zone closed"):
			events = append(events, "closed "+l[strings.Index(l, "why=")+4:])
		}
	}
	assert.Equal(t, []string{"opened", `closed paused`, "opened", `closed "sale ended"`}, events)
}
