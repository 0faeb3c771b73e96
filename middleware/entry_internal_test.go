package middleware

import (
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEntryGuardIsBounded(t *testing.T) {
	g := newEntryGuard(&config{entryPerMinute: 30, entryBurst: 2, logger: slog.New(slog.DiscardHandler)})
	require.NotNil(t, g)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	base := netip.MustParseAddr("10.0.0.0")
	// A flood of distinct addresses: each is a client with a full burst,
	// and the Handler keeps no more of them than EntryLimitClients.
	for i := range EntryLimitClients + 5000 {
		a := base.As4()
		a[1], a[2], a[3] = byte(i>>16), byte(i>>8), byte(i)
		ok, _ := g.allow(netip.AddrFrom4(a).String(), t0)
		require.True(t, ok)
	}
	assert.Equal(t, EntryLimitClients, g.clients.Len())
}

func TestEntryGuardSteps(t *testing.T) {
	g := newEntryGuard(&config{entryPerMinute: 30, entryBurst: 2})
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		ok   bool
		wait time.Duration
	}{
		{0, true, 0},
		{0, true, 0},
		{0, false, 2 * time.Second},
		{500 * time.Millisecond, false, 1500 * time.Millisecond},
		{2 * time.Second, true, 0},
		{2 * time.Second, false, 2 * time.Second},
		{time.Second, false, 2 * time.Second}, // the clock went back: counted from the last reading
		{time.Hour, true, 0},
		{time.Hour, true, 0},
		{time.Hour, false, 2 * time.Second}, // an idle bucket holds the burst, no more
	}
	for i, s := range steps {
		ok, wait := g.allow("192.0.2.1", t0.Add(s.at))
		assert.Equal(t, s.ok, ok, "step %d", i)
		assert.Equal(t, s.wait, wait, "step %d", i)
	}
}

func TestEntryGuardOff(t *testing.T) {
	for _, c := range []config{
		{},
		{entryPerMinute: 30},
		{entryBurst: 10},
		{entryPerMinute: -1, entryBurst: 10},
		{entryPerMinute: math.NaN(), entryBurst: 10},
		{entryPerMinute: math.Inf(1), entryBurst: 10},
	} {
		assert.Nil(t, newEntryGuard(&c), "%+v", c)
	}
	noCheck := func(*http.Request, string) (EntryDecision, error) { return AllowEntry(), nil }
	g := newEntryGuard(&config{entryCheck: EntryCheckFunc(noCheck)})
	require.NotNil(t, g, "a check alone")
	assert.Nil(t, g.clients, "no limit")
	for _, o := range []Option{WithEntryCheck(nil), WithEntryCheck(EntryCheckFunc(nil))} {
		var c config
		o(&c)
		assert.Nil(t, c.entryCheck)
	}
}
