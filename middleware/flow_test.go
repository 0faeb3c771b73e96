package middleware_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
)

func TestQueueIsFIFOAndSlotsAreReused(t *testing.T) {
	z := checkoutZone(2)
	z.AbandonAfter = 10 * time.Minute // nobody is skipped here; see TestAbandonedVisitorIsSkipped
	e := newEnv(t, z, nil)
	ctx := context.Background()
	clients := make([]*client, 10)
	for i := range clients {
		clients[i] = e.client()
	}

	// Two find room and go in directly; eight wait, in arrival order.
	for i, c := range clients {
		res, rep := c.getJSON("/checkout")
		if i < 2 {
			require.Equal(t, http.StatusOK, res.StatusCode, "visitor %d", i)
			require.NotEmpty(t, c.id)
			continue
		}
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "visitor %d", i)
		assert.Equal(t, "waiting", rep.State)
		assert.Equal(t, "checkout", rep.Zone)
		assert.EqualValues(t, i-1, rep.Position, "visitor %d", i)
		assert.EqualValues(t, i-2, rep.Ahead, "visitor %d", i)
		assert.Nil(t, rep.OpensAt)
		assert.Positive(t, rep.RetryAfterSeconds)
	}
	require.EqualValues(t, 2, e.origin.calls.Load())

	// The origin releases visitor 0's slot by its response header.
	res := clients[0].get("/checkout/done")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, res.Header.Values(http.CanonicalHeaderKey("Waitroom-Release")), "release header reaches the client")
	assert.Nil(t, clients[0].cookie("wr_a_checkout"), "access cookie not cleared")

	// A newcomer does not jump the line into the freed slot.
	late := e.client()
	res, rep := late.getJSON("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.EqualValues(t, 9, rep.Position)

	// The exchanger lets the head of the line (visitor 2) in, nobody else.
	e.step(t)
	res = clients[2].get("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	res = clients[3].get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	// Expected wait 60s (2 slots per minute-long session): ask in 6s.
	assert.Equal(t, "6", res.Header.Get("Retry-After"))
	// Visitor 0 released its slot: back to the line, not to the origin.
	res = clients[0].get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)

	// Release through the API (after checkout in the app): visitor 3 next.
	released, err := e.room.Release(ctx, "checkout", clients[1].id)
	require.NoError(t, err)
	require.True(t, released)
	e.step(t)
	res = clients[1].get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "a released access token still works")
	res = clients[3].get("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	e.clock.Advance(2 * time.Second) // past the cached standings
	_, rep = clients[4].getJSON("/checkout")
	assert.EqualValues(t, 1, rep.Position)

	// Slots of visitors 2 and 3 leak when their session ends: 4 and 5 next.
	e.clock.Advance(time.Minute)
	res = clients[2].get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "an expired access token still works")
	e.step(t)
	for _, i := range []int{4, 5} {
		res = clients[i].get("/checkout")
		require.Equal(t, http.StatusOK, res.StatusCode, "visitor %d", i)
	}
	for _, i := range []int{6, 7, 8, 9} {
		res = clients[i].get("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, "visitor %d", i)
	}
	st, err := e.room.Stats(ctx, "checkout")
	require.NoError(t, err)
	assert.Equal(t, 2, st.Inside)
	assert.EqualValues(t, 2+1+1+2, e.origin.calls.Load()-1, "origin calls (one was /checkout/done)")
}

func TestNobodyEntersBeforeOpening(t *testing.T) {
	z := checkoutZone(2)
	z.OpensAt = t0.Add(time.Hour)
	e := newEnv(t, z, nil)
	clients := []*client{e.client(), e.client(), e.client()}
	for i, c := range clients {
		res, rep := c.getJSON("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.EqualValues(t, i+1, rep.Position)
		require.NotNil(t, rep.OpensAt)
		assert.Equal(t, "2026-03-01T11:00:00Z", *rep.OpensAt)
		assert.GreaterOrEqual(t, rep.ETASeconds, int64(3600))
		assert.Equal(t, 6, rep.RetryAfterSeconds, "a third of AbandonAfter: asking keeps the place")
	}
	res := clients[0].get("/checkout")
	page := body(res)
	assert.Contains(t, page, "The sale opens at")
	assert.Contains(t, page, `datetime="2026-03-01T11:00:00Z"`)
	assert.Contains(t, page, "Sun 1 Mar 2026, 11:00 UTC")

	e.clock.Set(z.OpensAt.Add(-5 * time.Second))
	e.step(t)
	for _, c := range clients {
		require.Equal(t, http.StatusTooManyRequests, c.get("/checkout").StatusCode)
	}
	require.Zero(t, e.origin.calls.Load())

	e.clock.Set(z.OpensAt)
	e.step(t)
	assert.Equal(t, http.StatusOK, clients[0].get("/checkout").StatusCode)
	assert.Equal(t, http.StatusOK, clients[1].get("/checkout").StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, clients[2].get("/checkout").StatusCode)
}

func TestAbandonedVisitorIsSkipped(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a, b, c := e.client(), e.client(), e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, b.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, c.get("/checkout").StatusCode)

	// c keeps asking; b has gone.
	e.clock.Advance(10 * time.Second)
	res, rep := c.getJSON("/.waitroom/status?zone=checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "waiting", rep.State)
	e.clock.Advance(11 * time.Second) // b unseen for 21s > AbandonAfter
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)

	res = c.get("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode, "the visitor behind the abandoned one is next")
	res, rep = b.getJSON("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.EqualValues(t, 1, rep.Position, "the abandoned visitor is queued again, at the back")
}

func TestOriginNeverSeesMoreThanCapacity(t *testing.T) {
	const visitors, capacity = 500, 20
	z := checkoutZone(capacity)
	z.AbandonAfter = 10 * time.Minute // only the head of the line asks below
	e := newEnv(t, z, nil)

	var gateMu sync.Mutex
	var gate chan struct{}
	events := make(chan struct{}, visitors)
	e.origin.hold = func(*http.Request) {
		gateMu.Lock()
		g := gate
		gateMu.Unlock()
		events <- struct{}{}
		<-g
	}
	served := make(map[string]int)
	var servedMu sync.Mutex

	// round sends one request per client at once. The origin holds every
	// request it gets until each request has either reached it or been
	// answered without it, so all visitors let in are in flight together.
	// It returns the clients let in and the position of each one waiting.
	round := func(cs []*client) (in []*client, position map[*client]int64) {
		gateMu.Lock()
		gate = make(chan struct{})
		g := gate
		gateMu.Unlock()
		codes := make([]int, len(cs))
		reps := make([]report, len(cs))
		var wg sync.WaitGroup
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, rep := c.getJSON("/checkout/done")
				codes[i], reps[i] = res.StatusCode, rep
				if res.StatusCode != http.StatusOK {
					events <- struct{}{}
					return
				}
				servedMu.Lock()
				served[c.id]++
				servedMu.Unlock()
			}()
		}
		for range cs {
			<-events
		}
		close(g)
		wg.Wait()
		position = make(map[*client]int64)
		for i, code := range codes {
			switch code {
			case http.StatusOK:
				in = append(in, cs[i])
			case http.StatusTooManyRequests:
				position[cs[i]] = reps[i].Position
			default:
				t.Fatalf("status %d", code)
			}
		}
		return in, position
	}

	clients := make([]*client, visitors)
	for i := range clients {
		clients[i] = e.client()
	}
	in, position := round(clients)
	assert.Len(t, in, capacity, "the first requests fill the zone exactly")
	assert.EqualValues(t, capacity, e.origin.maxInFlight.Load())
	line := make([]*client, 0, len(position))
	for c := range position {
		line = append(line, c)
	}
	slices.SortFunc(line, func(a, b *client) int { return cmp.Compare(position[a], position[b]) })
	for i, c := range line {
		require.EqualValues(t, i+1, position[c], "positions are 1..n without gaps or repeats")
	}

	// Each round frees the slots (release header), the exchanger lets the
	// next visitors in, and the head of the line asks again: exactly the
	// first ones in line get in.
	for len(line) > 0 {
		e.clock.Advance(time.Second)
		e.step(t)
		head := line[:min(len(line), 2*capacity)]
		in, _ := round(head)
		want := head[:min(len(head), capacity)]
		require.ElementsMatch(t, want, in, "admission follows the line")
		line = line[len(in):]
	}
	assert.LessOrEqual(t, e.origin.maxInFlight.Load(), int64(capacity))
	assert.Len(t, served, visitors, "every visitor got in")
	for id, n := range served {
		assert.Equal(t, 1, n, "visitor %s got in %d times", id, n)
	}
}

func TestSaleEnded(t *testing.T) {
	z := checkoutZone(1)
	z.ClosesAt = t0.Add(30 * time.Second)
	e := newEnv(t, z, nil)
	in, waiting := e.client(), e.client()
	require.Equal(t, http.StatusOK, in.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, waiting.get("/checkout").StatusCode)

	e.clock.Set(z.ClosesAt)
	res, rep := waiting.getJSON("/checkout")
	assert.Equal(t, http.StatusGone, res.StatusCode)
	assert.Equal(t, "closed", rep.State)
	res = e.client().get("/checkout")
	assert.Equal(t, http.StatusGone, res.StatusCode)
	assert.Contains(t, body(res), "The sale has ended")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	// Who is inside may finish.
	assert.Equal(t, http.StatusOK, in.get("/checkout/pay").StatusCode)
	assert.EqualValues(t, 2, e.origin.calls.Load())
}

func TestUnprotectedAndBypassedRequestsPass(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil,
		middleware.WithBypassPaths("/checkout/static/"),
		middleware.WithBypassMethods(http.MethodOptions),
		middleware.WithBypass(func(r *http.Request) bool { return r.URL.Query().Get("internal") == "1" }))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	e.store.reset()
	for _, target := range []string{"/", "/checkouts", "/about", "/checkout/static/app.css", "/checkout?internal=1"} {
		res := e.client().get(target)
		require.Equal(t, http.StatusOK, res.StatusCode, target)
		assert.Equal(t, "open", body(res), target)
		assert.Empty(t, res.Cookies(), target)
	}
	res := e.client().do(http.MethodOptions, "/checkout", nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Zero(t, e.store.count(), "store calls for requests that pass untouched")
	// And the zone is still full for others.
	assert.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
}

func TestClaimStatusAndReleaseEndpoints(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a, b := e.client(), e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	res := b.get("/checkout/seat?row=7")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	page := body(res)
	assert.Contains(t, page, `"/.waitroom/claim?return=%2Fcheckout%2Fseat%3Frow%3D7\u0026zone=checkout"`)

	// Status: the waiting page's poll.
	res, rep := b.getJSON("/.waitroom/status?zone=checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "waiting", rep.State)
	assert.EqualValues(t, 1, rep.Position)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))

	// Claiming too early sends the visitor back to wait.
	res = b.do(http.MethodGet, "/.waitroom/claim?zone=checkout&return=/checkout/seat", nil)
	assert.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/checkout/seat", res.Header.Get("Location"))
	assert.Nil(t, b.cookie("wr_a_checkout"))
	res, _ = b.getJSON("/.waitroom/claim?zone=checkout&return=/checkout/seat")
	assert.Equal(t, http.StatusConflict, res.StatusCode)

	// a leaves through the release endpoint; b is let in.
	res = a.do(http.MethodPost, "/.waitroom/release?zone=checkout", nil)
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	assert.Nil(t, a.cookie("wr_a_checkout"))
	assert.Nil(t, a.cookie("wr_v_checkout"))
	e.step(t)
	res, rep = b.getJSON("/.waitroom/status?zone=checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "admitted", rep.State, "status never claims")
	st, err := e.room.Stats(context.Background(), "checkout")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Inside)

	res = b.do(http.MethodGet, "/.waitroom/claim?zone=checkout&return=%2Fcheckout%2Fseat%3Frow%3D7", nil)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/checkout/seat?row=7", res.Header.Get("Location"))
	require.NotNil(t, b.cookie("wr_a_checkout"))
	res = b.get("/checkout/seat?row=7")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.EqualValues(t, 2, e.origin.calls.Load())

	// Endpoint misuse.
	for _, tc := range []struct {
		method, target string
		code           int
	}{
		{http.MethodGet, "/.waitroom/status", http.StatusBadRequest},
		{http.MethodGet, "/.waitroom/status?zone=../etc", http.StatusBadRequest},
		{http.MethodGet, "/.waitroom/status?zone=nosuchzone", http.StatusBadRequest},
		{http.MethodGet, "/.waitroom/status?zone=checkout", http.StatusNotFound}, // no place in line
		{http.MethodPost, "/.waitroom/status?zone=checkout", http.StatusMethodNotAllowed},
		{http.MethodGet, "/.waitroom/release?zone=checkout", http.StatusMethodNotAllowed},
		{http.MethodPost, "/.waitroom/release", http.StatusBadRequest},
		{http.MethodGet, "/.waitroom/claim?return=/checkout", http.StatusBadRequest},
		{http.MethodGet, "/.waitroom/nothing", http.StatusNotFound},
		{http.MethodGet, "/.waitroom", http.StatusNotFound},
	} {
		res := e.client().do(tc.method, tc.target, nil)
		assert.Equal(t, tc.code, res.StatusCode, "%s %s", tc.method, tc.target)
		assert.NotContains(t, body(res), "waitroom:", "%s %s", tc.method, tc.target)
	}
	assert.EqualValues(t, 2, e.origin.calls.Load(), "a reserved endpoint reached the origin")

	// Releasing with nothing held is no error.
	assert.Equal(t, http.StatusNoContent, e.client().do(http.MethodPost, "/.waitroom/release?zone=checkout", nil).StatusCode)
}

func TestZoneFuncZones(t *testing.T) {
	tmpl := waitroom.Zone{Capacity: 1, AdmitPerSecond: 100, Session: time.Minute}
	zoneOf := func(r *http.Request) (string, bool) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/events/")
		if !ok || rest == "" || strings.Contains(rest, "/") {
			return "", false
		}
		return "event-" + rest, true
	}
	e := newEnv(t, checkoutZone(1), []waitroom.Option{waitroom.WithZoneTemplate(tmpl)}, middleware.WithZoneFunc(zoneOf))
	for _, ev := range []string{"a", "b"} {
		first, second := e.client(), e.client()
		require.Equal(t, http.StatusOK, first.get("/events/"+ev).StatusCode, ev)
		res, rep := second.getJSON("/events/" + ev)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode, ev)
		assert.Equal(t, "event-"+ev, rep.Zone)
		require.NotNil(t, second.cookie("wr_v_event-"+ev))
		res, rep = second.getJSON(fmt.Sprintf("/.waitroom/status?zone=event-%s", ev))
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, "waiting", rep.State)
	}
}
