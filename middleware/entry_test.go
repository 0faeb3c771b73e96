package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/middleware"
)

// The entry limit of these tests: 30 new places a minute (one every 2 s),
// a burst of 10.
const (
	testEntryPerMinute = 30
	testEntryBurst     = 10
)

// peer is a client at a network address: its requests have that
// RemoteAddr. A cookieless peer sends no cookies and keeps none, as a
// script minting places does.
type peer struct {
	h      http.Handler
	remote string
	jar    *cookiejar.Jar // nil: cookieless
}

func newPeer(h http.Handler, remote string, cookies bool) *peer {
	p := &peer{h: h, remote: remote}
	if cookies {
		p.jar, _ = cookiejar.New(nil)
	}
	return p
}

func (p *peer) do(method, target string, header http.Header) *http.Response {
	req := httptest.NewRequest(method, site+target, nil)
	req.RemoteAddr = p.remote
	if p.jar != nil {
		for _, ck := range p.jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	res := rec.Result()
	if p.jar != nil {
		p.jar.SetCookies(req.URL, res.Cookies())
	}
	return res
}

func (p *peer) get(target string) *http.Response { return p.do(http.MethodGet, target, nil) }

// gotPlace reports whether res gave its client a place in line: a
// visitor cookie.
func gotPlace(res *http.Response) bool {
	for _, c := range res.Cookies() {
		if c.Name == "wr_v_checkout" && c.Value != "" {
			return true
		}
	}
	return false
}

// waiting returns the places in the checkout line.
func (e *env) waiting(t testing.TB) int64 {
	t.Helper()
	s, err := e.room.Stats(context.Background(), "checkout")
	require.NoError(t, err)
	return s.Waiting
}

// fullEnv is a checkout zone of capacity 1 with one visitor inside (from
// an address of its own), so that every newcomer is given a place in line.
// It returns the visitor inside too, who came with the answer the entry
// checks of these tests allow (X-Answer: 42).
func fullEnv(t *testing.T, opts ...middleware.Option) (*env, string) {
	t.Helper()
	e := newEnv(t, checkoutZone(1), nil, opts...)
	res := newPeer(e.h, "198.51.100.250:1", true).do(http.MethodGet, "/checkout", http.Header{"X-Answer": {"42"}})
	require.Equal(t, http.StatusOK, res.StatusCode)
	inside, ok := strings.CutPrefix(body(res), "inside ")
	require.True(t, ok)
	require.Zero(t, e.waiting(t))
	return e, inside
}

// flood sends n cookieless requests for /checkout from remote, with the
// headers of hdr(i), and returns how many were given a place.
func flood(e *env, remote string, n int, hdr func(i int) http.Header) int {
	p := newPeer(e.h, remote, false)
	places := 0
	for i := range n {
		var h http.Header
		if hdr != nil {
			h = hdr(i)
		}
		if gotPlace(p.do(http.MethodGet, "/checkout", h)) {
			places++
		}
	}
	return places
}

func TestEntryLimitFlood(t *testing.T) {
	e, _ := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, testEntryBurst))

	// The first burst of one client gets places; what the store did for
	// them is all the flood costs it.
	e.store.reset()
	assert.Equal(t, testEntryBurst, flood(e, "203.0.113.5:4000", testEntryBurst, nil))
	calls := e.store.count()
	assert.Zero(t, flood(e, "203.0.113.5:4000", 9990, nil), "10,000 requests, %d places", testEntryBurst)
	assert.Equal(t, calls, e.store.count(), "a refused newcomer costs no store call")
	assert.EqualValues(t, testEntryBurst, e.waiting(t), "the line grew by the burst, not by the flood")

	// The refusal: 429, the wait until its next place, no cookie.
	p := newPeer(e.h, "203.0.113.5:4001", true)
	res := p.do(http.MethodGet, "/checkout", jsonAccept)
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "2", res.Header.Get("Retry-After"), "one place every 2 s")
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Empty(t, res.Cookies())
	var refusal struct {
		Error      string `json:"error"`
		RetryAfter int    `json:"retry_after_seconds"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&refusal))
	assert.NotEmpty(t, refusal.Error)
	assert.Equal(t, 2, refusal.RetryAfter)
	page := p.get("/checkout")
	assert.Equal(t, http.StatusTooManyRequests, page.StatusCode)
	assert.Contains(t, body(page), `<meta http-equiv="refresh" content="2">`, "a browser asks again by itself")

	// Another client is not held back by the first one's flood.
	assert.True(t, gotPlace(newPeer(e.h, "203.0.113.6:4000", false).get("/checkout")))
	assert.EqualValues(t, testEntryBurst+1, e.waiting(t))

	// Time refills the first client's bucket at the configured rate: one
	// place every 2 s, however often it asks in between.
	places := 0
	for range 30 {
		e.clock.Advance(time.Second)
		places += flood(e, "203.0.113.5:4000", 100, nil)
	}
	assert.Equal(t, 15, places, "30 s at 30 a minute")
	e.clock.Advance(time.Hour)
	assert.Equal(t, testEntryBurst, flood(e, "203.0.113.5:4000", 100, nil), "an idle bucket holds at most the burst")
	assert.EqualValues(t, 2*testEntryBurst+1+15, e.waiting(t))
}

func TestEntryLimitIPv6CountsBySubnet(t *testing.T) {
	e, _ := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, testEntryBurst))
	n := flood(e, "[2001:db8:1:2::1]:4000", 6, nil) + flood(e, "[2001:db8:1:2:ffff::9]:4000", 6, nil)
	assert.Equal(t, testEntryBurst, n, "one /64 is one client")
	assert.Equal(t, 1, flood(e, "[2001:db8:1:3::1]:4000", 1, nil), "the next /64 is another")
}

func TestEntryLimitOffByDefault(t *testing.T) {
	e, _ := fullEnv(t)
	assert.Equal(t, 50, flood(e, "203.0.113.5:4000", 50, nil))
}

func TestEntryLimitSpoofedForwardedFor(t *testing.T) {
	e, _ := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, testEntryBurst),
		middleware.WithTrustedProxies(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")))
	rnd := rand.New(rand.NewPCG(1, 2))
	randomXFF := func(int) http.Header {
		a := netip.AddrFrom4([4]byte{byte(rnd.IntN(223) + 1), byte(rnd.IntN(256)), byte(rnd.IntN(256)), byte(rnd.IntN(256))})
		return http.Header{"X-Forwarded-For": {a.String()}, "Forwarded": {"for=" + a.String()}}
	}

	// From an untrusted peer the headers are the client's own word: its
	// flood is one client's.
	assert.Equal(t, testEntryBurst, flood(e, "203.0.113.5:4000", 1000, randomXFF))

	// From a trusted proxy they name the clients: 50 clients, 50 places.
	n := 0
	for i := range 50 {
		h := http.Header{"X-Forwarded-For": {fmt.Sprintf("192.0.2.%d, 10.0.0.2", i+1)}}
		n += flood(e, "10.0.0.1:5000", 1, func(int) http.Header { return h })
	}
	assert.Equal(t, 50, n)
	fwd := http.Header{"Forwarded": {`for="[2001:db8:9::1]:4711";proto=https`}}
	assert.Equal(t, 1, flood(e, "[fd00::1]:443", 1, func(int) http.Header { return fwd }), "Forwarded, over IPv6")

	// One of them flooding through the proxy is limited, and a spoof
	// left of the proxy's own entry does not help it.
	spoof := func(int) http.Header {
		h := randomXFF(0)
		h["X-Forwarded-For"] = []string{h.Get("X-Forwarded-For") + ", 192.0.2.200"}
		return h
	}
	assert.Equal(t, testEntryBurst, flood(e, "10.0.0.1:5000", 1000, spoof))
	assert.EqualValues(t, 2*testEntryBurst+51, e.waiting(t))
}

func TestEntryLimitCountsByClientIPOption(t *testing.T) {
	e, _ := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, 2),
		middleware.WithClientIP(func(r *http.Request) string { return r.Header.Get("X-Test-Client") }))
	hdr := func(c string) func(int) http.Header {
		return func(int) http.Header { return http.Header{"X-Test-Client": {c}} }
	}
	assert.Equal(t, 2, flood(e, "203.0.113.5:4000", 10, hdr("a")))
	assert.Equal(t, 2, flood(e, "203.0.113.5:4000", 10, hdr("b")))
}

func TestEntryLimitSparesKnownVisitors(t *testing.T) {
	e, inside := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, 1))
	c := newPeer(e.h, "203.0.113.5:4000", true)
	require.True(t, gotPlace(c.get("/checkout")))
	require.False(t, gotPlace(newPeer(e.h, "203.0.113.5:4000", false).get("/checkout")), "the burst of 1 is spent")

	// Its own repeat requests are answered with its place, however many.
	for range 100 {
		res := c.do(http.MethodGet, "/checkout", jsonAccept)
		require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		var rep report
		require.NoError(t, json.NewDecoder(res.Body).Decode(&rep))
		require.Equal(t, "waiting", rep.State)
		require.EqualValues(t, 1, rep.Position)
	}

	// Its cookie replayed from many clients is that one place, not more.
	ck := c.jar.Cookies(httptest.NewRequest(http.MethodGet, site+"/", nil).URL)
	for i := range 100 {
		req := httptest.NewRequest(http.MethodGet, site+"/checkout", nil)
		req.RemoteAddr = fmt.Sprintf("198.18.%d.%d:1", i/256, i%256)
		for _, k := range ck {
			req.AddCookie(k)
		}
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusTooManyRequests, rec.Code)
		require.Empty(t, rec.Result().Cookies(), "no new place")
	}
	assert.EqualValues(t, 1, e.waiting(t))

	// Once let in, its access cookie carries it, limit or not.
	released, err := e.room.Release(context.Background(), "checkout", inside)
	require.NoError(t, err)
	require.True(t, released)
	e.step(t)
	claim := c.get("/.waitroom/claim?zone=checkout&return=/checkout")
	require.Equal(t, http.StatusSeeOther, claim.StatusCode)
	for range 20 {
		require.Equal(t, http.StatusOK, c.get("/checkout").StatusCode)
	}
}

// recordingCheck is an EntryCheck that counts its calls and answers what
// decide says.
type recordingCheck struct {
	calls  atomic.Int64
	zones  sync.Map
	decide func(r *http.Request) (middleware.EntryDecision, error)
}

func (c *recordingCheck) CheckEntry(r *http.Request, zone string) (middleware.EntryDecision, error) {
	c.calls.Add(1)
	c.zones.Store(zone, true)
	return c.decide(r)
}

func TestEntryCheck(t *testing.T) {
	challenge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, "prove you are human: send X-Answer")
	})
	check := &recordingCheck{decide: func(r *http.Request) (middleware.EntryDecision, error) {
		switch {
		case r.Header.Get("X-Bot") != "":
			return middleware.DenyEntry(), nil
		case r.Header.Get("X-Slow-Down") != "":
			return middleware.ThrottleEntry(7 * time.Second), nil
		case r.Header.Get("X-Answer") == "42":
			return middleware.AllowEntry(), nil
		case r.Header.Get("X-Zero") != "":
			return middleware.EntryDecision{}, nil
		case r.Header.Get("X-Nil-Challenge") != "":
			return middleware.ChallengeEntry(nil), nil
		}
		return middleware.ChallengeEntry(challenge), nil
	}}
	e, _ := fullEnv(t, middleware.WithEntryCheck(check))
	check.calls.Store(0)
	e.store.reset()
	h := func(k, v string) http.Header { return http.Header{k: {v}} }

	t.Run("deny", func(t *testing.T) {
		p := newPeer(e.h, "203.0.113.1:1", true)
		res := p.do(http.MethodGet, "/checkout", h("X-Bot", "1"))
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		assert.Empty(t, res.Cookies())
		assert.Contains(t, body(res), "Entry refused")
		res = p.do(http.MethodGet, "/checkout", http.Header{"X-Bot": {"1"}, "Accept": {"application/json"}})
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		assert.JSONEq(t, `{"error":"entry refused"}`, body(res))
		res = p.do(http.MethodGet, "/checkout", h("X-Nil-Challenge", "1"))
		assert.Equal(t, http.StatusForbidden, res.StatusCode, "a challenge without a handler denies")
	})
	t.Run("throttle", func(t *testing.T) {
		res := newPeer(e.h, "203.0.113.1:1", true).do(http.MethodGet, "/checkout", h("X-Slow-Down", "1"))
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
		assert.Equal(t, "7", res.Header.Get("Retry-After"))
		assert.Empty(t, res.Cookies())
	})
	t.Run("challenge, then allow", func(t *testing.T) {
		p := newPeer(e.h, "203.0.113.1:1", true)
		res := p.get("/checkout")
		assert.Equal(t, http.StatusForbidden, res.StatusCode)
		assert.Equal(t, "prove you are human: send X-Answer", body(res))
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		assert.Empty(t, res.Cookies())
		assert.Zero(t, e.store.count("Register", "Enter"), "no place asked of the store before the answer")

		res = p.do(http.MethodGet, "/checkout", h("X-Answer", "42"))
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "the waiting page")
		assert.True(t, gotPlace(res))
		calls := check.calls.Load()
		for range 10 {
			assert.Equal(t, http.StatusTooManyRequests, p.get("/checkout").StatusCode)
		}
		assert.Equal(t, calls, check.calls.Load(), "a visitor with a place is not checked again")
	})
	t.Run("zero decision allows", func(t *testing.T) {
		assert.True(t, gotPlace(newPeer(e.h, "203.0.113.1:1", true).do(http.MethodGet, "/checkout", h("X-Zero", "1"))))
	})
	_, ok := check.zones.Load("checkout")
	assert.True(t, ok, "the check is told the zone")
	assert.EqualValues(t, 2, e.waiting(t))
}

func TestEntryCheckErrorFailsClosed(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	var fail atomic.Bool
	check := middleware.EntryCheckFunc(func(r *http.Request, zone string) (middleware.EntryDecision, error) {
		if fail.Load() {
			return middleware.DenyEntry(), errors.New("verifier: dial tcp 10.1.2.3:443: secret-token-xyz refused")
		}
		return middleware.AllowEntry(), nil
	})
	e, _ := fullEnv(t, middleware.WithEntryCheck(check), middleware.WithLogger(logger))
	fail.Store(true)

	for _, accept := range []string{"text/html", "application/json"} {
		res := newPeer(e.h, "203.0.113.1:1", true).do(http.MethodGet, "/checkout", http.Header{"Accept": {accept}})
		assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
		assert.NotEmpty(t, res.Header.Get("Retry-After"))
		assert.Empty(t, res.Cookies())
		b := body(res)
		for _, leak := range []string{"secret", "verifier", "10.1.2.3", "dial"} {
			assert.NotContains(t, b, leak)
		}
	}
	assert.Zero(t, e.waiting(t))
	mu.Lock()
	assert.Equal(t, 1, strings.Count(logs.String(), "entry check failed"), "one line for a run of failures")
	assert.Contains(t, logs.String(), "secret-token-xyz", "the log has the error")
	mu.Unlock()

	fail.Store(false)
	assert.True(t, gotPlace(newPeer(e.h, "203.0.113.1:1", true).get("/checkout")))
	mu.Lock()
	assert.Contains(t, logs.String(), "entry check working again")
	mu.Unlock()
}

func TestEntryLimitRunsBeforeCheck(t *testing.T) {
	check := &recordingCheck{decide: func(*http.Request) (middleware.EntryDecision, error) {
		return middleware.AllowEntry(), nil
	}}
	e, _ := fullEnv(t, middleware.WithEntryLimit(testEntryPerMinute, 3), middleware.WithEntryCheck(check))
	check.calls.Store(0)
	assert.Equal(t, 3, flood(e, "203.0.113.5:4000", 100, nil))
	assert.EqualValues(t, 3, check.calls.Load(), "a newcomer over the limit costs the check nothing")
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
