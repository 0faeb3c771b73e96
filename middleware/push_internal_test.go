package middleware

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/waitroom/waitroom"
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
	e := newEdge(nil, []Option{WithOrigins("*.shop.example", "https://partner.example")})
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
		assert.Equal(t, want, e.originAllowed(r), "%q", origin)
	}
	e = newEdge(nil, []Option{WithOriginCheck(func(r *http.Request, origin string) bool { return origin == "app://shop" })})
	r := &http.Request{Host: "shop.example", Header: http.Header{"Origin": {"http://shop.example"}}}
	assert.False(t, e.originAllowed(r), "the check replaces the same-host rule")
	r.Header.Set("Origin", "app://shop")
	assert.True(t, e.originAllowed(r))
}
