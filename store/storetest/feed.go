package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testFeedOrderedAndComplete: a scripted sequence of operations appears in
// the feed as exactly the events it implies, Seq 1..n without gaps, each
// stamped with its operation's instant.
func testFeedOrderedAndComplete(t *testing.T, s waitroom.Store) {
	st := Zone(ZoneName("feed"))
	st.Capacity = 2
	putZone(t, s, st, T0)
	name := st.Name

	type want struct {
		kind    waitroom.EventKind
		visitor string
		seq     uint64 // queue Seq, where the event has one
		token   bool   // carries a token id
		at      time.Time
	}
	var wants []want

	dslot, ok := enter(t, s, name, "d", at(time.Second))
	require.True(t, ok)
	registerN(t, s, name, "v", 3, at(2*time.Second))
	x := exchange(t, s, name, at(3*time.Second), 10)
	require.Equal(t, []string{"v-1"}, admitted(x), "d holds one of two slots: one admission")
	aslot := claim(t, s, name, "v-1", at(4*time.Second))
	release(t, s, name, "d", at(5*time.Second))
	release(t, s, name, "v-3", at(6*time.Second))
	x = exchange(t, s, name, at(7*time.Second), 10)
	require.Equal(t, []string{"v-2"}, admitted(x))
	bslot := x.Admitted[0].Slot
	x = exchange(t, s, name, bslot.Until, 10)
	require.Equal(t, 1, x.Expired, "v-2's claim window passed")
	st.Capacity = 3
	putZone(t, s, st, bslot.Until.Add(time.Second))

	wants = append(wants,
		want{waitroom.EventZone, "", 0, false, T0},
		want{waitroom.EventEntered, "d", 0, true, at(time.Second)},
		want{waitroom.EventAdmitted, "v-1", 1, true, at(3 * time.Second)},
		want{waitroom.EventClaimed, "v-1", 1, true, at(4 * time.Second)},
		want{waitroom.EventReleased, "d", 0, true, at(5 * time.Second)},
		want{waitroom.EventReleased, "v-3", 3, false, at(6 * time.Second)},
		want{waitroom.EventAdmitted, "v-2", 2, true, at(7 * time.Second)},
		want{waitroom.EventExpired, "v-2", 2, true, bslot.Until},
		want{waitroom.EventZone, "", 0, false, bslot.Until.Add(time.Second)},
	)
	evs := feedAll(t, s, name)
	wantKinds := make([]waitroom.EventKind, len(wants))
	for i, w := range wants {
		wantKinds[i] = w.kind
	}
	require.Equal(t, wantKinds, kinds(evs), "the feed must hold exactly the events of the operations, in order")
	for i, ev := range evs {
		w := wants[i]
		what := fmt.Sprintf("event %d (%v %s)", i+1, w.kind, w.visitor)
		assert.Equal(t, uint64(i+1), ev.Seq, "%s: Seq must run 1..n without gaps", what)
		assert.Equal(t, name, ev.Zone, "%s: Zone", what)
		assert.Equal(t, w.visitor, ev.Visitor, "%s: Visitor", what)
		if w.seq != 0 {
			assert.Equal(t, w.seq, ev.QueueSeq, "%s: QueueSeq", what)
		}
		assert.Equal(t, w.token, ev.TokenID != "", "%s: has a token id: %q", what, ev.TokenID)
		assert.True(t, ev.At.Equal(w.at), "%s: At must be the operation's now %v, got %v", what, w.at, ev.At)
	}
	assert.Equal(t, dslot.TokenID, evs[1].TokenID, "EventEntered carries the entered slot")
	assert.Equal(t, dslot.TokenID, evs[4].TokenID, "EventReleased carries the released slot")
	assert.Equal(t, aslot.TokenID, evs[3].TokenID, "EventClaimed carries the claimed slot")
	assert.True(t, evs[3].SlotUntil.Equal(aslot.Until), "EventClaimed carries the session deadline")
	assert.True(t, evs[6].SlotUntil.Equal(bslot.Until), "EventAdmitted carries the claim deadline")
	assert.Equal(t, bslot.TokenID, evs[7].TokenID, "EventExpired carries the leaked slot")
	assert.Equal(t, uint64(2), evs[8].Version, "EventZone carries the new version")
	assert.Equal(t, uint64(len(evs)), stats(t, s, name, bslot.Until.Add(2*time.Second)).FeedSeq, "Stats.FeedSeq is the latest event")
}

// testFeedPaging: ReadFeed(after, limit) returns the next limit events.
func testFeedPaging(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "page", nil)
	for i := range 5 {
		v := fmt.Sprintf("v-%d", i)
		_, ok := enter(t, s, z.Name, v, at(time.Duration(i)*time.Second))
		require.True(t, ok)
		release(t, s, z.Name, v, at(time.Duration(i)*time.Second+time.Millisecond))
	}
	const n = 11 // zone + 5 x (entered, released)
	var got []uint64
	for after := uint64(0); ; {
		evs, err := s.ReadFeed(t.Context(), z.Name, after, 3, 0)
		require.NoError(t, err, "ReadFeed(after %d, limit 3)", after)
		require.LessOrEqual(t, len(evs), 3, "ReadFeed returns at most limit events")
		if len(evs) == 0 {
			break
		}
		for _, ev := range evs {
			got = append(got, ev.Seq)
		}
		after = evs[len(evs)-1].Seq
	}
	want := make([]uint64, n)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	assert.Equal(t, want, got, "paging by 3 reads every event once, in order")

	evs, err := s.ReadFeed(t.Context(), z.Name, 7, 100, 0)
	require.NoError(t, err)
	require.Len(t, evs, n-7, "after 7: events 8..11")
	assert.Equal(t, uint64(8), evs[0].Seq, "ReadFeed starts right after after")

	evs, err = s.ReadFeed(t.Context(), z.Name, n, 100, 0)
	require.NoError(t, err, "reading at the end of the feed is no error")
	assert.Empty(t, evs, "nothing after the latest event")
}

// watched is a context that reports when someone first asks for its Done
// channel: a store waiting on ctx does so when it starts to wait.
type watched struct {
	context.Context
	once  sync.Once
	asked chan struct{}
}

func watch(ctx context.Context) *watched {
	return &watched{Context: ctx, asked: make(chan struct{})}
}

func (w *watched) Done() <-chan struct{} {
	w.once.Do(func() { close(w.asked) })
	return w.Context.Done()
}

// waiting returns once the reader has asked for ctx.Done (it is about to
// wait, or waiting), or after a grace period for stores that wait without
// asking; either way the read is already running.
func (w *watched) waiting() {
	select {
	case <-w.asked:
	case <-time.After(200 * time.Millisecond):
	}
}

// testFeedBlockingRead: a read waiting at the end of the feed returns the
// event appended meanwhile by another goroutine.
func testFeedBlockingRead(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "block", nil)
	type result struct {
		evs []waitroom.Event
		err error
	}
	done := make(chan result, 1)
	ctx := watch(t.Context())
	go func() {
		evs, err := s.ReadFeed(ctx, z.Name, 1, 10, 30*time.Second)
		done <- result{evs, err}
	}()
	ctx.waiting()
	slot, ok := enter(t, s, z.Name, "a", T0)
	require.True(t, ok)
	r := <-done
	require.NoError(t, r.err, "blocking ReadFeed")
	require.NotEmpty(t, r.evs, "a waiting read must return the event appended meanwhile, not time out empty")
	assert.Equal(t, uint64(2), r.evs[0].Seq)
	assert.Equal(t, waitroom.EventEntered, r.evs[0].Kind)
	assert.Equal(t, slot.TokenID, r.evs[0].TokenID)
}

// testFeedReadCancel: cancelling ctx ends a waiting read with ctx's error.
func testFeedReadCancel(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "cancel", nil)
	parent, cancel := context.WithCancel(t.Context())
	ctx := watch(parent)
	done := make(chan error, 1)
	go func() {
		_, err := s.ReadFeed(ctx, z.Name, 1, 10, 30*time.Second)
		done <- err
	}()
	ctx.waiting()
	cancel()
	err := <-done
	requireIs(t, err, context.Canceled, "ReadFeed waiting 30s when its ctx is cancelled: it must return at once with ctx's error")
}

// testFeedReadTimeout: a read at the end of the feed returns an empty slice
// when its wait passes (or at once for wait 0).
func testFeedReadTimeout(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "tmo", nil)
	evs, err := s.ReadFeed(t.Context(), z.Name, 1, 10, 0)
	require.NoError(t, err, "ReadFeed with wait 0 at the end of the feed")
	assert.Empty(t, evs)
	evs, err = s.ReadFeed(t.Context(), z.Name, 1, 10, 20*time.Millisecond)
	require.NoError(t, err, "ReadFeed whose wait passes with no event is no error")
	assert.Empty(t, evs)
}
