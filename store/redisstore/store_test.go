package redisstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/store/storetest"
)

// This file tests what is particular to the Redis store: its clock, key
// expiry, feed trimming, and waiting feed readers beyond the blocking
// limit.

var t0 = storetest.T0

func zoneKeys(name string) []string {
	var keys []string
	for _, k := range []string{"zone", "line", "visitors", "slots", "feed"} {
		keys = append(keys, "waitroom:{"+name+"}:"+k)
	}
	return keys
}

// TestRedisClock: without WithCallerClock the store keeps Redis's time,
// whatever the callers' clocks say: two instances, one ten years behind
// and one ten years ahead, record arrivals, slots and events at the
// present.
func TestRedisClock(t *testing.T) {
	client := sharedClient(t)
	behind, err := redisstore.New(client)
	require.NoError(t, err)
	ahead, err := redisstore.New(client)
	require.NoError(t, err)
	ctx := t.Context()
	past, future := time.Now().AddDate(-10, 0, 0), time.Now().AddDate(10, 0, 0)
	near := func(what string, got time.Time, want time.Time) {
		t.Helper()
		assert.WithinDuration(t, want, got, 10*time.Second, "%s is in Redis's clock", what)
	}

	st := storetest.Zone(uniqueZone("clock"))
	st.Capacity = 1
	_, err = behind.PutZone(ctx, st, past)
	require.NoError(t, err)
	p, err := behind.Register(ctx, st.Name, "a", past)
	require.NoError(t, err)
	near("Arrived", p.Arrived, time.Now())
	near("LastSeen", p.LastSeen, time.Now())
	p, err = ahead.Register(ctx, st.Name, "b", future)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), p.Seq, "b registered after a")
	assert.Equal(t, int64(1), p.Ahead)

	// The instance ten years ahead does not see a's heartbeat as ten
	// years old: a is admitted, not skipped.
	x, err := ahead.Exchange(ctx, st.Name, future, 10)
	require.NoError(t, err)
	require.Len(t, x.Admitted, 1)
	assert.Equal(t, "a", x.Admitted[0].Visitor)
	assert.Zero(t, x.Abandoned)
	near("the claim deadline", x.Admitted[0].Slot.Until, time.Now().Add(st.ClaimWindow))
	slot, err := behind.Claim(ctx, st.Name, "a", past)
	require.NoError(t, err, "the instance ten years behind claims within the window")
	near("the session's end", slot.Until, time.Now().Add(st.Session))

	evs, err := behind.ReadFeed(ctx, st.Name, 0, 10, 0)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	for _, ev := range evs {
		near(fmt.Sprintf("event %d's At", ev.Seq), ev.At, time.Now())
	}
}

// TestKeysExpire: every key of a zone has a TTL of about DataTTL after a
// write, or DataTTL after ClosesAt; a zone past its data deadline is gone
// for every operation, and PutZone starts it afresh.
func TestKeysExpire(t *testing.T) {
	client := sharedClient(t)
	s := newStore(t, client)
	ctx := t.Context()
	st := storetest.Zone(uniqueZone("ttl"))
	st.DataTTL = time.Hour
	st.Capacity = 1
	_, err := s.PutZone(ctx, st, t0)
	require.NoError(t, err)
	_, ok, err := s.Enter(ctx, st.Name, "in", t0)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = s.Register(ctx, st.Name, "waiting", t0)
	require.NoError(t, err)
	for _, k := range zoneKeys(st.Name) {
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.True(t, ttl > 59*time.Minute && ttl <= time.Hour+time.Hour/64+time.Second,
			"%s: TTL %v, want about DataTTL (1h)", k, ttl)
	}

	// ClosesAt pushes the expiry: DataTTL after the sale ends.
	st.ClosesAt = t0.Add(5 * time.Hour)
	_, err = s.PutZone(ctx, st, t0.Add(time.Minute))
	require.NoError(t, err)
	ttl, err := client.PTTL(ctx, zoneKeys(st.Name)[2]).Result()
	require.NoError(t, err)
	assert.True(t, ttl > 5*time.Hour+58*time.Minute, "TTL %v, want about 6h: DataTTL after ClosesAt", ttl)

	// Past the deadline (callers' clock) the zone is gone.
	gone := t0.Add(6*time.Hour + 2*time.Hour/64)
	_, err = s.Register(ctx, st.Name, "late", gone)
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	_, err = s.Zone(ctx, st.Name)
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound, "Zone checks expiry at the latest now seen")
	again, err := s.PutZone(ctx, st, gone)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), again.Version, "a zone put after its data expired starts at version 1")
	stats, err := s.Stats(ctx, st.Name, gone)
	require.NoError(t, err)
	assert.Zero(t, stats.Waiting, "with an empty line")
	assert.Zero(t, stats.Inside, "and an empty bucket")
	assert.Equal(t, uint64(1), stats.FeedSeq, "and a new feed")
	_, err = s.ReadFeed(ctx, st.Name, 5, 10, 0)
	require.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "a reader beyond the new feed must resynchronise")
}

// TestFeedTrimmed: with a short feed the oldest events go; a reader
// asking for them gets ErrFeedTrimmed, one within the kept events reads
// on.
func TestFeedTrimmed(t *testing.T) {
	s := newStore(t, sharedClient(t), redisstore.WithFeedMaxLen(10))
	ctx := t.Context()
	st := storetest.Zone(uniqueZone("trim"))
	st.AdmitPerSecond = 1e6
	_, err := s.PutZone(ctx, st, t0)
	require.NoError(t, err)
	for i := range 300 {
		v := fmt.Sprintf("v%d", i)
		_, ok, err := s.Enter(ctx, st.Name, v, t0.Add(time.Duration(i)*time.Millisecond))
		require.NoError(t, err)
		require.True(t, ok)
		_, err = s.Release(ctx, st.Name, v, t0.Add(time.Duration(i)*time.Millisecond))
		require.NoError(t, err)
	}
	_, err = s.ReadFeed(ctx, st.Name, 0, 10, 0)
	require.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "the first events were trimmed")
	_, err = s.ReadFeed(ctx, st.Name, 0, 10, time.Second)
	require.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "a waiting read of trimmed events too")
	evs, err := s.ReadFeed(ctx, st.Name, 595, 10, 0)
	require.NoError(t, err, "the latest events are kept")
	require.Len(t, evs, 6)
	assert.Equal(t, uint64(596), evs[0].Seq)
	assert.Equal(t, uint64(601), evs[5].Seq)
	_, err = s.ReadFeed(ctx, st.Name, 700, 10, 0)
	require.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "a reader ahead of the feed must resynchronise")
}

// TestFeedReadersBeyondBlockingLimit: with one blocking read allowed, three
// readers wait on three zones at once; each gets its zone's event.
func TestFeedReadersBeyondBlockingLimit(t *testing.T) {
	s := newStore(t, sharedClient(t), redisstore.WithMaxBlockingReads(1))
	ctx := t.Context()
	var zones []string
	for range 3 {
		st := storetest.Zone(uniqueZone("blk"))
		_, err := s.PutZone(ctx, st, t0)
		require.NoError(t, err)
		zones = append(zones, st.Name)
	}
	type result struct {
		zone string
		evs  []waitroom.Event
		err  error
	}
	results := make(chan result, len(zones))
	for _, z := range zones {
		go func() {
			evs, err := s.ReadFeed(ctx, z, 1, 10, 30*time.Second)
			results <- result{z, evs, err}
		}()
	}
	for _, z := range zones {
		_, ok, err := s.Enter(ctx, z, "a", t0)
		require.NoError(t, err)
		require.True(t, ok)
	}
	for range zones {
		select {
		case r := <-results:
			require.NoError(t, r.err, r.zone)
			require.Len(t, r.evs, 1, r.zone)
			assert.Equal(t, waitroom.EventEntered, r.evs[0].Kind)
			assert.Equal(t, r.zone, r.evs[0].Zone)
		case <-time.After(20 * time.Second):
			t.Fatal("a waiting reader did not get its event")
		}
	}
}

// TestBadInput: descriptive errors, no panics, nothing written.
func TestBadInput(t *testing.T) {
	client := sharedClient(t)
	_, err := redisstore.New(nil)
	require.Error(t, err)
	for _, opt := range []redisstore.Option{
		redisstore.WithPrefix("a{b"), redisstore.WithFeedMaxLen(0), redisstore.WithMaxBlockingReads(0),
	} {
		_, err := redisstore.New(client, opt)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "waitroom: redisstore:")
	}
	s := newStore(t, client)
	ctx := t.Context()
	for _, st := range []waitroom.ZoneState{
		{Name: ""},
		{Name: "bad", Capacity: -1},
		{Name: "bad", AdmitPerSecond: -1},
		{Name: "bad", Session: -time.Second},
	} {
		_, err := s.PutZone(ctx, st, t0)
		require.Error(t, err, "%+v", st)
	}
	_, err = s.Register(ctx, "", "v", t0)
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	_, err = s.Register(ctx, uniqueZone("bad"), "", t0)
	require.Error(t, err)
	_, err = s.RotateSharedKeys(ctx, -time.Second)
	require.Error(t, err)
	err = s.FollowSharedKeys(ctx, 0, nil)
	require.Error(t, err)

	// A canceled ctx is a failure of the call, matched by both sentinels.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.Zone(canceled, "any")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable)

}
