package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testDirectEntry: Enter gives a slot only when the zone is open, nobody
// waits, a slot is free; a refusal is (false, nil); the same visitor gets
// its slot back.
func testDirectEntry(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "enter", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	now := at(time.Second)
	slot, ok := enter(t, s, z.Name, "a", now)
	require.True(t, ok, "open zone, empty queue, free slot: Enter must succeed")
	assert.NotEmpty(t, slot.TokenID, "a slot has a token id")
	assert.True(t, slot.Until.Equal(now.Add(z.Session)), "a direct entry lasts the session, got Until %v", slot.Until)

	p := position(t, s, z.Name, "a", now)
	assert.Equal(t, waitroom.StateInside, p.State, "a direct entry is inside")
	assert.Equal(t, uint64(0), p.Seq, "a direct entry has no queue number")
	assert.Equal(t, slot, p.Slot, "Position shows the slot")

	p = register(t, s, z.Name, "a", now)
	assert.Equal(t, waitroom.StateInside, p.State, "registering a direct entrant returns its slot, not a place in line")
	assert.Equal(t, int64(0), stats(t, s, z.Name, now).Waiting, "nobody waits after registering a direct entrant")

	again, ok := enter(t, s, z.Name, "a", at(2*time.Second))
	require.True(t, ok, "a visitor holding a slot gets it back")
	assert.Equal(t, slot, again, "entering again returns the same slot unchanged")

	_, ok = enter(t, s, z.Name, "b", at(3*time.Second))
	require.True(t, ok, "second slot free")
	_, ok = enter(t, s, z.Name, "c", at(4*time.Second))
	assert.False(t, ok, "no free slot: Enter must report false")

	release(t, s, z.Name, "b", at(5*time.Second))
	register(t, s, z.Name, "w", at(6*time.Second))
	_, ok = enter(t, s, z.Name, "c", at(7*time.Second))
	assert.False(t, ok, "somebody waits: Enter must not jump the line")
	_, err := s.Position(t.Context(), z.Name, "c", at(7*time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "a refused Enter changes nothing")

	st := stats(t, s, z.Name, at(8*time.Second))
	assert.Equal(t, 1, st.Inside, "one slot held after one entry released")
	assert.Equal(t, uint64(2), st.AdmittedTotal, "direct entries count in AdmittedTotal")
	assert.True(t, st.LastAdmit.Equal(at(3*time.Second)), "LastAdmit is the last entry, got %v", st.LastAdmit)

	evs := feedSince(t, s, z.Name, 1)
	require.Equal(t, []waitroom.EventKind{waitroom.EventEntered, waitroom.EventEntered, waitroom.EventReleased}, kinds(evs),
		"one EventEntered per new entry, none for re-entry or refusal")
	assert.Equal(t, "a", evs[0].Visitor)
	assert.Equal(t, slot.TokenID, evs[0].TokenID, "EventEntered carries the slot")
	assert.True(t, evs[0].SlotUntil.Equal(slot.Until), "EventEntered carries the slot deadline")

	one := newZone(t, s, "enter1", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	first, ok := enter(t, s, one.Name, "a", T0)
	require.True(t, ok)
	_, ok = enter(t, s, one.Name, "b", first.Until.Add(-time.Millisecond))
	assert.False(t, ok, "the only slot is held until its deadline")
	_, ok = enter(t, s, one.Name, "b", first.Until)
	assert.True(t, ok, "at its deadline the slot leaks: Enter takes it")
	assert.Equal(t, 1, stats(t, s, one.Name, first.Until).Inside, "one slot held: the new one")

	closed := newZone(t, s, "enterc", func(z *waitroom.ZoneState) {
		z.OpensAt = at(time.Hour)
		z.ClosesAt = at(2 * time.Hour)
	})
	_, ok = enter(t, s, closed.Name, "a", at(time.Minute))
	assert.False(t, ok, "before OpensAt nobody enters")
	_, ok = enter(t, s, closed.Name, "a", at(2*time.Hour))
	assert.False(t, ok, "from ClosesAt nobody enters")
	_, ok = enter(t, s, closed.Name, "a", at(time.Hour))
	assert.True(t, ok, "at OpensAt the zone is open")
}

// testDirectEntryRate: direct entries are bounded by the admission rate.
func testDirectEntryRate(t *testing.T, s waitroom.Store) {
	// 4 per second: a burst of 1.
	z := newZone(t, s, "enterr", func(z *waitroom.ZoneState) { z.Capacity = 100; z.AdmitPerSecond = 4 })
	_, ok := enter(t, s, z.Name, "a", T0)
	require.True(t, ok, "the first entry is within the burst")
	_, ok = enter(t, s, z.Name, "b", T0)
	assert.False(t, ok, "a second entry at the same instant exceeds a burst of 1")
	_, ok = enter(t, s, z.Name, "b", at(100*time.Millisecond))
	assert.False(t, ok, "100ms at 4/s earns 0.4 admissions: not enough")
	_, ok = enter(t, s, z.Name, "b", at(250*time.Millisecond))
	assert.True(t, ok, "250ms at 4/s earns one admission")
}

// testSlotExpiryLeaks: a slot past its deadline is free again; Exchange
// reports it and appends EventExpired.
func testSlotExpiryLeaks(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "leak", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	registerN(t, s, z.Name, "v", 4, T0)
	x := exchange(t, s, z.Name, at(time.Second), 10)
	require.Equal(t, []string{"v-1", "v-2"}, admitted(x))
	inside := claim(t, s, z.Name, "v-1", at(2*time.Second))
	for _, v := range []string{"v-3", "v-4"} {
		require.NoError(t, s.Heartbeat(t.Context(), z.Name, v, at(50*time.Second)))
	}

	// v-2's claim window ends at 1s + 1m: before, nothing leaks.
	x = exchange(t, s, z.Name, at(time.Second).Add(z.ClaimWindow-time.Millisecond), 10)
	assert.Empty(t, x.Admitted, "both slots still held before the claim deadline")
	assert.Zero(t, x.Expired, "nothing expired yet")
	seq := stats(t, s, z.Name, at(61*time.Second)).FeedSeq

	x = exchange(t, s, z.Name, at(time.Second).Add(z.ClaimWindow), 10)
	assert.Equal(t, 1, x.Expired, "the unclaimed slot leaks at its deadline")
	assert.Equal(t, []string{"v-3"}, admitted(x), "the leaked slot goes to the next in line")
	evs := feedSince(t, s, z.Name, seq)
	require.Equal(t, []waitroom.EventKind{waitroom.EventExpired, waitroom.EventAdmitted}, kinds(evs), "leak first, then admit")
	assert.Equal(t, "v-2", evs[0].Visitor, "EventExpired names the slot's visitor")
	assert.True(t, evs[0].FreesSlot(), "EventExpired carries the slot's token id: it frees a slot")

	// v-3's claim window ends at 1m1s + 1m, v-1's session at 2s + 10m.
	st := stats(t, s, z.Name, at(121*time.Second).Add(-time.Millisecond))
	assert.Equal(t, 2, st.Inside, "both slots held before the claim deadline")
	st = stats(t, s, z.Name, inside.Until.Add(-time.Millisecond))
	assert.Equal(t, 1, st.Inside, "a slot past its deadline counts as free before anything finds it")
	st = stats(t, s, z.Name, inside.Until)
	assert.Equal(t, 0, st.Inside, "the inside slot is free at its deadline")
}

// testReleaseFreesSlot: after Release the slot is free at once.
func testReleaseFreesSlot(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "relf", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	registerN(t, s, z.Name, "v", 2, T0)
	x := exchange(t, s, z.Name, at(time.Second), 10)
	require.Equal(t, []string{"v-1"}, admitted(x))
	claim(t, s, z.Name, "v-1", at(2*time.Second))
	x = exchange(t, s, z.Name, at(3*time.Second), 10)
	require.Empty(t, x.Admitted, "the only slot is held")
	require.True(t, release(t, s, z.Name, "v-1", at(4*time.Second)), "releasing a held slot reports true")
	assert.Equal(t, 0, stats(t, s, z.Name, at(4*time.Second)).Inside, "the released slot is free")
	x = exchange(t, s, z.Name, at(5*time.Second), 10)
	assert.Equal(t, []string{"v-2"}, admitted(x), "the released slot goes to the next in line")
	_, err := s.Position(t.Context(), z.Name, "v-1", at(5*time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "a released visitor holds no place")
}

// testReleaseTwice: releasing twice is (false, nil) and appends one event.
func testReleaseTwice(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "rel2", nil)
	slot, ok := enter(t, s, z.Name, "a", T0)
	require.True(t, ok)
	assert.True(t, release(t, s, z.Name, "a", at(time.Second)), "the first release frees the slot")
	assert.False(t, release(t, s, z.Name, "a", at(2*time.Second)), "the second release is a no-op")
	assert.False(t, release(t, s, z.Name, "never", at(3*time.Second)), "releasing an unknown visitor is a no-op")
	evs := feedSince(t, s, z.Name, 1)
	require.Equal(t, []waitroom.EventKind{waitroom.EventEntered, waitroom.EventReleased}, kinds(evs), "one EventReleased")
	assert.Equal(t, slot.TokenID, evs[1].TokenID, "EventReleased carries the freed slot")
	assert.True(t, evs[1].FreesSlot(), "releasing a slot frees it")
}

// testAbandonedSkipped: a waiting visitor unseen for longer than
// AbandonAfter is skipped with EventAbandoned and takes no slot; a
// heartbeat keeps a visitor in line.
func testAbandonedSkipped(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "aband", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	register(t, s, z.Name, "edge", T0)
	x := exchange(t, s, z.Name, at(0).Add(z.AbandonAfter), 1)
	require.Equal(t, []string{"edge"}, admitted(x), "unseen for exactly AbandonAfter is not longer than AbandonAfter: still admitted")
	require.True(t, release(t, s, z.Name, "edge", at(0).Add(z.AbandonAfter)))

	register(t, s, z.Name, "gone", T0)
	register(t, s, z.Name, "kept", T0)
	register(t, s, z.Name, "next", at(30*time.Second))
	require.NoError(t, s.Heartbeat(t.Context(), z.Name, "kept", at(45*time.Second)))

	x = exchange(t, s, z.Name, at(90*time.Second), 0)
	assert.Empty(t, x.Admitted, "limit 0 admits nobody")
	p := position(t, s, z.Name, "gone", at(90*time.Second))
	assert.Equal(t, int64(0), p.Ahead, "an abandoned visitor holds its place until Exchange skips it")
	seq := stats(t, s, z.Name, at(90*time.Second)).FeedSeq

	x = exchange(t, s, z.Name, at(90*time.Second), 10)
	assert.Equal(t, 1, x.Abandoned, "the visitor unseen for 90s is skipped")
	assert.Equal(t, []string{"kept"}, admitted(x), "the visitor kept alive by its heartbeat is admitted")
	evs := feedSince(t, s, z.Name, seq)
	require.Equal(t, []waitroom.EventKind{waitroom.EventAbandoned, waitroom.EventAdmitted}, kinds(evs))
	assert.Equal(t, "gone", evs[0].Visitor)
	assert.Equal(t, uint64(2), evs[0].QueueSeq, "EventAbandoned carries the skipped place's Seq")
	assert.False(t, evs[0].FreesSlot(), "an abandoned visitor held no slot")
	_, err := s.Position(t.Context(), z.Name, "gone", at(91*time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "a skipped visitor loses its place")
	err = s.Heartbeat(t.Context(), z.Name, "gone", at(91*time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "a skipped visitor cannot heartbeat back into line")
	p = register(t, s, z.Name, "gone", at(92*time.Second))
	assert.Equal(t, uint64(5), p.Seq, "a skipped visitor registers at the back")

	st := stats(t, s, z.Name, at(92*time.Second))
	assert.Equal(t, 1, st.Inside, "the skipped visitor took no slot")
	assert.Equal(t, int64(2), st.Waiting, "next and the re-registered visitor wait")
}

// testClaimWindow: Claim within the window gives a session slot and is
// idempotent; after the window it is ErrClaimExpired and the slot is free;
// waiting or unknown visitors get ErrNotAdmitted.
func testClaimWindow(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "claim", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	registerN(t, s, z.Name, "v", 3, T0)
	x := exchange(t, s, z.Name, at(time.Second), 2)
	require.Equal(t, []string{"v-1", "v-2"}, admitted(x))
	require.NoError(t, s.Heartbeat(t.Context(), z.Name, "v-3", at(30*time.Second)))
	deadline := x.Admitted[0].Slot.Until

	_, err := s.Claim(t.Context(), z.Name, "v-3", at(2*time.Second))
	requireIs(t, err, waitroom.ErrNotAdmitted, "Claim of a waiting visitor")
	_, err = s.Claim(t.Context(), z.Name, "nobody", at(2*time.Second))
	requireIs(t, err, waitroom.ErrNotAdmitted, "Claim of an unknown visitor")

	now := deadline.Add(-time.Millisecond)
	slot := claim(t, s, z.Name, "v-1", now)
	assert.Equal(t, x.Admitted[0].Slot.TokenID, slot.TokenID, "claiming keeps the token id")
	assert.True(t, slot.Until.Equal(now.Add(z.Session)), "a claimed slot lasts the session from the claim, got %v", slot.Until)
	again := claim(t, s, z.Name, "v-1", now.Add(time.Minute))
	assert.Equal(t, slot, again, "claiming twice returns the slot unchanged")

	seq := stats(t, s, z.Name, deadline).FeedSeq
	_, err = s.Claim(t.Context(), z.Name, "v-2", deadline)
	requireIs(t, err, waitroom.ErrClaimExpired, "Claim at the claim deadline")
	st := stats(t, s, z.Name, deadline)
	assert.Equal(t, 1, st.Inside, "the expired claim's slot is free")
	x = exchange(t, s, z.Name, deadline, 10)
	assert.Equal(t, []string{"v-3"}, admitted(x), "the freed slot goes to the next in line")
	for _, ev := range feedSince(t, s, z.Name, seq) {
		assert.NotEqual(t, waitroom.EventClaimed, ev.Kind, "a failed claim appends no EventClaimed")
	}
	var claimed int
	for _, ev := range feedAll(t, s, z.Name) {
		if ev.Kind == waitroom.EventClaimed {
			claimed++
			assert.Equal(t, "v-1", ev.Visitor)
			assert.Equal(t, slot.TokenID, ev.TokenID, "EventClaimed carries the slot")
			assert.True(t, ev.SlotUntil.Equal(slot.Until), "EventClaimed carries the new deadline")
		}
	}
	assert.Equal(t, 1, claimed, "one EventClaimed for one claim, none for the idempotent repeat")
}
