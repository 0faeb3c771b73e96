package dynamostore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storetest"
)

var t0 = storetest.T0

// readAll reads a zone's whole feed with non-blocking reads.
func readAll(t *testing.T, s waitroom.Store, zone string) []waitroom.Event {
	t.Helper()
	var all []waitroom.Event
	for after := uint64(0); ; {
		evs, err := s.ReadFeed(t.Context(), zone, after, 100, 0)
		require.NoError(t, err)
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// TestStreamFeed: a Store following the table's DynamoDB Stream sees every
// change another instance makes, in order, without querying the outbox
// once it is in sync.
func TestStreamFeed(t *testing.T) {
	db, streams := localClients(t)
	table := newStreamTable(t, db)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	follower := newStore(t, db, table, WithStreams(streams), WithPollInterval(20*time.Millisecond), withStreamResync(time.Hour))
	other := newStore(t, db, table) // another instance, polling
	require.NoError(t, follower.stream.waitReady(ctx), "the stream reader starts")

	st := storetest.Zone(storetest.ZoneName("stream"))
	st.Capacity = 2
	_, err := other.PutZone(ctx, st, t0)
	require.NoError(t, err)
	zone := st.Name

	// The follower catches up from the outbox once; when the outbox has
	// nothing more, it relies on the stream.
	evs, err := follower.ReadFeed(ctx, zone, 0, 100, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the zone's first event")
	got := evs
	after := evs[0].Seq
	evs, err = follower.ReadFeed(ctx, zone, after, 100, 0)
	require.NoError(t, err)
	require.Empty(t, evs, "nothing more yet")
	queries := follower.feedQueries.Load()

	// Every change is made by the other instance.
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	_, ok, err := other.Enter(ctx, zone, "d", at(time.Second))
	require.NoError(t, err)
	require.True(t, ok)
	for i := 1; i <= 3; i++ {
		_, err := other.Register(ctx, zone, fmt.Sprintf("v-%d", i), at(2*time.Second))
		require.NoError(t, err)
	}
	x, err := other.Exchange(ctx, zone, at(3*time.Second), 10)
	require.NoError(t, err)
	require.Len(t, x.Admitted, 1)
	_, err = other.Claim(ctx, zone, "v-1", at(4*time.Second))
	require.NoError(t, err)
	released, err := other.Release(ctx, zone, "d", at(5*time.Second))
	require.NoError(t, err)
	require.True(t, released, "the other instance releases the direct entry")
	_, err = other.Release(ctx, zone, "v-3", at(6*time.Second))
	require.NoError(t, err)
	_, err = other.Exchange(ctx, zone, at(7*time.Second), 10)
	require.NoError(t, err)

	want := readAll(t, other, zone)
	require.Len(t, want, 7, "zone, entered, admitted, claimed, released x2, admitted")
	for len(got) < len(want) {
		evs, err := follower.ReadFeed(ctx, zone, after, 100, 30*time.Second)
		require.NoError(t, err)
		require.NotEmpty(t, evs, "a waiting read returns the events the stream delivers, after Seq %d", after)
		got = append(got, evs...)
		after = evs[len(evs)-1].Seq
	}
	assert.Equal(t, want, got, "the follower sees exactly the other instance's events, in order")
	for i, ev := range got {
		assert.Equal(t, uint64(i+1), ev.Seq, "Seqs run 1..n")
	}
	assert.Equal(t, waitroom.EventReleased, got[4].Kind)
	assert.Equal(t, "d", got[4].Visitor, "the release made by the other instance")
	assert.Equal(t, queries, follower.feedQueries.Load(), "in sync, the follower reads the events from the stream, not the outbox")

	// A read waiting at the end of the feed is woken by the stream.
	done := make(chan []waitroom.Event, 1)
	go func() {
		evs, err := follower.ReadFeed(ctx, zone, after, 10, time.Minute)
		assert.NoError(t, err)
		done <- evs
	}()
	_, err = other.Release(ctx, zone, "v-1", at(8*time.Second))
	require.NoError(t, err)
	woken := <-done
	require.Len(t, woken, 1, "the waiting read returns the release")
	assert.Equal(t, waitroom.EventReleased, woken[0].Kind)
	assert.Equal(t, "v-1", woken[0].Visitor)
	assert.NotEmpty(t, woken[0].TokenID, "the release frees v-1's slot")
}

// TestStreamReaderWithoutStream: on a table without a stream the reader
// reports why, and ReadFeed still works by polling the outbox.
func TestStreamReaderWithoutStream(t *testing.T) {
	db, streams := localClients(t)
	table := newTable(t, db)
	s := newStore(t, db, table, WithStreams(streams), WithPollInterval(10*time.Millisecond))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	st := storetest.Zone(storetest.ZoneName("nostream"))
	_, err := s.PutZone(ctx, st, t0)
	require.NoError(t, err)
	evs, err := s.ReadFeed(ctx, st.Name, 0, 10, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the feed is read from the outbox")

	waitCtx, cancelWait := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelWait()
	err = s.stream.waitReady(waitCtx)
	require.Error(t, err, "the reader never follows a table without a stream")
	assert.ErrorContains(t, err, "has no stream enabled", "the error says why")
}
