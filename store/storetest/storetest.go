// Package storetest is the conformance suite of waitroom.Store: what it
// checks is what "a store" means. Every store (memory, Redis, DynamoDB, and
// any new one) calls Run from its own tests in a few lines.
//
// The suite drives time only through the now arguments, with fixed instants
// from T0 (1 March 2026, 10:00 UTC); it never sleeps. Those instants are not
// the wall clock: a store with an authoritative clock of its own (Redis TIME)
// must be built with its option to honour the caller's now, and a store that
// sets real expiry timers must derive them as durations from the caller's
// now. Each subtest asks newStore for a store and uses zone names of its own,
// so stores may be shared servers.
package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/waitroomtest"
)

// T0 is the instant every subtest starts at: waitroomtest.Start, the
// instant a new waitroomtest.Clock reads.
var T0 = waitroomtest.Start

// Zone returns test settings for a zone called name: 3 slots, 100
// admissions per second (a burst of 25), 10 minute sessions, a 1 minute
// claim window, abandonment after 1 minute, open from the start, data kept
// 24 hours. Subtests change what they test.
func Zone(name string) waitroom.ZoneState {
	return waitroom.ZoneState{
		Name:           name,
		Capacity:       3,
		AdmitPerSecond: 100,
		Session:        10 * time.Minute,
		ClaimWindow:    time.Minute,
		AbandonAfter:   time.Minute,
		DataTTL:        24 * time.Hour,
	}
}

// ZoneName returns a zone name unique to this run, "st-<short>-<random>",
// for stores that share a server between tests.
func ZoneName(short string) string {
	return fmt.Sprintf("st-%s-%08x", short, rand.Uint32())
}

// Run runs the conformance suite against the stores newStore returns. Each
// subtest calls newStore once; newStore registers its own cleanup (Close)
// with t.Cleanup if it needs one.
func Run(t *testing.T, newStore func(t *testing.T) waitroom.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s waitroom.Store)
	}{
		{"PutZoneVersions", testPutZoneVersions},
		{"PutZoneRoundsDurations", testPutZoneRoundsDurations},
		{"InvalidZone", testInvalidZone},
		{"UnknownZone", testUnknownZone},
		{"RegisterIdempotent", testRegisterIdempotent},
		{"Ahead", testAhead},
		{"PositionStates", testPositionStates},
		{"Heartbeat", testHeartbeat},
		{"FIFOAdmissions", testFIFOAdmissions},
		{"ExchangeLimit", testExchangeLimit},
		{"DirectEntry", testDirectEntry},
		{"DirectEntryRate", testDirectEntryRate},
		{"SlotExpiryLeaks", testSlotExpiryLeaks},
		{"ReleaseFreesSlot", testReleaseFreesSlot},
		{"ReleaseWaiting", testReleaseWaiting},
		{"ReleaseTwice", testReleaseTwice},
		{"ReregisterAfterEnd", testReregisterAfterEnd},
		{"AbandonedSkipped", testAbandonedSkipped},
		{"ClaimWindow", testClaimWindow},
		{"SaleStart", testSaleStart},
		{"SaleEnd", testSaleEnd},
		{"AdmissionRate", testAdmissionRate},
		{"RateBurstAfterPause", testRateBurstAfterPause},
		{"RateNotEarnedBeforeOpening", testRateNotEarnedBeforeOpening},
		{"RateFraction", testRateFraction},
		{"ModeSettingsKept", testModeSettingsKept},
		{"Pause", testPause},
		{"RejectMode", testRejectMode},
		{"MaxWaiting", testMaxWaiting},
		{"AdmitAhead", testAdmitAhead},
		{"Head", testHead},
		{"ConcurrentAdmit", testConcurrentAdmit},
		{"Draw", testDraw},
		{"DrawFromHead", testDrawFromHead},
		{"DrawConcurrent", testDrawConcurrent},
		{"DrawBatch", testDrawBatch},
		{"Linearizable", testLinearizable},
		{"SettingsChange", testSettingsChange},
		{"Stats", testStats},
		{"FeedOrderedAndComplete", testFeedOrderedAndComplete},
		{"FeedPaging", testFeedPaging},
		{"FeedBlockingRead", testFeedBlockingRead},
		{"FeedReadCancel", testFeedReadCancel},
		{"FeedReadTimeout", testFeedReadTimeout},
		{"ConcurrentCapacity", testConcurrentCapacity},
		{"ConcurrentRegister", testConcurrentRegister},
		{"BatchCalls", testBatchCalls},
		{"BatchArrive", testBatchArrive},
		{"BatchClaimRelease", testBatchClaimRelease},
		{"BatchErrors", testBatchErrors},
		{"BatchConcurrent", testBatchConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			require.NotNil(t, s, "newStore returned nil")
			tc.fn(t, s)
		})
	}
}

// --- helpers shared by the subtests ---

// at returns T0 + d.
func at(d time.Duration) time.Time { return T0.Add(d) }

// putZone stores st at now and fails the test if that does not work.
func putZone(t *testing.T, s waitroom.Store, st waitroom.ZoneState, now time.Time) waitroom.ZoneState {
	t.Helper()
	got, err := s.PutZone(t.Context(), st, now)
	require.NoError(t, err, "PutZone(%q)", st.Name)
	return got
}

// newZone puts a fresh zone with Zone's settings changed by edit, at T0.
func newZone(t *testing.T, s waitroom.Store, short string, edit func(*waitroom.ZoneState)) waitroom.ZoneState {
	t.Helper()
	st := Zone(ZoneName(short))
	if edit != nil {
		edit(&st)
	}
	return putZone(t, s, st, T0)
}

func register(t *testing.T, s waitroom.Store, zone, visitor string, now time.Time) waitroom.Place {
	t.Helper()
	p, err := s.Register(t.Context(), zone, visitor, now)
	require.NoError(t, err, "Register(%q) at %v", visitor, now)
	return p
}

// registerN registers visitors prefix-1 .. prefix-n at now and returns
// their ids in registration order.
func registerN(t *testing.T, s waitroom.Store, zone, prefix string, n int, now time.Time) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i+1)
		register(t, s, zone, ids[i], now)
	}
	return ids
}

func exchange(t *testing.T, s waitroom.Store, zone string, now time.Time, limit int) waitroom.Exchange {
	t.Helper()
	x, err := s.Exchange(t.Context(), zone, now, limit)
	require.NoError(t, err, "Exchange at %v", now)
	return x
}

func enter(t *testing.T, s waitroom.Store, zone, visitor string, now time.Time) (waitroom.Slot, bool) {
	t.Helper()
	slot, ok, err := s.Enter(t.Context(), zone, visitor, now)
	require.NoError(t, err, "Enter(%q) at %v: a refused entry is ok == false, not an error", visitor, now)
	return slot, ok
}

func claim(t *testing.T, s waitroom.Store, zone, visitor string, now time.Time) waitroom.Slot {
	t.Helper()
	slot, err := s.Claim(t.Context(), zone, visitor, now)
	require.NoError(t, err, "Claim(%q) at %v", visitor, now)
	return slot
}

func release(t *testing.T, s waitroom.Store, zone, visitor string, now time.Time) bool {
	t.Helper()
	ok, err := s.Release(t.Context(), zone, visitor, now)
	require.NoError(t, err, "Release(%q) at %v", visitor, now)
	return ok
}

func position(t *testing.T, s waitroom.Store, zone, visitor string, now time.Time) waitroom.Place {
	t.Helper()
	p, err := s.Position(t.Context(), zone, visitor, now)
	require.NoError(t, err, "Position(%q) at %v", visitor, now)
	return p
}

func stats(t *testing.T, s waitroom.Store, zone string, now time.Time) waitroom.ZoneStats {
	t.Helper()
	st, err := s.Stats(t.Context(), zone, now)
	require.NoError(t, err, "Stats at %v", now)
	return st
}

// feedAll reads the whole feed of zone from the start, in pages.
func feedAll(t *testing.T, s waitroom.Store, zone string) []waitroom.Event {
	t.Helper()
	var all []waitroom.Event
	var after uint64
	for {
		evs, err := s.ReadFeed(t.Context(), zone, after, 500, 0)
		require.NoError(t, err, "ReadFeed(after %d)", after)
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
		after = evs[len(evs)-1].Seq
	}
}

// feedSince reads the events of zone after seq.
func feedSince(t *testing.T, s waitroom.Store, zone string, seq uint64) []waitroom.Event {
	t.Helper()
	all := feedAll(t, s, zone)
	var out []waitroom.Event
	for _, ev := range all {
		if ev.Seq > seq {
			out = append(out, ev)
		}
	}
	return out
}

// kinds lists the kinds of evs.
func kinds(evs []waitroom.Event) []waitroom.EventKind {
	out := make([]waitroom.EventKind, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind
	}
	return out
}

// admitted lists the ids of the visitors x let in, in order.
func admitted(x waitroom.Exchange) []string {
	out := make([]string, len(x.Admitted))
	for i, a := range x.Admitted {
		out[i] = a.Visitor
	}
	return out
}

// requireIs fails unless err matches target with errors.Is.
func requireIs(t *testing.T, err, target error, what string) {
	t.Helper()
	require.Error(t, err, "%s: want an error matching %v, got nil", what, target)
	require.True(t, errors.Is(err, target), "%s: want an error matching %v, got %v", what, target, err)
}

// holders tracks the visitors that hold a slot, as seen from results: a
// visitor is added after the store gave it a slot and removed before the
// store is asked to free it, so the count never exceeds the slots the store
// really holds. A removed visitor is never added again (its result may
// arrive after its owner released it).
type holders struct {
	mu      sync.Mutex
	set     map[string]bool
	removed map[string]bool
	max     int
}

func (h *holders) add(v string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.set == nil {
		h.set = make(map[string]bool)
	}
	if h.removed[v] {
		return len(h.set)
	}
	h.set[v] = true
	h.max = max(h.max, len(h.set))
	return len(h.set)
}

func (h *holders) remove(v string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.removed == nil {
		h.removed = make(map[string]bool)
	}
	h.removed[v] = true
	delete(h.set, v)
}

// take removes and returns a visitor holding a slot, chosen by pick from
// 0..n-1; ok is false if none holds one.
func (h *holders) take(pick func(n int) int) (string, bool) {
	v, ok := h.any(pick)
	if ok {
		h.remove(v)
	}
	return v, ok
}

// any returns a visitor holding a slot, chosen by pick from 0..n-1.
func (h *holders) any(pick func(n int) int) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.set) == 0 {
		return "", false
	}
	k := pick(len(h.set))
	for v := range h.set {
		if k == 0 {
			return v, true
		}
		k--
	}
	return "", false
}

func (h *holders) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.set)
}
