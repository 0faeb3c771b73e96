package waitroomtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

func TestCountingStore(t *testing.T) {
	ctx := context.Background()
	s := waitroomtest.NewCountingStore(memstore.New())
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(s, waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, Session: time.Minute}),
		waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()
	assert.Equal(t, int64(1), s.Count("PutZone"))

	s.Reset()
	first, err := room.Visit(ctx, "checkout", nil, true) // enters
	require.NoError(t, err)
	second, err := room.Visit(ctx, "checkout", nil, true) // tries, then queues
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, second.State)
	assert.Equal(t, int64(2), s.Count("Enter"))
	assert.Equal(t, int64(1), s.Count("Register"))
	assert.Equal(t, int64(3), s.Count(waitroomtest.RequestOps...))
	assert.Equal(t, int64(3), s.Count())
	assert.Zero(t, s.Count("Batch"), "a CountingStore does not batch")
	assert.PanicsWithValue(t, `waitroomtest: no store operation is named "Nonsense"`, func() { s.Count("Nonsense") }, "a misspelt count fails its test")

	_, err = room.Release(ctx, "checkout", first.Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx))
	assert.Equal(t, int64(1), s.Count("Release"))
	assert.Equal(t, int64(1), s.Count("Exchange"))
	assert.Positive(t, s.Count("ReadFeed"), "Step delivers the feed")
	assert.Equal(t, int64(4), s.Count(waitroomtest.RequestOps...))
}

// plain is a store that does not batch: the memory store with its Batch
// hidden.
type plain struct{ waitroom.Store }

// Counting in front of a BatchStore keeps the batches, and counts them and
// what they carry: a Room over it batches its visitors' calls, a
// newcomer's entry or place in line is one Arrive call.
func TestCountingKeepsBatches(t *testing.T) {
	ctx := context.Background()
	counting, s := waitroomtest.Counting(memstore.New())
	_, isBatch := counting.(waitroom.BatchStore)
	require.True(t, isBatch)
	unbatched, _ := waitroomtest.Counting(plain{memstore.New()})
	_, isBatch = unbatched.(waitroom.BatchStore)
	require.False(t, isBatch, "in front of a store that does not batch, no Batch")

	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(counting, waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, Session: time.Minute}),
		waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()

	s.Reset()
	first, err := room.Visit(ctx, "checkout", nil, true) // enters
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateInside, first.State)
	second, err := room.Visit(ctx, "checkout", nil, true) // queues
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, second.State)
	assert.Equal(t, int64(2), s.Count("Batch"), "one batch each, alone")
	assert.Equal(t, int64(2), s.Batched("Arrive"))
	assert.Equal(t, int64(2), s.Batched())
	// BatchEach makes the batch's calls through the store it was given,
	// not through the counter: each batch counts once.
	assert.Zero(t, s.Count("Enter", "Register"))
	assert.Equal(t, int64(2), s.Count(waitroomtest.RequestOps...))

	_, err = room.Release(ctx, "checkout", first.Visitor.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(1), s.Count("Release"), "a release goes on its own")
	require.NoError(t, room.Heartbeat(ctx, "checkout", second.Visitor))
	assert.Equal(t, int64(1), s.Batched("Heartbeat"))
}
