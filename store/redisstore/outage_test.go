package redisstore_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// TestOutage stops a Redis (kill -9, as a crash) under a running Room and
// starts it again on the same AOF directory: while it is down every store
// operation fails with ErrStoreUnavailable, the fail-closed Room keeps
// newcomers away from the origin while issued access tokens keep working;
// once it is back the places in line are intact and admissions resume,
// with the same Room, client and Store.
func TestOutage(t *testing.T) {
	srv := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := t.Context()
	store, err := redisstore.Open(ctx, "redis://"+srv.addr()+"/0", redisstore.WithCallerClock())
	require.NoError(t, err)

	clock := waitroomtest.NewClock(waitroomtest.Start)
	zone := uniqueZone("outage")
	room, err := waitroom.New(store, // the Room closes the store
		waitroom.WithZone(waitroom.Zone{Name: zone, Paths: []string{"/buy"}, Capacity: 1, AdmitPerSecond: 10}),
		waitroom.WithManualStep(), waitroom.WithClock(clock.Now), waitroom.WithKeys(testKeys(t)),
		waitroom.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	t.Cleanup(func() { room.Close() })
	require.Equal(t, waitroom.FailClosed, room.FailPolicy(), "fail-closed is the default")

	var reached atomic.Int64
	origin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "origin")
	})
	h := middleware.Wrap(room, origin, middleware.WithLogger(slog.New(slog.DiscardHandler)))
	t.Cleanup(func() { h.Close() })
	web := httptest.NewServer(h)
	t.Cleanup(web.Close)

	// The first visitor enters directly; three more wait in line.
	inside := newVisitor(t, "inside")
	code, _ := inside.get(t, web.URL+"/buy")
	require.Equal(t, http.StatusOK, code, "an empty zone lets the first visitor in")
	require.EqualValues(t, 1, reached.Load())
	waiting := []*visitor{newVisitor(t, "w1"), newVisitor(t, "w2"), newVisitor(t, "w3")}
	for _, v := range waiting {
		clock.Advance(time.Second)
		code, _ := v.get(t, web.URL+"/buy")
		require.Equal(t, http.StatusTooManyRequests, code, "%s waits", v.name)
	}
	require.NoError(t, room.Step(ctx))
	before := positions(t, store, room, zone, web.URL, waiting, clock.Now())
	require.Len(t, before, 3, "three places in line")
	for i, p := range before {
		require.Equal(t, int64(i), p.Ahead, "place %d", i)
	}

	srv.stop()

	now := clock.Advance(time.Second)
	start := time.Now()
	_, err = store.Register(ctx, zone, "newcomer", now)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "Register while Redis is down")
	t.Logf("Register failed after %v: %v", time.Since(start), err)
	_, err = store.Position(ctx, zone, before[0].Visitor, now)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "Position while Redis is down")
	_, err = store.Exchange(ctx, zone, now, 10)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "Exchange while Redis is down")
	_, err = store.ReadFeed(ctx, zone, 0, 10, 0)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "ReadFeed while Redis is down")
	_, err = store.ReadFeed(ctx, zone, 1000, 10, 100*time.Millisecond)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "a waiting ReadFeed while Redis is down")
	require.ErrorIs(t, room.Step(ctx), waitroom.ErrStoreUnavailable, "the exchanger fails while Redis is down")

	newcomer := newVisitor(t, "newcomer")
	code, _ = newcomer.get(t, web.URL+"/buy")
	assert.Equal(t, http.StatusServiceUnavailable, code, "fail-closed: a newcomer gets 503")
	code, _ = inside.get(t, web.URL+"/buy")
	assert.Equal(t, http.StatusOK, code, "an access token issued before the outage keeps working")
	require.EqualValues(t, 2, reached.Load(), "only the visitor with an access token reached the origin")

	srv.restart()
	// The client dials again within a second or so (go-redis probes a
	// server it could not reach once a second).
	waitFor(t, 10*time.Second, func() bool {
		_, err := store.Stats(ctx, zone, clock.Now())
		return err == nil
	}, "the store answers again after Redis restarted")

	now = clock.Advance(time.Second)
	after := positions(t, store, room, zone, web.URL, waiting, now)
	require.Len(t, after, 3, "the places in line survived the restart")
	for i := range before {
		assert.Equal(t, before[i].Visitor, after[i].Visitor)
		assert.Equal(t, before[i].Seq, after[i].Seq, "same Seq after the restart")
		assert.Equal(t, before[i].Ahead, after[i].Ahead, "same Ahead after the restart")
	}

	// The visitor inside leaves; the exchanger admits the head of the line,
	// who comes in. No instance was restarted.
	_, err = room.Release(ctx, zone, inside.id(t, room, zone, web.URL))
	require.NoError(t, err)
	clock.Advance(time.Second)
	require.NoError(t, room.Step(ctx), "the exchanger works again")
	p, err := store.Position(ctx, zone, before[0].Visitor, clock.Now())
	require.NoError(t, err)
	require.Equal(t, waitroom.StateAdmitted, p.State, "the head of the line is admitted after the restart")
	code, _ = waiting[0].get(t, web.URL+"/buy")
	assert.Equal(t, http.StatusOK, code, "the admitted visitor comes in")
	assert.EqualValues(t, 3, reached.Load())
	code, _ = newcomer.get(t, web.URL+"/buy")
	assert.Equal(t, http.StatusTooManyRequests, code, "a newcomer waits again instead of a 503")
}

// positions returns the places of vs, in their order.
func positions(t *testing.T, store waitroom.Store, room *waitroom.Room, zone, url string, vs []*visitor, now time.Time) []waitroom.Place {
	t.Helper()
	var out []waitroom.Place
	for _, v := range vs {
		p, err := store.Position(t.Context(), zone, v.id(t, room, zone, url), now)
		require.NoError(t, err, "Position of %s", v.name)
		out = append(out, p)
	}
	return out
}

// waitFor polls cond every 10ms until it holds, failing the test after
// limit.
func waitFor(t testing.TB, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s: not yet", limit, what)
		}
		<-tick.C
	}
}
