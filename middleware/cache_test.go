package middleware_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
)

func TestEdgeCacheAnswersRepeatRequestsWhileFull(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a, b := e.client(), e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)

	// Within the TTL, b's refreshes and polls cost the store nothing, and
	// a's requests never do.
	e.store.reset()
	for range 10 {
		res, rep := b.getJSON("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		require.EqualValues(t, 1, rep.Position)
		res, rep = b.getJSON("/.waitroom/status?zone=checkout")
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.EqualValues(t, 1, rep.Position)
		require.Equal(t, http.StatusOK, a.get("/checkout/pay").StatusCode)
	}
	assert.Zero(t, e.store.count(), "store calls while the zone is full")

	// A newcomer while the zone is marked full goes straight to the line.
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	assert.Zero(t, e.store.count("Enter"))
	assert.Equal(t, 1, e.store.count("Register"))

	// a's release frees a slot; until the feed says so the mark stands...
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	assert.Zero(t, e.store.count("Enter"))
	// ...and the feed event clears it; but visitors still wait in line, so
	// the next newcomer, too, goes to the back without trying to enter: the
	// free slot is the line's.
	e.step(t)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode, "the line is not empty")
	assert.Zero(t, e.store.count("Enter"))
	assert.Equal(t, 3, e.store.count("Register"))

	// The feed also drops b's cached standing the moment b is let in.
	res := b.get("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode, "a cached 'waiting' hid the admission")
}

func TestEdgeCacheExpires(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.client()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)

	e.store.reset()
	e.clock.Advance(middleware.DefaultPositionTTL)
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	assert.Equal(t, 1, e.store.count("Position"), "a stale standing was served")
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	assert.Equal(t, 1, e.store.count("Position"), "the fresh standing was not cached")

	// The full mark expires too.
	e.clock.Advance(middleware.DefaultFullTTL)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	assert.Equal(t, 1, e.store.count("Enter"))
}

func TestEdgeCacheCanBeTurnedOff(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil, middleware.WithPositionTTL(0), middleware.WithFullTTL(0))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.client()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	e.store.reset()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	assert.Equal(t, 1, e.store.count("Position"))
	assert.Equal(t, 1, e.store.count("Enter"))
}

func TestClosedHandlerKeepsWorkingWithoutCache(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a, b := e.client(), e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	require.NoError(t, e.h.Close())
	require.NoError(t, e.h.Close())
	e.store.reset()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	assert.Equal(t, 1, e.store.count("Position"), "a closed handler no longer hears of admissions: no cache")
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
}

func TestFailClosed(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	e := newEnv(t, checkoutZone(1), nil, middleware.WithLogger(logger))
	in, waiting := e.client(), e.client()
	require.Equal(t, http.StatusOK, in.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, waiting.get("/checkout").StatusCode)
	calls := e.origin.calls.Load()

	e.store.down.Store(true)
	e.clock.Advance(2 * time.Second) // past cached standings
	for _, c := range []*client{e.client(), waiting} {
		res, rep := c.getJSON("/checkout")
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		assert.Equal(t, "unavailable", rep.State)
		assert.Equal(t, "5", res.Header.Get("Retry-After"))
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		assert.NotContains(t, body(res), "connection refused")

		res = c.get("/checkout")
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		page := body(res)
		assert.Contains(t, page, `<meta http-equiv="refresh" content="5">`)
		assert.NotContains(t, page, "connection refused")
	}
	res, rep := waiting.getJSON("/.waitroom/status?zone=checkout")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "unavailable", rep.State)
	assert.Equal(t, calls, e.origin.calls.Load(), "the origin was reached while the store was down")

	// Access tokens already issued are checked locally and keep working.
	assert.Equal(t, http.StatusOK, in.get("/checkout/pay").StatusCode)

	e.store.down.Store(false)
	assert.Equal(t, http.StatusTooManyRequests, waiting.get("/checkout").StatusCode)
	// One line when the outage starts, one when it ends; the cause is logged.
	assert.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("cannot reach the store")), logs.String())
	assert.Contains(t, logs.String(), "connection refused")
	assert.Contains(t, logs.String(), "store reachable again")
}

func TestFailOpen(t *testing.T) {
	e := newEnv(t, checkoutZone(1), []waitroom.Option{waitroom.WithFailPolicy(waitroom.FailOpen)},
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	e.store.down.Store(true)
	res := e.client().get("/checkout/done")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "open", body(res), "no access in the context of a fail-open request")
	assert.Empty(t, res.Header.Get(middleware.DefaultReleaseHeader))
	assert.EqualValues(t, 2, e.origin.calls.Load())
}

// A rendered response is reused only while all it shows stays the same:
// from one cached standing, the page follows the clock (progress, the
// opening passing) and each URL gets its own return URL, without asking
// the store.
func TestRenderedPagesFollowTheClockAndTheURL(t *testing.T) {
	// Kept for a quarter of AbandonAfter: 5 seconds.
	e := newEnv(t, checkoutZone(1), nil, middleware.WithPositionTTL(time.Minute))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.client()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout/a").StatusCode)
	e.store.reset()

	page := body(b.get("/checkout/a"))
	assert.Contains(t, page, `value="0">0%</progress>`)
	assert.Contains(t, page, `return=%2Fcheckout%2Fa\u0026zone=checkout`)
	page = body(b.get("/checkout/b"))
	assert.Contains(t, page, `return=%2Fcheckout%2Fb\u0026zone=checkout`)
	assert.NotContains(t, page, `%2Fcheckout%2Fa`)
	assert.Contains(t, body(b.get("/checkout/a")), `return=%2Fcheckout%2Fa\u0026zone=checkout`)

	e.clock.Advance(4 * time.Second)
	_, rep := b.getJSON("/checkout/a")
	require.Positive(t, rep.Progress)
	assert.Contains(t, body(b.get("/checkout/a")), fmt.Sprintf(`value="%d">%d%%</progress>`, rep.Progress, rep.Progress))

	// A URL too long to be a return URL is served too, returning to "/".
	res := b.get("/checkout/a?q=" + strings.Repeat("x", 3000))
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body(res), `return=%2F\u0026zone=checkout`)
	assert.Zero(t, e.store.count(), "store calls")

	// The opening: a wait of hours, whose progress stays 0 for seconds.
	z := checkoutZone(1)
	z.OpensAt, z.Session = t0.Add(3*time.Second), time.Hour
	e = newEnv(t, z, nil, middleware.WithPositionTTL(time.Minute))
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	b = e.client()
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	e.store.reset()
	assert.Contains(t, body(b.get("/checkout")), "The sale opens at")
	e.clock.Advance(4 * time.Second)
	_, rep = b.getJSON("/checkout")
	require.Zero(t, rep.Progress)
	assert.NotContains(t, body(b.get("/checkout")), "The sale opens at", "the opening has passed")
	assert.Zero(t, e.store.count(), "store calls")
}

// Every response has header values of its own: a handler in front that
// changes one in place changes no other response.
func TestResponseHeaderValuesAreNotShared(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.h.ServeHTTP(w, r)
		for _, v := range w.Header() {
			v[0] = "changed"
		}
	})
	b := newClient(h)
	for range 3 {
		res := b.get("/checkout")
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		assert.Equal(t, "6", res.Header.Get("Retry-After"))
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, strconv.Itoa(len(body(res))), res.Header.Get("Content-Length"))
		_, rep := b.getJSON("/checkout")
		assert.Equal(t, "waiting", rep.State)
	}
}
