// Package admintest checks that an operator's change made through one
// instance's admin API reaches another instance over a real store. Every
// store's tests run it, as they run storetest.
package admintest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin"
	"github.com/waitroom/waitroom/store/storetest"
	"github.com/waitroom/waitroom/waitroomtest"
)

// Run starts two instances, A and B, each a Room over its own store from
// newStore (two clients of one server), and checks that a capacity change
// and a pause made through A's admin API take effect on B once B has read
// its change feed (Room.Step: the feed's staleness bound, without waiting
// on a clock).
func Run(t *testing.T, newStore func(t *testing.T) waitroom.Store) {
	ctx := context.Background()
	clock := waitroomtest.NewClock(storetest.T0)
	name := storetest.ZoneName("ops")
	zone := waitroom.Zone{Name: name, Capacity: 1, AdmitPerSecond: 100, AbandonAfter: time.Hour}
	newRoom := func() *waitroom.Room {
		room, err := waitroom.New(newStore(t), waitroom.WithZone(zone), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
		require.NoError(t, err)
		t.Cleanup(func() { room.Close() })
		return room
	}
	a, b := newRoom(), newRoom()
	const token = "admintest-token-0123456789"
	h, err := admin.New(a, admin.WithToken(token))
	require.NoError(t, err)
	api := httptest.NewServer(h)
	defer api.Close()
	call := func(method, path, body string) {
		t.Helper()
		req, err := http.NewRequest(method, api.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s %s", method, path)
	}
	// step lets B read its feed and then exchange on what it read (a Step
	// exchanges first, then reads the feed): a store that keeps a copy of
	// the zone's settings drops it when the feed tells of a change.
	step := func() {
		t.Helper()
		clock.Advance(time.Second)
		for range 2 {
			require.NoError(t, b.Step(ctx))
		}
	}
	visit := func(v *waitroom.Visitor) waitroom.Outcome {
		t.Helper()
		o, err := b.Visit(ctx, name, v, true)
		require.NoError(t, err)
		return o
	}

	var out []waitroom.Outcome
	for range 3 {
		out = append(out, visit(nil))
	}
	require.Equal(t, waitroom.StateInside, out[0].State)

	// Capacity, raised on A, is B's once B has read its feed.
	call("PATCH", "/api/zones/"+name, `{"capacity": 3}`)
	step()
	zb, _ := b.Zone(name)
	assert.Equal(t, 3, zb.Capacity, "B applies A's capacity from the feed")
	for _, o := range out[1:] {
		assert.Equal(t, waitroom.StateInside, visit(&o.Visitor).State, "the new capacity lets B's line in")
	}

	// A pause on A stops B's admissions.
	call("POST", "/api/zones/"+name+"/pause", "")
	step()
	zb, _ = b.Zone(name)
	require.True(t, zb.Paused(), "B applies A's pause from the feed")
	_, err = b.Release(ctx, name, out[0].Visitor.ID)
	require.NoError(t, err)
	late := visit(nil)
	assert.Equal(t, waitroom.StateWaiting, late.State, "paused: a newcomer queues though a slot is free")
	step()
	assert.Equal(t, waitroom.StateWaiting, visit(&late.Visitor).State, "paused: B's exchanger lets nobody in")

	// Resumed on A, B lets the line go on.
	call("POST", "/api/zones/"+name+"/resume", "")
	step()
	assert.Equal(t, waitroom.StateInside, visit(&late.Visitor).State, "resumed: the head of B's line goes in")
}
