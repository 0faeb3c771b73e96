package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func testRing(tb testing.TB) *waitroom.KeyRing {
	tb.Helper()
	k, err := waitroom.NewHMACKey("k1", testSecret)
	require.NoError(tb, err)
	ring, err := waitroom.NewKeyRing(k)
	require.NoError(tb, err)
	return ring
}

// checkoutZone is the zone most tests use: /checkout, generous admission
// rate so capacity is the limit.
func checkoutZone(capacity int) waitroom.Zone {
	return waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: capacity, AdmitPerSecond: 1000,
		Session: time.Minute, ClaimWindow: 30 * time.Second, AbandonAfter: 20 * time.Second,
	}
}

// countingStore counts every Store call per operation and can play a
// store that is down.
type countingStore struct {
	waitroom.Store
	mu    sync.Mutex
	calls map[string]int
	down  atomic.Bool
}

func newCountingStore() *countingStore {
	return &countingStore{Store: memstore.New(), calls: make(map[string]int)}
}

func (s *countingStore) op(name string) error {
	s.mu.Lock()
	s.calls[name]++
	s.mu.Unlock()
	if s.down.Load() {
		return fmt.Errorf("test store: %w: connection refused", waitroom.ErrStoreUnavailable)
	}
	return nil
}

// count returns the calls of the named operations, all of them if none
// is named.
func (s *countingStore) count(ops ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	if len(ops) == 0 {
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	for _, o := range ops {
		n += s.calls[o]
	}
	return n
}

func (s *countingStore) reset() {
	s.mu.Lock()
	clear(s.calls)
	s.mu.Unlock()
}

func (s *countingStore) PutZone(ctx context.Context, z waitroom.ZoneState, now time.Time) (waitroom.ZoneState, error) {
	if err := s.op("PutZone"); err != nil {
		return waitroom.ZoneState{}, err
	}
	return s.Store.PutZone(ctx, z, now)
}

func (s *countingStore) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	if err := s.op("Zone"); err != nil {
		return waitroom.ZoneState{}, err
	}
	return s.Store.Zone(ctx, zone)
}

func (s *countingStore) Register(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if err := s.op("Register"); err != nil {
		return waitroom.Place{}, err
	}
	return s.Store.Register(ctx, zone, visitor, now)
}

func (s *countingStore) Position(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Place, error) {
	if err := s.op("Position"); err != nil {
		return waitroom.Place{}, err
	}
	return s.Store.Position(ctx, zone, visitor, now)
}

func (s *countingStore) Heartbeat(ctx context.Context, zone, visitor string, now time.Time) error {
	if err := s.op("Heartbeat"); err != nil {
		return err
	}
	return s.Store.Heartbeat(ctx, zone, visitor, now)
}

func (s *countingStore) Enter(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, bool, error) {
	if err := s.op("Enter"); err != nil {
		return waitroom.Slot{}, false, err
	}
	return s.Store.Enter(ctx, zone, visitor, now)
}

func (s *countingStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	if err := s.op("Exchange"); err != nil {
		return waitroom.Exchange{}, err
	}
	return s.Store.Exchange(ctx, zone, now, limit)
}

func (s *countingStore) Claim(ctx context.Context, zone, visitor string, now time.Time) (waitroom.Slot, error) {
	if err := s.op("Claim"); err != nil {
		return waitroom.Slot{}, err
	}
	return s.Store.Claim(ctx, zone, visitor, now)
}

func (s *countingStore) Release(ctx context.Context, zone, visitor string, now time.Time) (bool, error) {
	if err := s.op("Release"); err != nil {
		return false, err
	}
	return s.Store.Release(ctx, zone, visitor, now)
}

func (s *countingStore) Stats(ctx context.Context, zone string, now time.Time) (waitroom.ZoneStats, error) {
	if err := s.op("Stats"); err != nil {
		return waitroom.ZoneStats{}, err
	}
	return s.Store.Stats(ctx, zone, now)
}

func (s *countingStore) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	if err := s.op("ReadFeed"); err != nil {
		return nil, err
	}
	return s.Store.ReadFeed(ctx, zone, after, limit, wait)
}

// origin is the protected app: it counts its calls and the requests in
// flight, names the visitor inside, and releases the slot on
// /checkout/done through the release header.
type origin struct {
	calls       atomic.Int64
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
	hold        func(r *http.Request) // runs inside the request, if set
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.inFlight.Add(1)
	defer o.inFlight.Add(-1)
	for m := o.maxInFlight.Load(); n > m && !o.maxInFlight.CompareAndSwap(m, n); m = o.maxInFlight.Load() {
	}
	o.calls.Add(1)
	if o.hold != nil {
		o.hold(r)
	}
	if strings.HasSuffix(r.URL.Path, "/done") {
		w.Header().Set(middleware.DefaultReleaseHeader, "1")
	}
	if a, ok := middleware.AccessFrom(r.Context()); ok {
		fmt.Fprintf(w, "inside %s", a.Visitor)
		return
	}
	io.WriteString(w, "open")
}

// env is a Room on a manual clock over a counting memory store, with the
// middleware in front of an origin.
type env struct {
	clock  *waitroomtest.Clock
	store  *countingStore
	room   *waitroom.Room
	origin *origin
	h      *middleware.Handler
}

func newEnv(t testing.TB, z waitroom.Zone, roomOpts []waitroom.Option, opts ...middleware.Option) *env {
	t.Helper()
	e := &env{clock: waitroomtest.NewClock(t0), store: newCountingStore(), origin: &origin{}}
	ro := append([]waitroom.Option{
		waitroom.WithZone(z), waitroom.WithClock(e.clock.Now), waitroom.WithManualStep(), waitroom.WithKeys(testRing(t)),
	}, roomOpts...)
	var err error
	e.room, err = waitroom.New(e.store, ro...)
	require.NoError(t, err)
	t.Cleanup(func() { e.room.Close() })
	e.h = middleware.Wrap(e.room, e.origin, opts...)
	t.Cleanup(func() { e.h.Close() })
	return e
}

func (e *env) step(t *testing.T) {
	t.Helper()
	require.NoError(t, e.room.Step(context.Background()))
}

func (e *env) client() *client { return newClient(e.h) }

// client is one browser: its own cookie jar, requests served in process.
type client struct {
	h   http.Handler
	jar *cookiejar.Jar
	id  string // visitor id, learnt from the origin's answer
}

func newClient(h http.Handler) *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, jar: jar}
}

const site = "http://shop.example"

func (c *client) do(method, target string, header http.Header) *http.Response {
	req := httptest.NewRequest(method, site+target, nil)
	for _, ck := range c.jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	res := rec.Result()
	c.jar.SetCookies(req.URL, res.Cookies())
	if b, _ := io.ReadAll(res.Body); len(b) > 0 {
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		if id, ok := strings.CutPrefix(string(b), "inside "); ok {
			c.id = id
		}
	}
	return res
}

func (c *client) get(target string) *http.Response { return c.do(http.MethodGet, target, nil) }

var jsonAccept = http.Header{"Accept": {"application/json"}}

// report mirrors the JSON the middleware answers with.
type report struct {
	State             string  `json:"state"`
	Zone              string  `json:"zone"`
	Position          int64   `json:"position"`
	Ahead             int64   `json:"ahead"`
	ETASeconds        int64   `json:"eta_seconds"`
	ETALowSeconds     int64   `json:"eta_low_seconds"`
	ETAHighSeconds    int64   `json:"eta_high_seconds"`
	OpensAt           *string `json:"opens_at"`
	Drawn             bool    `json:"drawn"`
	RetryAfterSeconds int     `json:"retry_after_seconds"`
	Progress          int     `json:"progress"`
	ETAText           string  `json:"eta_text"`
	ETARangeText      *string `json:"eta_range_text"`
	Closed            string  `json:"closed"`
	StatusURL         string  `json:"status_url"`
	ClaimURL          string  `json:"claim_url"`
}

// getJSON requests target as JSON; rep is zero unless the answer is JSON.
func (c *client) getJSON(target string) (*http.Response, report) {
	res := c.do(http.MethodGet, target, jsonAccept)
	var rep report
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		b, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		_ = json.Unmarshal(b, &rep)
	}
	return res, rep
}

func body(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	res.Body = io.NopCloser(strings.NewReader(string(b)))
	return string(b)
}

// cookie returns the named cookie the client holds, or nil.
func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(site)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
