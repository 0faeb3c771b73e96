package middleware

import (
	"math"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

func TestScaleETA(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	eta := waitroom.ETA{Expected: 100 * time.Second, Low: 40 * time.Second, High: 200 * time.Second}
	// Same place, no opening: unchanged.
	assert.Equal(t, eta, scaleETA(eta, 9, 9, time.Time{}, t0, t0.Add(time.Minute)))
	// Half the places ahead (10 -> 5 with oneself): half the wait.
	assert.Equal(t, waitroom.ETA{Expected: 50 * time.Second, Low: 20 * time.Second, High: 100 * time.Second},
		scaleETA(eta, 9, 4, time.Time{}, t0, t0))
	// Rounded up to whole seconds.
	assert.Equal(t, 34*time.Second, scaleETA(eta, 2, 0, time.Time{}, t0, t0).Expected)
	// The wait for the opening is counted again at now.
	opens := t0.Add(time.Hour)
	before := waitroom.ETA{Expected: time.Hour + 10*time.Second, Low: time.Hour + 2*time.Second, High: time.Hour + 20*time.Second}
	assert.Equal(t, waitroom.ETA{Expected: 30*time.Minute + 10*time.Second, Low: 30*time.Minute + 2*time.Second, High: 30*time.Minute + 20*time.Second},
		scaleETA(before, 0, 0, opens, t0, t0.Add(30*time.Minute)))
	assert.Equal(t, waitroom.ETA{Expected: 5 * time.Second, Low: time.Second, High: 10 * time.Second},
		scaleETA(before, 1, 0, opens, t0, opens.Add(time.Minute)))
	// A wait past counting stays there.
	huge := waitroom.ETA{Expected: time.Duration(math.MaxInt64), Low: time.Second, High: time.Duration(math.MaxInt64)}
	got := scaleETA(huge, 10, 9, time.Time{}, t0, t0)
	assert.Positive(t, got.Expected)
	assert.Positive(t, got.High)
}

func TestMovePace(t *testing.T) {
	const interval = 250 * time.Millisecond
	for low, want := range map[int64]time.Duration{
		0:    interval,        // unknown, or at the front
		1:    interval,        // a quarter second is the push interval
		8:    2 * time.Second, // a quarter of the shortest wait
		60:   maxMovePace,     // 15 s
		3600: maxMovePace,     // never longer
	} {
		assert.Equal(t, want, movePace(&report{ETALowSeconds: low}, interval), "eta low %d s", low)
	}
	// A push interval longer than the longest pace wins.
	assert.Equal(t, time.Minute, movePace(&report{ETALowSeconds: 3}, time.Minute))
}

func TestOriginRule(t *testing.T) {
	c := newConfig([]Option{WithOrigins("*.shop.example", "https://partner.example")})
	for origin, want := range map[string]bool{
		"":                          true, // not a browser's cross-site request
		"http://shop.example":       true,
		"https://SHOP.example":      true,
		"https://www.shop.example":  true,
		"https://partner.example":   true,
		"http://partner.example":    false,
		"https://evil.example":      false,
		"https://shop.example.evil": false,
		"null":                      false,
		"::":                        false,
	} {
		r := &http.Request{Host: "shop.example", Header: http.Header{}}
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		assert.Equal(t, want, c.originAllowed(r), "%q", origin)
	}
	c = newConfig([]Option{WithOriginCheck(func(r *http.Request, origin string) bool { return origin == "app://shop" })})
	r := &http.Request{Host: "shop.example", Header: http.Header{"Origin": {"http://shop.example"}}}
	assert.False(t, c.originAllowed(r), "the check replaces the same-host rule")
	r.Header.Set("Origin", "app://shop")
	assert.True(t, c.originAllowed(r))
}

// After lost feed events every connection asks the Room again: their
// heartbeats fall due one after another over resyncSpread, the first at
// once, not all in the same instant.
func TestResyncSpreadsTheRefreshes(t *testing.T) {
	clock := waitroomtest.NewClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	z := waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AbandonAfter: 40 * time.Second}
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(z), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()
	e := newEdge(room, nil)
	defer e.close()

	const n = 100
	beat := int64(z.AbandonAfter / 4) // 10 s: longer than the spread
	now := clock.Now().UnixNano()
	var ws []*watcher
	for i := range n {
		w := newWatcher(e.hub, "checkout", waitroom.Visitor{ID: strconv.Itoa(i)}, "10.0.0."+strconv.Itoa(i), "/checkout", false)
		require.Nil(t, e.hub.add(w))
		w.abandon.Store(int64(z.AbandonAfter))
		w.lastBeat.Store(now - int64(time.Second)) // its last heartbeat a second ago
		ws = append(ws, w)
	}
	opening := newWatcher(e.hub, "checkout", waitroom.Visitor{ID: "opening"}, "10.0.1.1", "/checkout", false)
	require.Nil(t, e.hub.add(opening)) // lastBeat 0: still opening, left alone
	defer func() {
		for _, w := range append(ws, opening) {
			e.hub.remove(w)
		}
	}()

	e.hub.onEvent(waitroom.Event{Kind: waitroom.EventResync, Zone: "checkout"})
	var due []time.Duration // after now
	for _, w := range ws {
		due = append(due, time.Duration(w.lastBeat.Load()+beat-now))
	}
	slices.Sort(due)
	assert.Less(t, due[n-1], resyncSpread)
	for i, d := range due {
		// One step apart, the opening connection counted in: the i-th
		// due at step i, or i+1 if the opening one took a step before it.
		lo, hi := resyncSpread*time.Duration(i)/(n+1), resyncSpread*time.Duration(i+1)/(n+1)
		assert.True(t, d >= lo && d <= hi, "connection %d due after %v, want %v to %v", i, d, lo, hi)
	}
	assert.Zero(t, opening.lastBeat.Load())

	// A connection whose heartbeat was already due stays due.
	old := now - 2*beat
	ws[0].lastBeat.Store(old)
	e.hub.onEvent(waitroom.Event{Kind: waitroom.EventResync, Zone: "checkout"})
	assert.Equal(t, old, ws[0].lastBeat.Load())
}

func TestBehind(t *testing.T) {
	pz, other := &pushZone{}, &pushZone{}
	w := &watcher{pz: pz}
	assert.False(t, w.behind(pz, 10), "nobody let in yet: the head is not known")
	pz.passed.Store(4)
	assert.True(t, w.behind(pz, 10), "places up to 4 let in or skipped, 10 still waits")
	assert.False(t, w.behind(pz, 4), "4 was let in or skipped")
	assert.False(t, w.behind(pz, 3))
	assert.False(t, w.behind(nil, 10), "no connection open when the place was read: events may have been missed")
	assert.False(t, w.behind(other, 10), "the zone's connections all closed since the read")
}
