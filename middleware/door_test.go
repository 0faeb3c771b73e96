package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// anyPathOrigin answers every path, as many real origins do for the
// spellings of waitroomtest.Spellings, and records the request targets it
// was sent.
type anyPathOrigin struct {
	mu   sync.Mutex
	seen []string
}

func (o *anyPathOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.seen = append(o.seen, r.RequestURI)
	o.mu.Unlock()
	fmt.Fprint(w, "the checkout page")
}

// take returns the targets seen since the last call.
func (o *anyPathOrigin) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.seen
	o.seen = nil
	return s
}

// redisForTests opens a store on the shared test Redis: a failure in CI,
// a skip elsewhere.
func redisForTests(t *testing.T) waitroom.Store {
	u := os.Getenv("WAITROOM_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := redisstore.Open(ctx, u, redisstore.WithPrefix(fmt.Sprintf("door-%08x", rand.Uint32())), redisstore.WithCallerClock())
	if err == nil {
		if _, err = s.Zone(ctx, "door-probe"); errors.Is(err, waitroom.ErrZoneNotFound) {
			err = nil
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Redis at %s: %v", u, err)
		}
		t.Skipf("no Redis at %s (%v): start one or set WAITROOM_REDIS_URL; scripts/test.sh does both", u, err)
	}
	return s
}

// TestNoSpellingWalksPastTheZone sends every spelling of /checkout that a
// common origin routes to the checkout page through a real reverse proxy
// while the zone queues: none reaches the origin without an access token;
// with one, the origin is given the canonical spelling; unprotected paths
// reach it as they were sent.
func TestNoSpellingWalksPastTheZone(t *testing.T) {
	for name, open := range map[string]func(*testing.T) waitroom.Store{
		"memory": func(*testing.T) waitroom.Store { return memstore.New() },
		"redis":  redisForTests,
	} {
		t.Run(name, func(t *testing.T) {
			origin := &anyPathOrigin{}
			srv := httptest.NewServer(origin)
			t.Cleanup(srv.Close)
			u, err := url.Parse(srv.URL)
			require.NoError(t, err)

			clock := waitroomtest.NewClock(t0)
			room, err := waitroom.New(open(t), waitroom.WithZone(checkoutZone(1)), waitroom.WithClock(clock.Now),
				waitroom.WithManualStep(), waitroom.WithKeys(testRing(t)))
			require.NoError(t, err)
			t.Cleanup(func() { room.Close() })
			h := middleware.Wrap(room, httputil.NewSingleHostReverseProxy(u), middleware.WithLogger(discardLogger()))
			t.Cleanup(func() { h.Close() })

			inside := newClient(h)
			require.Equal(t, http.StatusOK, inside.get("/checkout").StatusCode)
			require.Equal(t, http.StatusTooManyRequests, newClient(h).get("/checkout").StatusCode, "the zone queues")
			origin.take()

			for _, target := range waitroomtest.Spellings("/checkout") {
				res := newClient(h).get(target)
				assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, "%s without a token", target)
				assert.Empty(t, origin.take(), "%s reached the origin without a token", target)

				res = inside.get(target)
				assert.Equal(t, http.StatusOK, res.StatusCode, "%s with the token", target)
				parsed, err := url.ParseRequestURI(target)
				require.NoError(t, err)
				want := (&url.URL{Path: waitroom.CanonicalPath(parsed.Path)}).EscapedPath()
				if waitroom.CanonicalPath(parsed.Path) == parsed.Path {
					want = target // canonical already: forwarded as sent
				}
				assert.Equal(t, []string{want}, origin.take(), "%s: what the origin is given", target)
			}
			for _, target := range []string{"/", "/about?x=1", "/a%2Fb", "/static/app.js?v=2", "/checkouts", "/caf%C3%A9", "/.well-known/x"} {
				res := newClient(h).get(target)
				assert.Equal(t, http.StatusOK, res.StatusCode, target)
				assert.Equal(t, []string{target}, origin.take(), "%s is forwarded unchanged", target)
			}
		})
	}
}

// TestBypassIsJudgedOnTheCanonicalPath: a bypass prefix cannot be used to
// reach a protected path by dot segments.
func TestBypassIsJudgedOnTheCanonicalPath(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil, middleware.WithBypassPaths("/static/", "/checkout/assets/"))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	calls := e.origin.calls.Load()
	for _, target := range []string{"/static/../checkout", "/static/%2e%2e/checkout", "/checkout/assets/../pay", "/static/..;/checkout", "/checkout/assets/%2E%2E%2Fpay"} {
		assert.Equal(t, http.StatusTooManyRequests, e.client().get(target).StatusCode, target)
	}
	assert.Equal(t, calls, e.origin.calls.Load(), "a bypass rule let a protected path through")
	assert.Equal(t, http.StatusOK, e.client().get("/checkout/assets/app.css").StatusCode)
}
