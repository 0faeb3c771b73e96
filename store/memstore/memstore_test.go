package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin/admintest"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) waitroom.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

var t0 = storetest.T0

func newStore(t *testing.T, opts ...memstore.Option) *memstore.Store {
	t.Helper()
	s := memstore.New(opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *memstore.Store, st waitroom.ZoneState, now time.Time) waitroom.ZoneState {
	t.Helper()
	got, err := s.PutZone(t.Context(), st, now)
	require.NoError(t, err)
	return got
}

// churn appends 2n events: n direct entries, each released.
func churn(t *testing.T, s *memstore.Store, zone string, n int, now time.Time) {
	t.Helper()
	for i := range n {
		v := fmt.Sprintf("c-%d", i)
		_, ok, err := s.Enter(t.Context(), zone, v, now)
		require.NoError(t, err)
		require.True(t, ok, "entry %d", i)
		ok, err = s.Release(t.Context(), zone, v, now)
		require.NoError(t, err)
		require.True(t, ok)
	}
}

func TestFeedTrimmed(t *testing.T) {
	s := newStore(t, memstore.WithFeedSize(5))
	st := put(t, s, storetest.Zone("trim"), t0)
	churn(t, s, st.Name, 5, t0.Add(time.Second)) // events 2..11; 7..11 kept
	ctx := t.Context()

	for _, after := range []uint64{0, 1, 5} {
		_, err := s.ReadFeed(ctx, st.Name, after, 10, 0)
		assert.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "reading after %d needs event %d, no longer kept", after, after+1)
	}
	evs, err := s.ReadFeed(ctx, st.Name, 6, 10, 0)
	require.NoError(t, err, "after 6: events 7..11 are all kept")
	require.Len(t, evs, 5)
	for i, ev := range evs {
		assert.Equal(t, uint64(7+i), ev.Seq, "kept events in order")
	}
	evs, err = s.ReadFeed(ctx, st.Name, 9, 1, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, uint64(10), evs[0].Seq, "paging inside the kept window")

	stats, err := s.Stats(ctx, st.Name, t0.Add(time.Second))
	require.NoError(t, err)
	assert.Equal(t, uint64(11), stats.FeedSeq, "trimming keeps numbering")

	_, err = s.ReadFeed(ctx, st.Name, 12, 10, 0)
	assert.ErrorIs(t, err, waitroom.ErrFeedTrimmed, "a reader ahead of the feed (the feed was reset) must resynchronise")
}

func TestFeedWraps(t *testing.T) {
	s := newStore(t, memstore.WithFeedSize(7))
	st := put(t, s, storetest.Zone("wrap"), t0)
	churn(t, s, st.Name, 20, t0)
	// 41 events, the last 7 kept, read in pages of 3 across the ring's wrap.
	var seqs []uint64
	for after := uint64(34); ; {
		evs, err := s.ReadFeed(t.Context(), st.Name, after, 3, 0)
		require.NoError(t, err)
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			seqs = append(seqs, ev.Seq)
		}
		after = evs[len(evs)-1].Seq
	}
	assert.Equal(t, []uint64{35, 36, 37, 38, 39, 40, 41}, seqs)
}

func TestZoneExpiresAfterLastWrite(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	zs := storetest.Zone("exp")
	zs.DataTTL = time.Hour
	put(t, s, zs, t0)
	_, err := s.Register(ctx, zs.Name, "a", t0.Add(10*time.Minute))
	require.NoError(t, err)
	// A heartbeat is a write: it moves the expiry.
	require.NoError(t, s.Heartbeat(ctx, zs.Name, "a", t0.Add(20*time.Minute)))

	_, err = s.Position(ctx, zs.Name, "a", t0.Add(80*time.Minute-time.Nanosecond))
	require.NoError(t, err, "the zone lives DataTTL after its last write")
	_, err = s.Zone(ctx, zs.Name)
	require.NoError(t, err)

	_, err = s.Stats(ctx, zs.Name, t0.Add(80*time.Minute))
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound, "DataTTL after the last write the zone is gone")
	_, err = s.Zone(ctx, zs.Name)
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound, "Zone checks expiry against the latest now seen")
	_, err = s.Register(ctx, zs.Name, "a", t0.Add(81*time.Minute))
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	_, err = s.ReadFeed(ctx, zs.Name, 0, 10, 0)
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound)

	again := put(t, s, zs, t0.Add(82*time.Minute))
	assert.Equal(t, uint64(1), again.Version, "an expired zone put again starts at version 1")
	stats, err := s.Stats(ctx, zs.Name, t0.Add(82*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, waitroom.ZoneStats{FeedSeq: 1}, stats, "a fresh queue, bucket and feed")
	p, err := s.Register(ctx, zs.Name, "a", t0.Add(83*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, uint64(1), p.Seq, "queue numbers start again")
}

func TestZoneWithoutDataTTLStays(t *testing.T) {
	s := newStore(t)
	zs := storetest.Zone("forever")
	zs.DataTTL = 0
	put(t, s, zs, t0)
	_, err := s.Stats(t.Context(), zs.Name, t0.Add(24*365*time.Hour))
	assert.NoError(t, err, "a zone with DataTTL 0 never expires")
}

func TestZoneExpiresAfterClose(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	zs := storetest.Zone("expc")
	zs.DataTTL = time.Hour
	zs.ClosesAt = t0.Add(3 * time.Hour)
	put(t, s, zs, t0)
	_, err := s.Stats(ctx, zs.Name, t0.Add(4*time.Hour-time.Nanosecond))
	require.NoError(t, err, "the zone lives DataTTL after ClosesAt, later than its last write")
	_, err = s.Stats(ctx, zs.Name, t0.Add(4*time.Hour))
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound)
}

func TestPutZoneSweepsExpiredZones(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	old := storetest.Zone("old")
	old.DataTTL = time.Hour
	put(t, s, old, t0)
	feed := make(chan error, 1)
	go func() {
		_, err := s.ReadFeed(ctx, old.Name, 1, 10, time.Minute)
		feed <- err
	}()
	put(t, s, storetest.Zone("new"), t0.Add(2*time.Hour))
	assert.ErrorIs(t, <-feed, waitroom.ErrZoneNotFound, "a reader waiting on a zone that expires is woken")
	_, err := s.Zone(ctx, old.Name)
	assert.ErrorIs(t, err, waitroom.ErrZoneNotFound)
}

func TestClose(t *testing.T) {
	s := memstore.New()
	ctx := t.Context()
	st := put(t, s, storetest.Zone("close"), t0)
	feed := make(chan error, 1)
	go func() {
		_, err := s.ReadFeed(ctx, st.Name, 1, 10, time.Minute)
		feed <- err
	}()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is a no-op")
	assert.ErrorIs(t, <-feed, waitroom.ErrStoreUnavailable, "Close ends waiting reads")

	_, err := s.Zone(ctx, st.Name)
	assert.ErrorIs(t, err, waitroom.ErrStoreUnavailable)
	_, err = s.Register(ctx, st.Name, "a", t0)
	assert.ErrorIs(t, err, waitroom.ErrStoreUnavailable)
	_, err = s.Exchange(ctx, st.Name, t0, 1)
	assert.ErrorIs(t, err, waitroom.ErrStoreUnavailable)
	_, err = s.PutZone(ctx, st, t0)
	assert.ErrorIs(t, err, waitroom.ErrStoreUnavailable)
}

func TestBadInput(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	for _, st := range []waitroom.ZoneState{
		{},
		{Name: "neg", Capacity: -1},
		{Name: "rate", Capacity: 1, AdmitPerSecond: -1},
		{Name: "dur", Capacity: 1, Session: -time.Second},
	} {
		_, err := s.PutZone(ctx, st, t0)
		assert.ErrorIs(t, err, waitroom.ErrInvalidZone, "PutZone(%+v)", st)
	}
	st := put(t, s, storetest.Zone("bad"), t0)
	_, err := s.Register(ctx, st.Name, "", t0)
	assert.Error(t, err, "an empty visitor id is refused")
	_, ok, err := s.Enter(ctx, st.Name, "", t0)
	assert.Error(t, err, "an empty visitor id is refused")
	assert.False(t, ok)
	_, err = s.Position(ctx, st.Name, "", t0)
	assert.ErrorIs(t, err, waitroom.ErrNotQueued)
}

// Callers' clocks are not perfectly ordered: a now earlier than one
// already seen must neither create credit nor break the queue.
func TestClockSkew(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	zs := storetest.Zone("skew")
	zs.Capacity = 100
	zs.AdmitPerSecond = 4 // a burst of 1
	put(t, s, zs, t0)
	for i := range 5 {
		_, err := s.Register(ctx, zs.Name, fmt.Sprintf("v-%d", i), t0)
		require.NoError(t, err)
	}
	total := 0
	for _, d := range []time.Duration{time.Second, 0, 500 * time.Millisecond, time.Second} {
		x, err := s.Exchange(ctx, zs.Name, t0.Add(d), 10)
		require.NoError(t, err)
		total += len(x.Admitted)
	}
	assert.Equal(t, 1, total, "going back in time earns no credit")
}

// TestLongLine runs a line over many queue chunks with releases scattered
// through it: Ahead stays mySeq - headSeq, order stays FIFO.
func TestLongLine(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	zs := storetest.Zone("long")
	zs.Capacity = 1_000_000
	zs.AdmitPerSecond = 1_000_000
	zs.AbandonAfter = time.Hour
	put(t, s, zs, t0)
	const n = 5000
	for i := range n {
		p, err := s.Register(ctx, zs.Name, fmt.Sprintf("v-%d", i), t0)
		require.NoError(t, err)
		require.Equal(t, int64(i), p.Ahead)
	}
	released := map[int]bool{}
	for i := 0; i < n; i += 3 {
		ok, err := s.Release(ctx, zs.Name, fmt.Sprintf("v-%d", i), t0)
		require.NoError(t, err)
		require.True(t, ok)
		released[i] = true
	}
	// The head moved past v-0 (released): v-1 is first.
	p, err := s.Position(ctx, zs.Name, "v-1", t0)
	require.NoError(t, err)
	assert.Equal(t, int64(0), p.Ahead)
	p, err = s.Position(ctx, zs.Name, "v-4999", t0)
	require.NoError(t, err)
	assert.Equal(t, int64(4999-1), p.Ahead, "released places not yet passed by the head still count as ahead")

	next := 0
	for step := 1; ; step++ {
		x, err := s.Exchange(ctx, zs.Name, t0.Add(time.Duration(step)*time.Millisecond), 700)
		require.NoError(t, err)
		if len(x.Admitted) == 0 {
			break
		}
		for _, a := range x.Admitted {
			for released[next] {
				next++
			}
			require.Equal(t, fmt.Sprintf("v-%d", next), a.Visitor, "FIFO across chunks")
			require.Equal(t, uint64(next+1), a.Seq)
			next++
		}
		if next < n {
			head, err := s.Stats(ctx, zs.Name, t0)
			require.NoError(t, err)
			p, err := s.Position(ctx, zs.Name, "v-4999", t0)
			require.NoError(t, err)
			assert.Equal(t, int64(5000-head.HeadSeq), p.Ahead, "Ahead is mySeq - HeadSeq")
		}
	}
	assert.Equal(t, n, next, "everybody not released was admitted")
	stats, err := s.Stats(ctx, zs.Name, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Zero(t, stats.Waiting)
	assert.Zero(t, stats.HeadSeq)
	p, err = s.Register(ctx, zs.Name, "late", t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, uint64(n+1), p.Seq, "numbering continues after the line emptied")
	assert.Equal(t, int64(0), p.Ahead)
}

func TestReadFeedDefaultLimit(t *testing.T) {
	s := newStore(t)
	zs := storetest.Zone("lim")
	zs.AdmitPerSecond = 10_000
	st := put(t, s, zs, t0)
	churn(t, s, st.Name, 600, t0)
	evs, err := s.ReadFeed(t.Context(), st.Name, 0, 0, 0)
	require.NoError(t, err)
	assert.Len(t, evs, memstore.DefaultReadLimit, "limit <= 0 reads DefaultReadLimit events")
}

func TestErrorsArePrefixed(t *testing.T) {
	s := newStore(t)
	_, err := s.Zone(t.Context(), "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "waitroom:")
	assert.True(t, errors.Is(err, waitroom.ErrZoneNotFound))
}

// A slot found past its deadline by Claim or Release is removed with
// EventExpired; the visitor held nothing any more.
func TestSlotFoundExpired(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	st := put(t, s, storetest.Zone("late"), t0)
	a, ok, err := s.Enter(ctx, st.Name, "a", t0)
	require.NoError(t, err)
	require.True(t, ok)
	b, ok, err := s.Enter(ctx, st.Name, "b", t0)
	require.NoError(t, err)
	require.True(t, ok)

	_, err = s.Claim(ctx, st.Name, "a", a.Until)
	assert.ErrorIs(t, err, waitroom.ErrNotAdmitted, "an inside slot past its session holds nothing to claim")
	released, err := s.Release(ctx, st.Name, "b", b.Until)
	require.NoError(t, err)
	assert.False(t, released, "a slot past its deadline was no longer held")

	evs, err := s.ReadFeed(ctx, st.Name, 3, 10, 0)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	for i, v := range []string{"a", "b"} {
		assert.Equal(t, waitroom.EventExpired, evs[i].Kind)
		assert.Equal(t, v, evs[i].Visitor)
		assert.True(t, evs[i].FreesSlot())
	}
}

// TestOperatedAcrossInstances: a change made through one Room's admin API
// reaches another Room on the same store.
func TestOperatedAcrossInstances(t *testing.T) {
	s := memstore.New()
	admintest.Run(t, func(t *testing.T) waitroom.Store { return struct{ waitroom.Store }{s} })
}

// staleReads is a broken store for the check below: Position answers from
// what it last read of the visitor, not from the store.
type staleReads struct {
	waitroom.Store
	mu   sync.Mutex
	seen map[string]waitroom.Place
}

func (s *staleReads) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.seen[visitor]; ok {
		return p, nil
	}
	p, err := s.Store.Position(ctx, zone, visitor, now)
	if err == nil {
		s.seen[visitor] = p
	}
	return p, err
}

// TestLinearizabilityCatchesStaleReads: the check is not vacuous. A store
// whose Position may answer from before a release or an admission fails
// it, on a history of one client (no luck of timing needed).
func TestLinearizabilityCatchesStaleReads(t *testing.T) {
	s := &staleReads{Store: memstore.New(), seen: map[string]waitroom.Place{}}
	history := storetest.History(t, s, 1, 200, 7)
	assert.Equal(t, porcupine.Illegal, storetest.CheckLinearizable(t, history), "a stale read is caught")
	good := storetest.History(t, memstore.New(), 1, 200, 7)
	assert.Equal(t, porcupine.Ok, storetest.CheckLinearizable(t, good), "the same calls on the memory store pass")
}
