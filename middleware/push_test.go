package middleware_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/waitroomtest"
)

// noLeaks fails the test if it leaves a goroutine behind. Call it first:
// its check then runs after every other cleanup.
func noLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// pushServer serves a Handler on loopback for push clients.
type pushServer struct {
	*httptest.Server
	hc *http.Client
}

// serve serves h on loopback until the test ends. The Handler closes
// before the server, so open streams end first; the server's log (where
// net/http reports a handler's panic) must stay free of panics.
func serve(t *testing.T, h http.Handler) *pushServer {
	t.Helper()
	var log waitroomtest.Log
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = stdlog.New(&log, "", 0)
	srv.Start()
	tr := &http.Transport{}
	s := &pushServer{Server: srv, hc: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	t.Cleanup(func() {
		if c, ok := h.(io.Closer); ok {
			c.Close()
		}
		srv.Close()
		tr.CloseIdleConnections()
		assert.NotContains(t, log.String(), "panic")
	})
	return s
}

// cookieHeader is the Cookie header the client would send.
func (c *client) cookieHeader() string {
	u, _ := url.Parse(site)
	var parts []string
	for _, ck := range c.jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

// visitorID returns the id in the client's visitor token for zone.
func (c *client) visitorID(t *testing.T, room *waitroom.Room, zone string) string {
	t.Helper()
	ck := c.cookie("wr_v_" + zone)
	require.NotNil(t, ck)
	v, err := room.VerifyVisitor(ck.Value, zone)
	require.NoError(t, err)
	return v.ID
}

func withCookies(c *client, header http.Header) http.Header {
	h := http.Header{}
	for k, v := range header {
		h[k] = v
	}
	if c != nil {
		if ck := c.cookieHeader(); ck != "" && h.Get("Cookie") == "" {
			h.Set("Cookie", ck)
		}
	}
	return h
}

// dial opens a websocket to {prefix}/ws?query with c's cookies.
func (s *pushServer) dial(t *testing.T, c *client, query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/.waitroom/ws?"+query,
		&websocket.DialOptions{HTTPClient: s.hc, HTTPHeader: withCookies(c, header)})
	if conn != nil {
		t.Cleanup(func() { conn.CloseNow() })
	}
	return conn, res, err
}

// readReport reads the next pushed report, waiting at most 5 seconds.
func readReport(t *testing.T, conn *websocket.Conn) report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, b, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, websocket.MessageText, typ)
	var r report
	require.NoError(t, json.Unmarshal(b, &r), string(b))
	return r
}

// readUntil reads pushed reports until one's state is not "waiting".
func readUntil(t *testing.T, conn *websocket.Conn) report {
	t.Helper()
	for range 100 {
		if r := readReport(t, conn); r.State != "waiting" {
			return r
		}
	}
	t.Fatal("no report but waiting ones")
	return report{}
}

// closeStatus waits for the server to close conn and returns its code.
func closeStatus(t *testing.T, conn *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		_, _, err := conn.Read(ctx)
		if err != nil {
			require.NoError(t, ctx.Err(), "the server did not close the connection")
			return websocket.CloseStatus(err)
		}
	}
}

// eventStream is an open {prefix}/events response.
type eventStream struct {
	res *http.Response
	sc  *bufio.Scanner
}

// events opens an event stream to {prefix}/events?query with c's cookies.
func (s *pushServer) events(t *testing.T, c *client, query string, header http.Header) *eventStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/.waitroom/events?"+query, nil)
	require.NoError(t, err)
	req.Header = withCookies(c, header)
	res, err := s.hc.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	return &eventStream{res: res, sc: bufio.NewScanner(res.Body)}
}

// next returns the next report of the stream; ok is false at its end.
func (es *eventStream) next(t *testing.T) (r report, ok bool) {
	t.Helper()
	for es.sc.Scan() {
		data, found := strings.CutPrefix(es.sc.Text(), "data: ")
		if !found {
			continue
		}
		require.NoError(t, json.Unmarshal([]byte(data), &r), data)
		return r, true
	}
	return report{}, false
}

// queued returns a client that waits in the checkout line, having asked
// for target.
func (e *env) queued(t *testing.T, target string) *client {
	t.Helper()
	c := e.client()
	require.Equal(t, http.StatusTooManyRequests, c.get(target).StatusCode)
	return c
}

func TestWebSocketPushesTheTurn(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	s := serve(t, e.h)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b, c := e.queued(t, "/checkout/seat?row=7"), e.queued(t, "/checkout")

	ret := "&return=" + url.QueryEscape("/checkout/seat?row=7")
	connB, res, err := s.dial(t, b, "zone=checkout"+ret, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusSwitchingProtocols, res.StatusCode)
	connC, _, err := s.dial(t, c, "zone=checkout", nil)
	require.NoError(t, err)
	r := readReport(t, connB)
	assert.Equal(t, "waiting", r.State)
	assert.Equal(t, "checkout", r.Zone)
	assert.EqualValues(t, 1, r.Position)
	assert.EqualValues(t, 0, r.Ahead)
	assert.Positive(t, r.ETASeconds)
	assert.Empty(t, r.ClaimURL)
	assert.EqualValues(t, 2, readReport(t, connC).Position)
	assert.Equal(t, 2, middleware.Connections(e.h))

	// a leaves; the exchanger lets b in: b hears of it at once and is
	// told where to claim its turn; c moves up (its page, one place from
	// the front, may hear of the line's moves again a push interval after
	// its first report).
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.clock.Advance(middleware.DefaultPushInterval)
	e.step(t)
	turn := readReport(t, connB)
	assert.Equal(t, "admitted", turn.State)
	assert.Equal(t, "/.waitroom/claim?return=%2Fcheckout%2Fseat%3Frow%3D7&zone=checkout", turn.ClaimURL)
	// The page leaves for the claim URL, closing its connection.
	require.NoError(t, connB.Close(websocket.StatusGoingAway, ""))
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 1 }, 5*time.Second, time.Millisecond)
	r = readReport(t, connC)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 1, r.Position)

	// The page follows claim_url: the access cookie, then the page b asked for.
	ret2 := readClaim(t, b, turn.ClaimURL)
	assert.Equal(t, "/checkout/seat?row=7", ret2)
	res = b.get(ret2)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(body(res), "inside "))
}

// readClaim follows a claim URL and returns where it sends the visitor.
func readClaim(t *testing.T, c *client, claim string) string {
	t.Helper()
	res := c.get(claim)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.NotNil(t, c.cookie("wr_a_checkout"), "no access cookie")
	return res.Header.Get("Location")
}

func TestEventStreamPushesTheTurn(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	s := serve(t, e.h)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")

	es := s.events(t, b, "zone=checkout&return=%2Fcheckout%2Fpay", http.Header{"Accept": {"text/event-stream"}})
	require.Equal(t, http.StatusOK, es.res.StatusCode)
	assert.Equal(t, "text/event-stream", es.res.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", es.res.Header.Get("Cache-Control"))
	r, ok := es.next(t)
	require.True(t, ok)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 1, r.Position)

	_, err := e.room.Release(context.Background(), "checkout", a.id)
	require.NoError(t, err)
	e.step(t)
	r, ok = es.next(t)
	require.True(t, ok)
	assert.Equal(t, "admitted", r.State)
	assert.Equal(t, "/.waitroom/claim?return=%2Fcheckout%2Fpay&zone=checkout", r.ClaimURL)
	require.NoError(t, es.res.Body.Close()) // the page closes its EventSource and leaves
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 0 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "/checkout/pay", readClaim(t, b, r.ClaimURL))
}

func TestEventStreamOverHTTP2OutlastsTheWriteTimeout(t *testing.T) {
	noLeaks(t)
	// A write timeout of a nanosecond: a deadline set per write would
	// expire at once, and over HTTP/2 reset the stream after its first
	// report; the stream's one deadline is its lifetime away.
	e := newEnv(t, checkoutZone(1), nil, middleware.WithWriteTimeout(time.Nanosecond))
	srv := httptest.NewUnstartedServer(e.h)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(func() {
		e.h.Close()
		srv.Close()
		tr.CloseIdleConnections()
	})
	s := &pushServer{Server: srv, hc: &http.Client{Transport: tr}}
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	es := s.events(t, b, "zone=checkout", nil)
	require.Equal(t, 2, es.res.ProtoMajor, "an HTTP/2 stream")
	r, ok := es.next(t)
	require.True(t, ok)
	require.Equal(t, "waiting", r.State)

	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	r, ok = es.next(t)
	require.True(t, ok, "the stream ended: %v", es.sc.Err())
	assert.Equal(t, "admitted", r.State)
}

func TestPushCoalescesTheLinesMoves(t *testing.T) {
	noLeaks(t)
	const inside, ahead, watched = 1000, 1000, 20
	z := checkoutZone(inside)
	z.AdmitPerSecond = 100000
	e := newEnv(t, z, nil, middleware.WithPushInterval(500*time.Millisecond))
	s := serve(t, e.h)
	ctx := context.Background()
	var insiders []string
	for range inside {
		out, err := e.room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
		require.Equal(t, waitroom.StateInside, out.State)
		insiders = append(insiders, out.Visitor.ID)
	}
	for range ahead {
		out, err := e.room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
		require.Equal(t, waitroom.StateWaiting, out.State)
	}
	conns := make([]*websocket.Conn, watched)
	for i := range conns {
		c := e.queued(t, "/checkout")
		var err error
		conns[i], _, err = s.dial(t, c, "zone=checkout", nil)
		require.NoError(t, err)
		assert.EqualValues(t, ahead+i+1, readReport(t, conns[i]).Position)
	}
	require.EqualValues(t, watched, middleware.FramesSent(e.h))

	// Everyone inside leaves; one exchange lets the 1000 first in line in,
	// after the pages' pace (the push interval, so close to the front).
	e.clock.Advance(500 * time.Millisecond)
	for _, id := range insiders {
		_, err := e.room.Release(ctx, "checkout", id)
		require.NoError(t, err)
	}
	e.step(t)
	st, err := e.room.Stats(ctx, "checkout")
	require.NoError(t, err)
	require.Equal(t, ahead, st.Inside)

	// Each page gets one update, already at its final place.
	for i, conn := range conns {
		r := readReport(t, conn)
		assert.Equal(t, "waiting", r.State)
		assert.EqualValues(t, i+1, r.Position, "connection %d", i)
	}
	assert.EqualValues(t, 2*watched, middleware.FramesSent(e.h), "2000 events, one frame per page")
}

func TestPushPacesPagesFarBack(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	z.AdmitPerSecond = 10 // 200 places are 20 s at the least
	e := newEnv(t, z, nil)
	s := serve(t, e.h)
	ctx := context.Background()
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	e.queued(t, "/checkout") // first in line, its page closed
	near := e.queued(t, "/checkout")
	for range 197 {
		out, err := e.room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
		require.Equal(t, waitroom.StateWaiting, out.State)
	}
	far := e.queued(t, "/checkout")
	connNear, _, err := s.dial(t, near, "zone=checkout", nil)
	require.NoError(t, err)
	connFar, _, err := s.dial(t, far, "zone=checkout", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, readReport(t, connNear).Position)
	r := readReport(t, connFar)
	require.EqualValues(t, 200, r.Position)
	require.EqualValues(t, 20, r.ETALowSeconds)

	// The line moves by one a push interval later: the page one place
	// from the front hears of it, the page 20 s back sleeps through it.
	e.clock.Advance(middleware.DefaultPushInterval)
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	assert.EqualValues(t, 1, readReport(t, connNear).Position)
	assert.EqualValues(t, 3, middleware.FramesSent(e.h), "the far page was sent a frame before its pace")

	// A quarter of its shortest wait after its first report, the far page
	// is due: the notifier's keepalive sends it the move it slept through.
	e.clock.Advance(5*time.Second - middleware.DefaultPushInterval)
	r = readReport(t, connFar)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 199, r.Position)
}

// A page that opens its push connection right after it was told to wait
// takes the place the edge has just read: no store call. A visitor let in
// between the two hears of its turn.
func TestPushOpensFromTheEdgesRead(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	s := serve(t, e.h)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	x := e.queued(t, "/checkout")
	c := e.queued(t, "/checkout")
	connC, _, err := s.dial(t, c, "zone=checkout", nil)
	require.NoError(t, err)
	require.EqualValues(t, 2, readReport(t, connC).Position)
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.clock.Advance(middleware.DefaultPushInterval) // c's page may hear of moves again
	e.step(t)                                       // x is let in, with c's connection open: the head is known
	require.EqualValues(t, 1, readUntilPosition(t, connC, 1).Position)

	b := e.queued(t, "/checkout")
	e.store.reset()
	connB, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	r := readReport(t, connB)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 2, r.Position)
	assert.Zero(t, e.store.count(), "the connection read the store")

	// d waits too; x and c leave, and d is let in before its page opens
	// its connection: the connection tells it of its turn.
	d := e.queued(t, "/checkout")
	_, err = e.room.Release(context.Background(), "checkout", x.visitorID(t, e.room, "checkout"))
	require.NoError(t, err)
	_, err = e.room.Release(context.Background(), "checkout", c.visitorID(t, e.room, "checkout"))
	require.NoError(t, err)
	_, err = e.room.Release(context.Background(), "checkout", b.visitorID(t, e.room, "checkout"))
	require.NoError(t, err)
	e.step(t)
	connD, _, err := s.dial(t, d, "zone=checkout", nil)
	require.NoError(t, err)
	assert.Equal(t, "admitted", readReport(t, connD).State)
}

// readUntilPosition reads pushed reports until one shows position p.
func readUntilPosition(t *testing.T, conn *websocket.Conn, p int64) report {
	t.Helper()
	for range 100 {
		if r := readReport(t, conn); r.Position == p {
			return r
		}
	}
	t.Fatalf("no report of position %d", p)
	return report{}
}

func TestPushFollowsAdmissionsOnAnotherInstance(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	e := newEnv(t, z, nil)
	other, err := waitroom.New(sharedStore{e.store}, waitroom.WithZone(z), waitroom.WithClock(e.clock.Now),
		waitroom.WithManualStep(), waitroom.WithKeys(testRing(t)))
	require.NoError(t, err)
	t.Cleanup(func() { other.Close() })
	s := serve(t, e.h)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	conn, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	require.Equal(t, "waiting", readReport(t, conn).State)

	// The other instance releases a and lets b in; this one learns of it
	// from the change feed.
	_, err = other.Release(context.Background(), "checkout", a.id)
	require.NoError(t, err)
	require.NoError(t, other.Step(context.Background()))
	e.step(t) // this instance's feed reader (nothing left to admit)
	assert.Equal(t, "admitted", readReport(t, conn).State)
}

// sharedStore is a second Room's handle on a store another Room closes.
type sharedStore struct{ waitroom.Store }

func (sharedStore) Close() error { return nil }

func TestOpenConnectionKeepsThePlace(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil) // AbandonAfter 20s
	s := serve(t, e.h)
	var mu sync.Mutex
	var events []waitroom.Event
	t.Cleanup(e.room.Subscribe(func(ev waitroom.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}))
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	gone, stays := e.queued(t, "/checkout"), e.queued(t, "/checkout")
	goneID, staysID := gone.visitorID(t, e.room, "checkout"), stays.visitorID(t, e.room, "checkout")
	connGone, _, err := s.dial(t, gone, "zone=checkout", nil)
	require.NoError(t, err)
	connStays, _, err := s.dial(t, stays, "zone=checkout", nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, readReport(t, connGone).Position)
	assert.EqualValues(t, 2, readReport(t, connStays).Position)

	// gone's connection drops and never comes back.
	require.NoError(t, connGone.CloseNow())
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 1 }, 5*time.Second, time.Millisecond)

	// The open connection beats every AbandonAfter/4, one store write each
	// (its position comes from the feed); nothing speaks for gone.
	e.store.reset()
	e.clock.Advance(10 * time.Second)
	middleware.KeepAlive(e.h)
	e.clock.Advance(11 * time.Second) // gone unseen for 21s > AbandonAfter
	middleware.KeepAlive(e.h)
	assert.Equal(t, 2, e.store.count("Heartbeat"), "one heartbeat each time")
	assert.Equal(t, 2, e.store.count(), "and no other store call")
	place, err := e.store.Position(context.Background(), "checkout", staysID, e.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, t0.Add(21*time.Second), place.LastSeen, "the open connection's heartbeat")
	place, err = e.store.Position(context.Background(), "checkout", goneID, e.clock.Now())
	require.NoError(t, err)
	assert.Equal(t, t0, place.LastSeen)

	// a leaves: gone is skipped, stays goes in.
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	assert.Equal(t, "admitted", readUntil(t, connStays).State)
	mu.Lock()
	defer mu.Unlock()
	var abandoned, admitted []string
	for _, ev := range events {
		switch ev.Kind {
		case waitroom.EventAbandoned:
			abandoned = append(abandoned, ev.Visitor)
		case waitroom.EventAdmitted:
			admitted = append(admitted, ev.Visitor)
		}
	}
	assert.Equal(t, []string{goneID}, abandoned)
	assert.Equal(t, []string{staysID}, admitted)
}

func TestPushHandshakeRefusals(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), []waitroom.Option{waitroom.WithLogger(discardLogger())},
		middleware.WithMaxConnectionsPerIP(2), middleware.WithMaxConnections(3),
		middleware.WithClientIP(func(r *http.Request) string { return r.Header.Get("X-Test-Client") }),
		middleware.WithOrigins("*.shop.example", "https://partner.example"),
		middleware.WithLogger(discardLogger()))
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	ring := testRing(t)
	otherKey, err := waitroom.NewHMACKey("k1", []byte("another secret, thirty-two bytes!"))
	require.NoError(t, err)
	good := waitroom.Visitor{ID: "mallory", Zone: "checkout", Arrived: t0, IssuedAt: t0, Expires: t0.Add(time.Hour)}
	forged := signWith(t, otherKey, func(r *waitroom.KeyRing) (string, error) { return r.SignVisitor(good) })
	otherZone := good
	otherZone.Zone = "other"
	foreignZone, err := ring.SignVisitor(otherZone)
	require.NoError(t, err)
	expired := good
	expired.Expires = t0.Add(-time.Minute)
	expiredTok, err := ring.SignVisitor(expired)
	require.NoError(t, err)
	access, err := ring.SignAccess(waitroom.Access{Visitor: "mallory", Zone: "checkout", TokenID: "x", Expires: t0.Add(time.Hour)})
	require.NoError(t, err)
	host := strings.TrimPrefix(s.URL, "http://")

	for _, tc := range []struct {
		name   string
		query  string
		cookie string // "" sends b's cookies
		origin string
		code   int
	}{
		{"no visitor token", "zone=checkout", "x=1", "", http.StatusUnauthorized},
		{"forged visitor token", "zone=checkout", "wr_v_checkout=" + forged, "", http.StatusUnauthorized},
		{"visitor token of another zone", "zone=checkout", "wr_v_checkout=" + foreignZone, "", http.StatusUnauthorized},
		{"expired visitor token", "zone=checkout", "wr_v_checkout=" + expiredTok, "", http.StatusUnauthorized},
		{"access token as visitor token", "zone=checkout", "wr_v_checkout=" + access, "", http.StatusUnauthorized},
		{"8 KiB token", "zone=checkout", "wr_v_checkout=" + strings.Repeat("A", 8<<10), "", http.StatusUnauthorized},
		{"foreign origin", "zone=checkout", "", "http://evil.example", http.StatusForbidden},
		{"look-alike origin", "zone=checkout", "", "http://" + host + ".evil.example", http.StatusForbidden},
		{"null origin", "zone=checkout", "", "null", http.StatusForbidden},
		{"allowed scheme, other host", "zone=checkout", "", "https://evil.example", http.StatusForbidden},
		{"allowed pattern, wrong scheme", "zone=checkout", "", "http://partner.example", http.StatusForbidden},
		{"no zone", "", "", "", http.StatusBadRequest},
		{"malformed zone", "zone=../x", "", "", http.StatusBadRequest},
		{"unknown zone", "zone=nosuchzone", "x=1", "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"X-Test-Client": {tc.name}}
			if tc.cookie != "" {
				h.Set("Cookie", tc.cookie)
			}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			conn, res, err := s.dial(t, b, tc.query, h)
			require.Error(t, err)
			require.Nil(t, conn)
			require.NotNil(t, res)
			assert.Equal(t, tc.code, res.StatusCode)
			es := s.events(t, b, tc.query, h)
			assert.Equal(t, tc.code, es.res.StatusCode)
			msg, _ := io.ReadAll(es.res.Body)
			assert.NotContains(t, string(msg), "waitroom:")
			assert.Contains(t, string(msg), `"error"`)
		})
	}

	// Origins this Handler allows: its own host and the patterns.
	for _, origin := range []string{"http://" + host, "HTTP://" + strings.ToUpper(host), "https://www.shop.example", "https://partner.example"} {
		conn, _, err := s.dial(t, b, "zone=checkout", http.Header{"Origin": {origin}, "X-Test-Client": {origin}})
		require.NoError(t, err, origin)
		require.NoError(t, conn.Close(websocket.StatusNormalClosure, ""))
	}
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 0 }, 5*time.Second, time.Millisecond)

	// Caps: two per address, three in all.
	one := http.Header{"X-Test-Client": {"10.0.0.1"}}
	for range 2 {
		_, _, err := s.dial(t, b, "zone=checkout", one)
		require.NoError(t, err)
	}
	_, res, err := s.dial(t, b, "zone=checkout", one)
	require.Error(t, err)
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "5", res.Header.Get("Retry-After"))
	es := s.events(t, b, "zone=checkout", one)
	assert.Equal(t, http.StatusTooManyRequests, es.res.StatusCode, "the cap counts event streams too")
	third := s.events(t, b, "zone=checkout", http.Header{"X-Test-Client": {"10.0.0.2"}})
	require.Equal(t, http.StatusOK, third.res.StatusCode)
	_, ok := third.next(t)
	require.True(t, ok)
	_, res, err = s.dial(t, b, "zone=checkout", http.Header{"X-Test-Client": {"10.0.0.3"}})
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "5", res.Header.Get("Retry-After"))
	assert.Equal(t, 3, middleware.Connections(e.h))

	// Not a websocket handshake, or the wrong method.
	res, err = s.hc.Get(s.URL + "/.waitroom/ws?zone=checkout")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUpgradeRequired, res.StatusCode)
	for _, p := range []string{"/.waitroom/ws?zone=checkout", "/.waitroom/events?zone=checkout"} {
		res, err = s.hc.Post(s.URL+p, "text/plain", nil)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, res.StatusCode, p)
	}
	assert.Zero(t, e.origin.calls.Load()-1, "a push request reached the origin")
}

func TestPushEndpointsCanBeTurnedOff(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil, middleware.WithWebSocket(false), middleware.WithServerSentEvents(false))
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	_, res, err := s.dial(t, b, "zone=checkout", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Equal(t, http.StatusNotFound, s.events(t, b, "zone=checkout", nil).res.StatusCode)
	page := body(b.get("/checkout"))
	assert.Contains(t, page, `var socketURL = "";`)
	assert.Contains(t, page, `var eventsURL = "";`)

	e = newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	page = body(e.queued(t, "/checkout/seat?row=7").get("/checkout/seat?row=7"))
	assert.Contains(t, page, `var socketURL = "/.waitroom/ws?return=%2Fcheckout%2Fseat%3Frow%3D7\u0026zone=checkout";`)
	assert.Contains(t, page, `var eventsURL = "/.waitroom/events?return=%2Fcheckout%2Fseat%3Frow%3D7\u0026zone=checkout";`)
}

func TestHandlerCloseEndsPushConnections(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	conn, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	readReport(t, conn)
	es := s.events(t, b, "zone=checkout", nil)
	_, ok := es.next(t)
	require.True(t, ok)

	// The client answers the close handshake (a browser does); Close
	// waits for it.
	code := make(chan websocket.StatusCode, 1)
	go func() {
		_, _, err := conn.Read(context.Background())
		code <- websocket.CloseStatus(err)
	}()
	require.NoError(t, e.h.Close())
	assert.Zero(t, middleware.Connections(e.h), "Close returned before its connections ended")
	assert.Equal(t, websocket.StatusGoingAway, <-code)
	_, ok = es.next(t)
	assert.False(t, ok)
	_, res, err := s.dial(t, b, "zone=checkout", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
}

func TestRoomCloseEndsPushConnections(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	conn, _, err := s.dial(t, e.queued(t, "/checkout"), "zone=checkout", nil)
	require.NoError(t, err)
	readReport(t, conn)
	require.NoError(t, e.room.Close())
	assert.Equal(t, websocket.StatusGoingAway, closeStatus(t, conn))
}

func TestServerShutdownEndsPushConnections(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: e.h, ErrorLog: stdlog.New(io.Discard, "", 0)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s := &pushServer{Server: &httptest.Server{URL: "http://" + ln.Addr().String()}, hc: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(s.hc.CloseIdleConnections)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	conn, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	readReport(t, conn)
	es := s.events(t, b, "zone=checkout", nil)
	_, ok := es.next(t)
	require.True(t, ok)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx), "an event stream held the shutdown")
	require.ErrorIs(t, <-served, http.ErrServerClosed)
	assert.Equal(t, websocket.StatusGoingAway, closeStatus(t, conn))
	_, ok = es.next(t)
	assert.False(t, ok)
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 0 }, 5*time.Second, time.Millisecond)
}

func TestStatusReportsClaimURLOnceAdmitted(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	_, rep := b.getJSON("/.waitroom/status?zone=checkout&return=%2Fcheckout%2Fx")
	assert.Empty(t, rep.ClaimURL)
	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	_, rep = b.getJSON("/.waitroom/status?zone=checkout&return=%2Fcheckout%2Fx")
	assert.Equal(t, "admitted", rep.State)
	assert.Equal(t, "/.waitroom/claim?return=%2Fcheckout%2Fx&zone=checkout", rep.ClaimURL)
	// A return under the prefix, or off the site, goes to "/".
	for _, ret := range []string{"%2F.waitroom%2Fstatus", "https%3A%2F%2Fevil.example"} {
		_, rep = b.getJSON("/.waitroom/status?zone=checkout&return=" + ret)
		assert.Equal(t, "/.waitroom/claim?return=%2F&zone=checkout", rep.ClaimURL, ret)
	}
}

func TestPushReportsAStoreOutage(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	z.AbandonAfter = time.Minute // heartbeats every 15s
	e := newEnv(t, z, []waitroom.Option{waitroom.WithLogger(discardLogger())}, middleware.WithLogger(discardLogger()))
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	conn, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	require.Equal(t, "waiting", readReport(t, conn).State)

	e.store.down.Store(true)
	_, res, err := s.dial(t, b, "zone=checkout", nil)
	require.Error(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "a handshake needs the store")
	assert.Equal(t, "5", res.Header.Get("Retry-After"))

	// The heartbeats fail, each tried again 5 seconds later; once the
	// place has gone unheard for half the abandonment timeout (30 s), the
	// page is told, and the connection stays.
	for _, d := range []time.Duration{15, 5, 5, 5} {
		e.clock.Advance(d * time.Second)
		middleware.KeepAlive(e.h)
	}
	r := readReport(t, conn)
	for r.State == "waiting" { // the reports before, as the ETA moved
		r = readReport(t, conn)
	}
	assert.Equal(t, "unavailable", r.State)
	assert.Equal(t, 5, r.RetryAfterSeconds)

	// It asks again 5 seconds later, not at the next heartbeat.
	e.store.down.Store(false)
	e.clock.Advance(5 * time.Second)
	middleware.KeepAlive(e.h)
	r = readReport(t, conn)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 1, r.Position)
}

// A heartbeat that fails while the place is safe is tried again a few
// seconds later, and the page is not told.
func TestPushRidesOutABriefStoreFailure(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	z.AbandonAfter = time.Minute // heartbeats every 15s
	e := newEnv(t, z, []waitroom.Option{waitroom.WithLogger(discardLogger())}, middleware.WithLogger(discardLogger()))
	s := serve(t, e.h)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	conn, _, err := s.dial(t, b, "zone=checkout", nil)
	require.NoError(t, err)
	require.Equal(t, "waiting", readReport(t, conn).State)

	e.store.down.Store(true)
	e.clock.Advance(15 * time.Second)
	middleware.KeepAlive(e.h) // fails: 15 s unheard, the place is safe
	// The report that follows the heartbeat (its ETA has moved) does not
	// tell of the failure.
	r := readReport(t, conn)
	assert.Equal(t, "waiting", r.State)
	assert.EqualValues(t, 1, r.Position)
	beats := e.store.count("Heartbeat")
	e.store.down.Store(false)
	e.clock.Advance(5 * time.Second)
	middleware.KeepAlive(e.h) // tried again 5 s later, not 15
	assert.Equal(t, beats+1, e.store.count("Heartbeat"), "the failed heartbeat is tried again 5 s later, a heartbeat again")

	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	assert.Equal(t, "admitted", readUntil(t, conn).State)
}

func TestPushTellsOfZoneChangesAndTheSalesEnd(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	e := newEnv(t, z, nil)
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	conn, _, err := s.dial(t, e.queued(t, "/checkout"), "zone=checkout", nil)
	require.NoError(t, err)
	r := readReport(t, conn)
	require.Nil(t, r.OpensAt)

	// New settings (another instance's, through the feed): the sale now
	// opens in an hour and ends a minute after.
	z.OpensAt, z.ClosesAt = t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)
	require.NoError(t, e.room.AddZone(context.Background(), z))
	e.step(t)
	r = readReport(t, conn)
	require.NotNil(t, r.OpensAt)
	assert.Equal(t, "2026-03-01T11:00:00Z", *r.OpensAt)
	assert.GreaterOrEqual(t, r.ETASeconds, int64(3600))

	e.clock.Set(z.ClosesAt)
	middleware.KeepAlive(e.h)
	assert.Equal(t, "closed", readUntil(t, conn).State)
}

func TestEventStreamEndsAfterItsLifetime(t *testing.T) {
	noLeaks(t)
	z := checkoutZone(1)
	z.AbandonAfter = 4 * time.Second // streams last AbandonAfter/2
	e := newEnv(t, z, nil, middleware.WithManualKeepAlive())
	s := serve(t, e.h)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	es := s.events(t, e.queued(t, "/checkout"), "zone=checkout", nil)
	require.Equal(t, http.StatusOK, es.res.StatusCode)
	_, ok := es.next(t)
	require.True(t, ok)
	require.Equal(t, 1, middleware.Connections(e.h))

	// Its lifetime is counted on the Room's clock: not over a moment
	// before its end...
	e.clock.Advance(2*time.Second - time.Millisecond)
	middleware.KeepAlive(e.h)
	assert.Equal(t, 1, middleware.Connections(e.h))
	// ...and over at its end: the server ends it. A client that vanished
	// stops counting as present; a browser opens the stream again.
	e.clock.Advance(time.Millisecond)
	middleware.KeepAlive(e.h)
	for {
		r, ok := es.next(t)
		if !ok {
			break
		}
		assert.Equal(t, "waiting", r.State, "the reports before its end, as the ETA moved")
	}
	assert.NoError(t, es.sc.Err())
	require.Eventually(t, func() bool { return middleware.Connections(e.h) == 0 }, 5*time.Second, time.Millisecond)
}

func TestMaxRetryAfterCapsRefreshAndPolls(t *testing.T) {
	z := checkoutZone(1)
	z.AbandonAfter = 10 * time.Minute // a third of it would allow 30s
	for _, tc := range []struct {
		opt  middleware.Option
		want string
	}{
		{nil, "6"}, // a tenth of the expected minute
		{middleware.WithMaxRetryAfter(time.Second), "1"},
		{middleware.WithMaxRetryAfter(1500 * time.Millisecond), "1"}, // whole seconds
		{middleware.WithMaxRetryAfter(100 * time.Millisecond), "1"},  // at least 1
		{middleware.WithMaxRetryAfter(0), "6"},                       // the default
	} {
		e := newEnv(t, z, nil, tc.opt)
		require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
		c := e.client()
		res := c.get("/checkout")
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Equal(t, tc.want, res.Header.Get("Retry-After"))
		assert.Contains(t, body(res), `<noscript><meta http-equiv="refresh" content="`+tc.want+`"></noscript>`)
		_, rep := c.getJSON("/.waitroom/status?zone=checkout")
		assert.Equal(t, tc.want, fmt.Sprint(rep.RetryAfterSeconds))
	}
}

// flushRecorder is a ResponseWriter that keeps what each Flush sent and
// ends the request's context after the first.
type flushRecorder struct {
	header  http.Header
	buf     strings.Builder
	flushes []string
	first   context.CancelFunc
}

func (r *flushRecorder) Header() http.Header         { return r.header }
func (r *flushRecorder) WriteHeader(int)             {}
func (r *flushRecorder) Write(p []byte) (int, error) { return r.buf.Write(p) }
func (r *flushRecorder) Flush() {
	r.flushes = append(r.flushes, r.buf.String())
	r.buf.Reset()
	r.first()
}

// An event stream opens with one write: the reconnection time and the
// first report, not a write for each.
func TestEventStreamOpensInOneWrite(t *testing.T) {
	noLeaks(t)
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.queued(t, "/checkout")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/.waitroom/events?zone=checkout", nil)
	req.Header = withCookies(b, nil)
	rec := &flushRecorder{header: http.Header{}, first: cancel}
	e.h.ServeHTTP(rec, req)
	require.NotEmpty(t, rec.flushes, "the stream sent nothing")
	first := rec.flushes[0]
	assert.True(t, strings.HasPrefix(first, "retry: "), first)
	assert.Contains(t, first, "\n\ndata: {\"state\":\"waiting\"", "the first report goes out with the reconnection time")
}
