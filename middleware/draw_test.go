package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
)

// TestDrawRenumbersCachedPlaces: the standings the edge cache holds from
// before the opening are dropped by the draw, so every page shows its
// drawn place at once, not the arrival order it held before.
func TestDrawRenumbersCachedPlaces(t *testing.T) {
	z := checkoutZone(1)
	z.Mode, z.OpensAt, z.AdmitPerSecond, z.AbandonAfter = waitroom.ModeRandomAtOpen, t0.Add(100*time.Millisecond), 1, time.Hour
	e := newEnv(t, z, nil, middleware.WithPositionTTL(time.Minute))
	clients := make([]*client, 8)
	for i := range clients {
		clients[i] = e.client()
		res, rep := clients[i].getJSON("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.EqualValues(t, i+1, rep.Position, "before the draw a place counts everyone else in line")
	}
	e.store.reset()
	for _, c := range clients {
		c.getJSON("/.waitroom/status?zone=checkout")
	}
	require.Zero(t, e.store.count("Position"), "the standings are cached")

	e.clock.Set(z.OpensAt)
	e.step(t) // the draw, and the first admission
	st, err := e.room.Stats(t.Context(), "checkout")
	require.NoError(t, err)
	require.True(t, st.Draw.Drawn())
	head, err := e.room.Head(t.Context(), "checkout", 10)
	require.NoError(t, err)
	require.Len(t, head, 7, "one let in, seven in line")
	place := map[string]int64{}
	for _, p := range head {
		place[p.Visitor] = p.Ahead + 1
	}
	shown := 0
	for i, c := range clients {
		v, err := e.room.VerifyVisitor(c.cookie("wr_v_checkout").Value, "checkout")
		require.NoError(t, err)
		_, rep := c.getJSON("/.waitroom/status?zone=checkout")
		if want, waiting := place[v.ID]; waiting {
			assert.Equal(t, want, rep.Position, "client %d shows its drawn place", i)
			shown++
		} else {
			assert.Equal(t, "admitted", rep.State, "client %d was drawn first", i)
		}
	}
	assert.Equal(t, 7, shown)
}

// TestPageSaysTheLineIsDrawn: before the opening, the page of a
// ModeRandomAtOpen zone says that places are drawn, not given by arrival,
// and its JSON says drawn; a FIFO zone's page promises arrival order.
func TestPageSaysTheLineIsDrawn(t *testing.T) {
	for _, mode := range []waitroom.Mode{waitroom.ModeRandomAtOpen, waitroom.ModeFIFO} {
		z := checkoutZone(1)
		z.Mode, z.OpensAt = mode, t0.Add(time.Hour)
		e := newEnv(t, z, nil)
		c := e.client()
		res := c.get("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		page := body(res)
		_, rep := c.getJSON("/checkout")
		if mode == waitroom.ModeRandomAtOpen {
			assert.Contains(t, page, "given a place at random when it opens")
			assert.NotContains(t, page, "in order of arrival")
			assert.True(t, rep.Drawn, "the JSON says the line is drawn")
		} else {
			assert.Contains(t, page, "let in in order of arrival")
			assert.False(t, rep.Drawn)
		}
	}
}
