package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// testPutZoneVersions: version 1 for a new zone, +1 on a change, unchanged
// (and no event) when the settings are equal; each change appends
// EventZone with the new version.
func testPutZoneVersions(t *testing.T, s waitroom.Store) {
	st := Zone(ZoneName("ver"))
	st.Version = 42 // the store assigns versions: this is ignored
	got := putZone(t, s, st, T0)
	require.Equal(t, uint64(1), got.Version, "a new zone is version 1")
	assert.True(t, got.Equal(st), "PutZone returns the stored settings: got %+v, put %+v", got, st)

	again := putZone(t, s, st, at(time.Second))
	assert.Equal(t, uint64(1), again.Version, "putting equal settings must not change the version")

	st.Capacity = 7
	changed := putZone(t, s, st, at(2*time.Second))
	assert.Equal(t, uint64(2), changed.Version, "a change is the previous version + 1")
	assert.Equal(t, 7, changed.Capacity, "PutZone returns the new settings")

	stored, err := s.Zone(t.Context(), st.Name)
	require.NoError(t, err, "Zone of a put zone")
	assert.Equal(t, uint64(2), stored.Version, "Zone returns the latest version")
	assert.True(t, stored.Equal(st), "Zone returns the latest settings: got %+v, want %+v", stored, st)

	evs := feedAll(t, s, st.Name)
	require.Equal(t, []waitroom.EventKind{waitroom.EventZone, waitroom.EventZone}, kinds(evs),
		"one EventZone per change, none for equal settings")
	assert.Equal(t, uint64(1), evs[0].Version, "first EventZone carries version 1")
	assert.Equal(t, uint64(2), evs[1].Version, "second EventZone carries version 2")
	assert.Empty(t, evs[0].Visitor, "EventZone has no visitor")
	assert.Equal(t, st.Name, evs[1].Zone, "events carry their zone")
}

// testPutZoneRoundsDurations: settings survive a round trip at millisecond
// precision, and instants compare equal.
func testPutZoneRoundsDurations(t *testing.T, s waitroom.Store) {
	st := Zone(ZoneName("rnd"))
	st.Session = 90*time.Second + 250*time.Millisecond
	st.AdmitPerSecond = 12.5
	st.OpensAt = at(time.Hour)
	st.ClosesAt = at(3 * time.Hour)
	putZone(t, s, st, T0)
	got, err := s.Zone(t.Context(), st.Name)
	require.NoError(t, err)
	assert.True(t, got.Equal(st), "stored settings must equal the ones put: got %+v, want %+v", got, st)
	assert.True(t, got.OpensAt.Equal(st.OpensAt), "OpensAt kept: got %v", got.OpensAt)
}

// testInvalidZone: PutZone refuses settings no store can keep, with
// ErrInvalidZone, and stores nothing.
func testInvalidZone(t *testing.T, s waitroom.Store) {
	for _, edit := range []struct {
		what string
		edit func(*waitroom.ZoneState)
	}{
		{"an empty name", func(z *waitroom.ZoneState) { z.Name = "" }},
		{"a name with a space", func(z *waitroom.ZoneState) { z.Name += " x" }},
		{"a negative capacity", func(z *waitroom.ZoneState) { z.Capacity = -1 }},
		{"a negative rate", func(z *waitroom.ZoneState) { z.AdmitPerSecond = -1 }},
		{"a negative session", func(z *waitroom.ZoneState) { z.Session = -time.Second }},
		{"an unknown mode", func(z *waitroom.ZoneState) { z.Mode = waitroom.ModeRandomAtOpen + 1 }},
		{"a negative max waiting", func(z *waitroom.ZoneState) { z.MaxWaiting = -1 }},
	} {
		st := Zone(ZoneName("inv"))
		name := st.Name
		edit.edit(&st)
		_, err := s.PutZone(t.Context(), st, T0)
		requireIs(t, err, waitroom.ErrInvalidZone, "PutZone with "+edit.what)
		_, err = s.Zone(t.Context(), name)
		requireIs(t, err, waitroom.ErrZoneNotFound, "refused settings must not be stored ("+edit.what+")")
	}
}

// testUnknownZone: Zone, Stats and Register report ErrZoneNotFound for a
// zone never put.
func testUnknownZone(t *testing.T, s waitroom.Store) {
	name := ZoneName("nozone")
	_, err := s.Zone(t.Context(), name)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Zone of an unknown zone")
	_, err = s.Stats(t.Context(), name, T0)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Stats of an unknown zone")
	_, err = s.Register(t.Context(), name, "v", T0)
	requireIs(t, err, waitroom.ErrZoneNotFound, "Register in an unknown zone")
}

// testRegisterIdempotent: the same visitor never holds two places; its Seq
// and arrival stay, its heartbeat moves; Seqs are 1, 2, 3 in order.
func testRegisterIdempotent(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "idem", nil)
	a := register(t, s, z.Name, "a", T0)
	b := register(t, s, z.Name, "b", at(time.Second))
	c := register(t, s, z.Name, "c", at(2*time.Second))
	assert.Equal(t, []uint64{1, 2, 3}, []uint64{a.Seq, b.Seq, c.Seq}, "the store numbers places 1, 2, 3 in registration order")
	assert.Equal(t, waitroom.StateWaiting, a.State, "a registered visitor waits")
	assert.Equal(t, "a", a.Visitor, "Place.Visitor is the visitor")
	assert.True(t, a.Arrived.Equal(T0), "Arrived is the registration instant, got %v", a.Arrived)
	assert.True(t, a.LastSeen.Equal(T0), "Register records a heartbeat, got LastSeen %v", a.LastSeen)

	for i := range 3 {
		again := register(t, s, z.Name, "a", at(time.Duration(10+i)*time.Second))
		assert.Equal(t, a.Seq, again.Seq, "registering again must return the same place, not a new one")
		assert.Equal(t, int64(0), again.Ahead, "the first visitor stays first")
		assert.True(t, again.Arrived.Equal(T0), "registering again keeps the arrival, got %v", again.Arrived)
		assert.True(t, again.LastSeen.Equal(at(time.Duration(10+i)*time.Second)), "registering again records a heartbeat, got %v", again.LastSeen)
	}
	d := register(t, s, z.Name, "d", at(20*time.Second))
	assert.Equal(t, uint64(4), d.Seq, "repeat registrations must not consume Seq numbers")
	assert.Equal(t, int64(4), stats(t, s, z.Name, at(20*time.Second)).Waiting, "four visitors, four places")
	assert.Empty(t, feedSince(t, s, z.Name, 1), "registration appends no event")
}

// testAhead: Ahead is 0 for the head and n-1 for the nth, in Register and
// Position, and shrinks as the line moves.
func testAhead(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "ahead", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	ids := registerN(t, s, z.Name, "v", 6, T0)
	for i, id := range ids {
		p := position(t, s, z.Name, id, at(time.Second))
		assert.Equal(t, int64(i), p.Ahead, "visitor %d in line must have %d ahead", i+1, i)
		assert.Equal(t, uint64(i+1), p.Seq, "visitor %d in line has Seq %d", i+1, i+1)
		assert.Equal(t, waitroom.StateWaiting, p.State)
	}
	x := exchange(t, s, z.Name, at(2*time.Second), 10)
	require.Equal(t, ids[:2], admitted(x), "two slots: the first two are admitted")
	for i, id := range ids[2:] {
		p := position(t, s, z.Name, id, at(3*time.Second))
		assert.Equal(t, int64(i), p.Ahead, "after two admissions visitor %d has %d ahead", i+3, i)
	}
	p := register(t, s, z.Name, "late", at(4*time.Second))
	assert.Equal(t, int64(4), p.Ahead, "a newcomer behind four waiting visitors has 4 ahead")
	p = position(t, s, z.Name, ids[0], at(4*time.Second))
	assert.Equal(t, int64(0), p.Ahead, "Ahead is 0 unless waiting")
}

// testPositionStates: Position follows a visitor from waiting to admitted
// to inside, and reports ErrNotQueued for unknown visitors.
func testPositionStates(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "pos", nil)
	_, err := s.Position(t.Context(), z.Name, "nobody", T0)
	requireIs(t, err, waitroom.ErrNotQueued, "Position of a visitor never registered")

	register(t, s, z.Name, "a", T0)
	x := exchange(t, s, z.Name, at(time.Second), 1)
	require.Len(t, x.Admitted, 1, "one free slot, one visitor waiting: one admission")
	adm := x.Admitted[0]
	assert.Equal(t, "a", adm.Visitor)
	assert.Equal(t, uint64(1), adm.Seq, "the admission carries the queue Seq")
	assert.True(t, adm.Slot.Until.Equal(at(time.Second).Add(z.ClaimWindow)), "an admitted slot lasts the claim window, got Until %v", adm.Slot.Until)
	assert.NotEmpty(t, adm.Slot.TokenID, "a slot has a token id")

	p := position(t, s, z.Name, "a", at(2*time.Second))
	assert.Equal(t, waitroom.StateAdmitted, p.State, "after Exchange the visitor is admitted")
	assert.Equal(t, adm.Slot.TokenID, p.Slot.TokenID, "Position shows the reserved slot")
	assert.True(t, p.Slot.Until.Equal(adm.Slot.Until), "Position shows the claim deadline")
	assert.Equal(t, uint64(1), p.Seq, "an admitted visitor keeps its Seq")
	assert.True(t, p.Arrived.Equal(T0), "an admitted visitor keeps its arrival, got %v", p.Arrived)

	p = register(t, s, z.Name, "a", at(2*time.Second))
	assert.Equal(t, waitroom.StateAdmitted, p.State, "registering an admitted visitor returns its place, not a new one")
	assert.Equal(t, uint64(1), p.Seq, "registering an admitted visitor keeps its Seq")

	slot := claim(t, s, z.Name, "a", at(3*time.Second))
	p = position(t, s, z.Name, "a", at(4*time.Second))
	assert.Equal(t, waitroom.StateInside, p.State, "after Claim the visitor is inside")
	p = register(t, s, z.Name, "a", at(4*time.Second))
	assert.Equal(t, waitroom.StateInside, p.State, "registering an inside visitor returns its place, not a new one")
	assert.Equal(t, slot, p.Slot, "registering an inside visitor keeps its slot")
	assert.Equal(t, slot, p.Slot, "Position shows the inside slot")
	assert.Equal(t, adm.Slot.TokenID, slot.TokenID, "claiming keeps the slot's token id")

	_, err = s.Position(t.Context(), z.Name, "a", slot.Until)
	requireIs(t, err, waitroom.ErrNotQueued, "Position at the slot's deadline: a slot past its deadline is no place")
}

// testHeartbeat: Heartbeat moves LastSeen of a waiting visitor, is a no-op
// for admitted and inside ones, and reports ErrNotQueued for others.
func testHeartbeat(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "hb", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	register(t, s, z.Name, "a", T0)
	register(t, s, z.Name, "b", T0)
	require.NoError(t, s.Heartbeat(t.Context(), z.Name, "b", at(30*time.Second)), "Heartbeat of a waiting visitor")
	p := position(t, s, z.Name, "b", at(31*time.Second))
	assert.True(t, p.LastSeen.Equal(at(30*time.Second)), "Heartbeat records now as LastSeen, got %v", p.LastSeen)
	assert.Equal(t, int64(1), p.Ahead, "Heartbeat does not move the visitor in line")

	x := exchange(t, s, z.Name, at(32*time.Second), 5)
	require.Equal(t, []string{"a"}, admitted(x))
	assert.NoError(t, s.Heartbeat(t.Context(), z.Name, "a", at(33*time.Second)), "Heartbeat of an admitted visitor is a no-op")
	claim(t, s, z.Name, "a", at(34*time.Second))
	assert.NoError(t, s.Heartbeat(t.Context(), z.Name, "a", at(35*time.Second)), "Heartbeat of an inside visitor is a no-op")
	err := s.Heartbeat(t.Context(), z.Name, "nobody", at(36*time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "Heartbeat of a visitor never registered")
}

// testFIFOAdmissions: admissions follow queue order exactly, over many
// exchange steps as slots free up.
func testFIFOAdmissions(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "fifo", func(z *waitroom.ZoneState) { z.Capacity = 3 })
	ids := make([]string, 25)
	for i := range ids {
		// Ids in an order unrelated to their sort order.
		ids[i] = fmt.Sprintf("v%02d", (i*7)%25)
		register(t, s, z.Name, ids[i], at(time.Duration(i)*time.Millisecond))
	}
	var order []string
	var lastSeq uint64
	now := at(time.Second)
	for step := 0; len(order) < len(ids) && step < 100; step++ {
		now = now.Add(time.Second)
		x := exchange(t, s, z.Name, now, 2)
		require.LessOrEqual(t, len(x.Admitted), 2, "Exchange admits at most limit")
		for _, a := range x.Admitted {
			require.Greater(t, a.Seq, lastSeq, "admissions must come in queue order (Seq %d after %d)", a.Seq, lastSeq)
			lastSeq = a.Seq
			order = append(order, a.Visitor)
		}
		// Free the slots: claim one admission, release the rest.
		for i, a := range x.Admitted {
			if i == 0 {
				claim(t, s, z.Name, a.Visitor, now)
			}
			require.True(t, release(t, s, z.Name, a.Visitor, now), "Release of a slot holder reports true")
		}
	}
	assert.Equal(t, ids, order, "admission order must equal registration order")
}

// testExchangeLimit: Exchange admits at most limit and at most the free
// slots.
func testExchangeLimit(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "limit", func(z *waitroom.ZoneState) { z.Capacity = 5 })
	ids := registerN(t, s, z.Name, "v", 10, T0)
	x := exchange(t, s, z.Name, at(time.Second), 2)
	assert.Equal(t, ids[:2], admitted(x), "limit 2 admits the first two")
	x = exchange(t, s, z.Name, at(2*time.Second), 10)
	assert.Equal(t, ids[2:5], admitted(x), "5 slots, 2 taken: three more")
	x = exchange(t, s, z.Name, at(3*time.Second), 10)
	assert.Empty(t, x.Admitted, "a full bucket admits nobody")
	st := stats(t, s, z.Name, at(3*time.Second))
	assert.Equal(t, 5, st.Inside, "five slots held")
	assert.Equal(t, int64(5), st.Waiting, "five still waiting")
}

// testReleaseWaiting: a released waiting place is skipped later and takes
// no slot; the visitor is no longer queued.
func testReleaseWaiting(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "relw", func(z *waitroom.ZoneState) { z.Capacity = 2 })
	registerN(t, s, z.Name, "v", 3, T0)
	seq := stats(t, s, z.Name, T0).FeedSeq
	require.True(t, release(t, s, z.Name, "v-2", at(time.Second)), "releasing a waiting place reports true")
	_, err := s.Position(t.Context(), z.Name, "v-2", at(time.Second))
	requireIs(t, err, waitroom.ErrNotQueued, "Position after releasing the waiting place")
	st := stats(t, s, z.Name, at(time.Second))
	assert.Equal(t, int64(2), st.Waiting, "the released place no longer waits")
	assert.Equal(t, 0, st.Inside, "a waiting place never held a slot")

	x := exchange(t, s, z.Name, at(2*time.Second), 10)
	assert.Equal(t, []string{"v-1", "v-3"}, admitted(x), "the released place is skipped: both slots go to the others")
	assert.Zero(t, x.Abandoned, "a released place is not counted as abandoned")
	evs := feedSince(t, s, z.Name, seq)
	require.Equal(t, []waitroom.EventKind{waitroom.EventReleased, waitroom.EventAdmitted, waitroom.EventAdmitted}, kinds(evs))
	assert.Equal(t, "v-2", evs[0].Visitor)
	assert.Empty(t, evs[0].TokenID, "releasing a waiting place frees no slot")
	assert.False(t, evs[0].FreesSlot(), "releasing a waiting place frees no slot")
	assert.False(t, release(t, s, z.Name, "v-2", at(3*time.Second)), "releasing again is (false, nil)")
}

// testReregisterAfterEnd: a visitor whose place ended gets a new place at
// the back.
func testReregisterAfterEnd(t *testing.T, s waitroom.Store) {
	z := newZone(t, s, "rereg", func(z *waitroom.ZoneState) { z.Capacity = 1 })
	registerN(t, s, z.Name, "v", 3, T0)
	release(t, s, z.Name, "v-1", at(time.Second))
	p := register(t, s, z.Name, "v-1", at(2*time.Second))
	assert.Equal(t, uint64(4), p.Seq, "after releasing, registering again takes a new place at the back")
	assert.Equal(t, int64(2), p.Ahead, "two visitors are ahead of the new place")
	assert.True(t, p.Arrived.Equal(at(2*time.Second)), "the new place arrives now")

	x := exchange(t, s, z.Name, at(3*time.Second), 1)
	require.Equal(t, []string{"v-2"}, admitted(x))
	// v-2's claim window passes: its place has ended.
	late := at(3 * time.Second).Add(z.ClaimWindow)
	p = register(t, s, z.Name, "v-2", late)
	assert.Equal(t, waitroom.StateWaiting, p.State, "an admitted visitor past its claim window registers anew")
	assert.Equal(t, uint64(5), p.Seq, "at the back of the line")
}
