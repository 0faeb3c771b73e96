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
	assert.Equal(t, int64(1), s.Count(waitroomtest.OpPutZone))

	s.Reset()
	first, err := room.Visit(ctx, "checkout", nil, true) // enters
	require.NoError(t, err)
	second, err := room.Visit(ctx, "checkout", nil, true) // tries, then queues
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, second.State)
	// memstore batches: each newcomer's entry or place in line is one
	// Arrive call, in a batch of its own here.
	assert.Equal(t, int64(2), s.Count(waitroomtest.OpBatch))
	assert.Zero(t, s.Count(waitroomtest.OpEnter, waitroomtest.OpRegister), "no single calls")
	assert.Equal(t, int64(2), s.Batched(waitroomtest.OpArrive))
	assert.Equal(t, int64(2), s.Batched())
	assert.Equal(t, int64(2), s.Count(waitroomtest.RequestOps...))
	assert.Equal(t, int64(2), s.Count())
	assert.Zero(t, s.Count("Nonsense"))

	_, err = room.Release(ctx, "checkout", first.Visitor.ID)
	require.NoError(t, err)
	require.NoError(t, room.Step(ctx))
	assert.Equal(t, int64(1), s.Count(waitroomtest.OpRelease), "a release goes on its own")
	assert.Equal(t, int64(1), s.Count(waitroomtest.OpExchange))
	assert.Positive(t, s.Count(waitroomtest.OpReadFeed), "Step delivers the feed")
	assert.Equal(t, int64(3), s.Count(waitroomtest.RequestOps...))
}

// In front of a store that does not batch, a CountingStore's Batch makes
// the calls one by one, each counted as itself.
func TestCountingStoreOverSingleCalls(t *testing.T) {
	ctx := context.Background()
	s := waitroomtest.NewCountingStore(struct{ waitroom.Store }{memstore.New()}) // hides Batch
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(s, waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, Session: time.Minute}),
		waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()

	s.Reset()
	_, err = room.Visit(ctx, "checkout", nil, true) // enters
	require.NoError(t, err)
	second, err := room.Visit(ctx, "checkout", nil, true) // tries, then queues
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateWaiting, second.State)
	assert.Equal(t, int64(2), s.Count(waitroomtest.OpEnter))
	assert.Equal(t, int64(1), s.Count(waitroomtest.OpRegister))
	assert.Zero(t, s.Count(waitroomtest.OpBatch))
	assert.Zero(t, s.Batched())
	assert.Equal(t, int64(3), s.Count())

	calls := []waitroom.Call{{Op: waitroom.OpPosition, Visitor: second.Visitor.ID}, {Op: waitroom.OpPosition, Visitor: "nobody"}}
	require.NoError(t, s.Batch(ctx, "checkout", clock.Now(), calls))
	assert.Equal(t, second.Place.Seq, calls[0].Place.Seq)
	assert.ErrorIs(t, calls[1].Err, waitroom.ErrNotQueued)
	assert.Equal(t, int64(2), s.Count(waitroomtest.OpPosition))
}
