package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storetest"
)

// TestDrawWalksPastGonePlaces: a drawn line is walked number by number,
// at most 1,000 places gone per script. With 1,500 drawn places released
// right behind the head, an exchange stops its walk short, the head rests
// on a gone number (so Ahead and HeadSeq only overestimate), and the next
// exchanges go on: everyone left is let in, in drawn order.
func TestDrawWalksPastGonePlaces(t *testing.T) {
	s := newStore(t, sharedClient(t))
	ctx, t0 := t.Context(), storetest.T0
	st := storetest.Zone(storetest.ZoneName("drawwalk"))
	st.Mode, st.OpensAt, st.Capacity, st.AdmitPerSecond, st.AbandonAfter = waitroom.ModeRandomAtOpen, t0.Add(time.Minute), 100, 1000, time.Hour
	_, err := s.PutZone(ctx, st, t0)
	require.NoError(t, err)
	const n = 1600
	byArrival := make(map[uint64]string, n)
	for i := range n {
		id := fmt.Sprintf("v%04d", i)
		p, err := s.Register(ctx, st.Name, id, t0)
		require.NoError(t, err)
		byArrival[p.Seq] = id
	}
	_, err = s.Exchange(ctx, st.Name, t0.Add(time.Minute), 0)
	require.NoError(t, err)
	stats, err := s.Stats(ctx, st.Name, t0.Add(time.Minute))
	require.NoError(t, err)
	d := stats.Draw
	require.Equal(t, uint64(n), d.Count)
	visitorOf := func(number uint64) string { return byArrival[d.Arrival(number)] }
	for q := uint64(2); q <= 1501; q++ {
		ok, err := s.Release(ctx, st.Name, visitorOf(q), t0.Add(time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
	}

	x, err := s.Exchange(ctx, st.Name, t0.Add(61*time.Second), 100)
	require.NoError(t, err)
	require.Len(t, x.Admitted, 1, "the head goes in; the walk past 1,500 gone places stops at 1,000")
	assert.Equal(t, visitorOf(1), x.Admitted[0].Visitor)
	next := visitorOf(1502)
	p, err := s.Position(ctx, st.Name, next, t0.Add(61*time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(1502), p.Seq)
	assert.Greater(t, p.Ahead, int64(0), "the head rests on a gone number: Ahead overestimates, never under")

	var got []string
	for i := 0; len(got) < n-1501 && i < 10; i++ {
		x, err := s.Exchange(ctx, st.Name, t0.Add(time.Duration(62+i)*time.Second), 100)
		require.NoError(t, err)
		for _, a := range x.Admitted {
			got = append(got, a.Visitor)
		}
	}
	var want []string
	for q := uint64(1502); q <= n; q++ {
		want = append(want, visitorOf(q))
	}
	assert.Equal(t, want, got, "the rest go in, in drawn order")
}
