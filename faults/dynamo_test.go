package faults

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/dynamostore"
)

// TestDynamoDBRestartMidSale kills DynamoDB Local (SIGKILL by PID) under
// a running sale and starts it again on the same port and tables
// (-sharedDb -dbPath): the same fail-policy checks as for Redis. During
// the outage nobody without an access token reaches the origin, newcomers
// get 503 (at once, once the breaker is open), the visitors inside keep
// coming in; afterwards admission resumes without restarting the Room, no
// place is lost and the order is the same. The SDK retries a refused
// connection up to 8 times with backoff (NewRetryer, some 3s in all): the
// Room's deadline cuts each call short, so the breaker opens within a
// few seconds.
func TestDynamoDBRestartMidSale(t *testing.T) {
	ctx := t.Context()
	d := startDynamo(t)
	table := uniqueName("faults")
	warmUp(t, d.url(table))
	store, err := dynamostore.Open(ctx, d.url(table))
	require.NoError(t, err)
	const capacity = 3
	// DynamoDB Local takes a few milliseconds a request, more on a busy
	// machine, and a call several requests: the default deadline, 2s.
	s := newSale(t, store, saleZone(uniqueName("dynamo"), capacity), waitroom.WithStoreTimeout(waitroom.DefaultStoreTimeout))

	inside := s.visitors("inside", capacity)
	for _, v := range inside {
		code, _ := v.mustGet()
		require.Equal(t, http.StatusOK, code, "%s goes straight in", v.name)
	}
	waiting := s.visitors("waiting", 6)
	for _, v := range waiting {
		code, _ := v.mustGet()
		require.Equal(t, http.StatusTooManyRequests, code, "%s waits", v.name)
	}
	before := places(t, store, s, waiting)
	insideIDs := ids(inside)

	d.kill()
	down := time.Now()
	for _, v := range s.visitors("outage", 3) {
		code, _, err := v.get()
		require.NoError(t, err)
		assert.Equal(t, http.StatusServiceUnavailable, code, "fail-closed: %s gets 503", v.name)
	}
	for _, v := range inside {
		code, _ := v.mustGet()
		assert.Equal(t, http.StatusOK, code, "%s's access token keeps working", v.name)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(s.logs.String(), "circuit breaker open") },
		"the breaker opens")
	opened := time.Since(down)
	start := time.Now()
	code, _, err := s.visitor("fast").get()
	failFast := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Less(t, failFast, time.Second, "with the breaker open a newcomer's 503 does not wait for the deadline")
	_, unprotected := s.reached()
	assert.Zero(t, unprotected, "nobody without an access token reached the origin")
	for _, v := range s.reachedBy() {
		assert.Contains(t, insideIDs, v, "only the visitors inside reached the origin")
	}

	restart := time.Now()
	d.restart()
	started := time.Since(restart)
	newcomer := s.visitor("after")
	resumed := waitFor(t, 30*time.Second, func() bool {
		code, _, err := newcomer.get()
		return err == nil && code == http.StatusTooManyRequests
	}, "a newcomer is queued again")
	t.Logf("breaker open %v after the kill; a newcomer's 503 with it open took %v; DynamoDB Local took %v to start again, the sale queued again %v after",
		opened.Round(time.Millisecond), failFast.Round(time.Microsecond), started.Round(time.Millisecond), resumed.Round(time.Millisecond))

	again := places(t, store, s, waiting)
	for i := range before {
		assert.Equal(t, before[i].Seq, again[i].Seq, "place %d: same Seq", i)
		assert.Equal(t, before[i].Ahead, again[i].Ahead, "place %d: same order", i)
	}
	for _, id := range insideIDs {
		_, err := s.room.Release(ctx, s.zone, id)
		require.NoError(t, err)
	}
	for _, v := range waiting[:capacity] {
		waitFor(t, 15*time.Second, func() bool {
			code, _, err := v.get()
			return err == nil && code == http.StatusOK
		}, v.name+" is let in")
	}
	for i, v := range waiting[capacity:] {
		code, rep := v.mustGet()
		assert.Equal(t, http.StatusTooManyRequests, code, "%s still waits", v.name)
		assert.EqualValues(t, i+1, rep.Position, "%s keeps its turn", v.name)
	}
	_, unprotected = s.reached()
	assert.Zero(t, unprotected, "nobody without an access token reached the origin")
	for _, l := range append(s.logs.Lines("WARN"), s.logs.Lines("INFO")...) {
		if !strings.Contains(l, "change feed read failed") {
			t.Log("room:", l)
		}
	}
}

// warmUp makes a short sale on a Store of its own over url with no
// deadline to speak of: a JVM just started serves its first transactions
// slowly, past the scenario's deadline.
func warmUp(t *testing.T, url string) {
	t.Helper()
	store, err := dynamostore.Open(t.Context(), url)
	require.NoError(t, err)
	room, err := waitroom.New(store, waitroom.WithZone(saleZone(uniqueName("warm"), 1)), waitroom.WithManualStep(),
		waitroom.WithStoreTimeout(time.Minute), waitroom.WithLogger(discard()))
	require.NoError(t, err)
	defer room.Close()
	for range 3 {
		_, err := room.Visit(t.Context(), room.Zones()[0], nil, true)
		require.NoError(t, err)
	}
	require.NoError(t, room.Step(t.Context()))
}
