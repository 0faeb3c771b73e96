package middleware_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

// TestMain stops the shared browser after the tests.
func TestMain(m *testing.M) { browsertest.Main(m) }

const insideExpr = `document.body && document.body.innerText.startsWith("inside ") && location.pathname + location.search`

// liveExpr is how the waiting page follows the line, once it does.
const liveExpr = `document.documentElement.dataset.wrLive || ""`

func disableScripts(t *testing.T, ctx context.Context) {
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})))
}

// liveEnv is a real Room (real clock, 20ms exchanger tick, memory store)
// behind the middleware, served on loopback, with one visitor inside a
// zone of capacity 1.
func liveEnv(t *testing.T, opts ...middleware.Option) (*waitroom.Room, *httptest.Server, *client) {
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(checkoutZone(1)),
		waitroom.WithTick(20*time.Millisecond), waitroom.WithKeys(testRing(t)))
	require.NoError(t, err)
	t.Cleanup(func() { room.Close() })
	h := middleware.Wrap(room, &origin{}, opts...)
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/favicon.ico", http.NotFoundHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Close() }) // before the server: open streams end first
	first := newClient(h)
	require.Equal(t, http.StatusOK, first.get("/checkout").StatusCode)
	return room, srv, first
}

// letInWithinTwoSeconds opens the protected URL, sees the waiting page at
// position 1 following the line by how, releases the visitor inside, and
// expects the browser on the protected page by itself within 2 seconds.
func letInWithinTwoSeconds(t *testing.T, how string, opts ...middleware.Option) {
	room, srv, first := liveEnv(t, opts...)
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=7")))
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-position").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "1", pos)
	assert.Equal(t, how, browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))
	browsertest.Screenshot(t, ctx, "waiting-page-"+how+".png")

	start := time.Now()
	_, err = room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	assert.Equal(t, "/checkout/seat?row=7", browsertest.WaitFor(t, ctx, insideExpr, 2*time.Second))
	t.Logf("%s: on the protected page %v after the release", how, time.Since(start).Round(time.Millisecond))
}

func TestBrowserIsLetInByWebSocket(t *testing.T) {
	letInWithinTwoSeconds(t, "websocket")
}

func TestBrowserIsLetInByEventStream(t *testing.T) {
	letInWithinTwoSeconds(t, "sse", middleware.WithWebSocket(false))
}

func TestBrowserWithoutJavaScriptIsLetInByRefresh(t *testing.T) {
	room, srv, first := liveEnv(t, middleware.WithMaxRetryAfter(time.Second))
	ctx := browsertest.New(t)
	disableScripts(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=9")))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "You are in line", title)
	browsertest.Screenshot(t, ctx, "waiting-page-noscript.png")

	start := time.Now()
	_, err = room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	// The <noscript> refresh asks for the protected URL again, which claims.
	assert.Equal(t, "/checkout/seat?row=9", browsertest.WaitFor(t, ctx, insideExpr, 2*time.Second))
	t.Logf("refresh: on the protected page %v after the release", time.Since(start).Round(time.Millisecond))
}

func TestBrowserWaitingPageOnAPhone(t *testing.T) {
	_, srv, _ := liveEnv(t)
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.EmulateViewport(360, 740, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(srv.URL+"/checkout")))
	assert.Equal(t, "websocket", browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))
	fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	require.NoError(t, err)
	assert.True(t, fits, "the page scrolls sideways at phone width")
	live, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`document.getElementById("wr-position").closest("[aria-live]").getAttribute("aria-live")`))
	require.NoError(t, err)
	assert.Equal(t, "polite", live, "the position is not announced")
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "en", lang)
	how, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-how").textContent`))
	require.NoError(t, err)
	assert.Contains(t, how, "updates by itself")
	browsertest.Screenshot(t, ctx, "waiting-page-phone.png")
}

// browserEnv's zone asks waiting pages to come back every second (a third of
// AbandonAfter), so the polling tests are quick. Its Room is stepped by hand.
func browserEnv(t *testing.T, opts ...middleware.Option) (*env, *httptest.Server, *client) {
	z := checkoutZone(1)
	z.AbandonAfter = 3 * time.Second
	e := newEnv(t, z, nil, opts...)
	mux := http.NewServeMux()
	mux.Handle("/", e.h)
	mux.Handle("/favicon.ico", http.NotFoundHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { e.h.Close() })
	first := e.client()
	require.Equal(t, http.StatusOK, first.get("/checkout").StatusCode)
	return e, srv, first
}

func TestBrowserPollsWithoutPushChannels(t *testing.T) {
	e, srv, first := browserEnv(t, middleware.WithWebSocket(false), middleware.WithServerSentEvents(false))
	ctx := browsertest.New(t)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=7")))
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-position").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "1", pos)
	assert.Equal(t, "polling", browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))
	// The page polls the status endpoint: still waiting, still on the page.
	browsertest.WaitFor(t, ctx, `document.getElementById("wr-every").textContent === "1" && "polling"`, 5*time.Second)

	// The first visitor leaves; the exchanger lets the browser in. Its next
	// poll sees "admitted", claims, and lands where it first asked to go.
	_, err = e.room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	e.step(t)
	assert.Equal(t, "/checkout/seat?row=7", browsertest.WaitFor(t, ctx, insideExpr, 15*time.Second))
	assert.EqualValues(t, 2, e.origin.calls.Load())
}

func TestBrowserFallsBackFromRefusedWebSocket(t *testing.T) {
	// The websocket endpoint refuses this origin's connections (a proxy
	// that strips Upgrade looks the same to the page): the page uses SSE.
	_, srv, _ := liveEnv(t, middleware.WithOriginCheck(func(r *http.Request, origin string) bool {
		return r.URL.Path != "/.waitroom/ws"
	}))
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout")))
	assert.Equal(t, "sse", browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))
}

// The script shows the sale's opening in the visitor's time zone, and the
// page follows the line meanwhile.
func TestBrowserShowsTheOpeningInLocalTime(t *testing.T) {
	z := checkoutZone(1)
	z.OpensAt = t0.Add(time.Hour) // 11:00 UTC, 20:00 in Tokyo
	e := newEnv(t, z, nil)
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { e.h.Close() })
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	})))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout")))
	assert.Equal(t, "websocket", browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))
	opens, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-opens").textContent`))
	require.NoError(t, err)
	assert.NotContains(t, opens, "UTC", "the opening was not shown in local time")
	assert.Regexp(t, `2026.*\b(8:00|20:00)\b`, opens)
}

// A visitor waiting when an operator closes the sale sees the closed page:
// its next look at its place finds the zone closed, and the page says so.
func TestBrowserShowsTheClosedPage(t *testing.T) {
	e, srv, _ := browserEnv(t, middleware.WithWebSocket(false), middleware.WithServerSentEvents(false))
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout")))
	assert.Equal(t, "polling", browsertest.WaitFor(t, ctx, liveExpr, 5*time.Second))

	require.NoError(t, e.room.SetMode(context.Background(), "checkout", waitroom.ModeReject))
	e.step(t) // the change feed tells the middleware, which drops what it cached of the zone
	title := browsertest.WaitFor(t, ctx, `document.querySelector("h1") && document.querySelector("h1").textContent === "The sale is closed" && document.title`, 15*time.Second)
	assert.Equal(t, "The sale is closed", title)
	browsertest.Screenshot(t, ctx, "waitroom-closed-page.png")
}

// With the shell page, the visitor's refreshes ask for the shell, which is
// the same for everyone and revalidated by its ETag, and the shell shows
// the visitor's own place, as the line moves, until it lets it in.
func TestBrowserShellPageShowsThePosition(t *testing.T) {
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(checkoutZone(1)),
		waitroom.WithTick(20*time.Millisecond), waitroom.WithKeys(testRing(t)))
	require.NoError(t, err)
	t.Cleanup(func() { room.Close() })
	h := middleware.Wrap(room, &origin{}, middleware.WithShellPage(time.Minute))
	var mu sync.Mutex
	var shellAnswers []int // the statuses of the shell's responses
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("/.waitroom/wait", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		mu.Lock()
		shellAnswers = append(shellAnswers, rec.Code)
		mu.Unlock()
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	mux.Handle("/favicon.ico", http.NotFoundHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { h.Close() })
	answers := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(shellAnswers)
	}
	first, second := newClient(h), newClient(h)
	require.Equal(t, http.StatusOK, first.get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, second.get("/checkout").StatusCode)

	// The first visit: the visitor's own page, at the protected URL, at
	// place 2; its script moves the address to the shell's.
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=7")))
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-position").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "2", pos)
	assert.Equal(t, "?return=%2Fcheckout%2Fseat%3Frow%3D7&zone=checkout",
		browsertest.WaitFor(t, ctx, `location.pathname === "/.waitroom/wait" && location.search`, 5*time.Second))
	assert.Empty(t, answers(), "the first visit asks for no shell")

	// A refresh is the shell: the place arrives over the websocket ("…"
	// until then).
	const placeExpr = `document.documentElement.dataset.wrLive === "websocket" && document.getElementById("wr-position").textContent !== "…" && document.getElementById("wr-position").textContent`
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload()))
	assert.Equal(t, "2", browsertest.WaitFor(t, ctx, placeExpr, 5*time.Second))
	assert.Equal(t, []int{http.StatusOK}, answers())
	ahead, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-ahead").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "1", ahead)
	browsertest.Screenshot(t, ctx, "waiting-page-shell.png")

	// The next refresh is revalidated: 304, and the place again.
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload()))
	assert.Equal(t, "2", browsertest.WaitFor(t, ctx, placeExpr, 5*time.Second))
	assert.Equal(t, []int{http.StatusOK, http.StatusNotModified}, answers())

	// The line moves: the shell shows it.
	_, err = room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	browsertest.WaitFor(t, ctx, `document.getElementById("wr-position").textContent === "1" && "moved"`, 5*time.Second)

	// Its turn: the shell claims and returns to the URL first asked for.
	require.Contains(t, body(second.get("/checkout")), "inside ")
	_, err = room.Release(context.Background(), "checkout", second.id)
	require.NoError(t, err)
	assert.Equal(t, "/checkout/seat?row=7", browsertest.WaitFor(t, ctx, insideExpr, 5*time.Second))
}

// A shell opened without JavaScript goes to the protected URL at once,
// whose page shows the place and refreshes itself until it lets it in.
func TestBrowserShellPageWithoutJavaScript(t *testing.T) {
	room, srv, first := liveEnv(t, middleware.WithShellPage(time.Minute), middleware.WithMaxRetryAfter(time.Second))
	ctx := browsertest.New(t)
	disableScripts(t, ctx)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/.waitroom/wait?zone=checkout&return=%2Fcheckout%2Fseat%3Frow%3D9")))
	assert.Equal(t, "1", browsertest.WaitFor(t, ctx,
		`location.pathname + location.search === "/checkout/seat?row=9" && document.getElementById("wr-position") && document.getElementById("wr-position").textContent`, 5*time.Second))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "You are in line", title)

	_, err = room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	assert.Equal(t, "/checkout/seat?row=9", browsertest.WaitFor(t, ctx, insideExpr, 3*time.Second))
}

// The shell shows the sale's opening too, from the first report, in the
// visitor's time zone.
func TestBrowserShellPageShowsTheOpening(t *testing.T) {
	z := checkoutZone(1)
	z.OpensAt = t0.Add(time.Hour)
	e := newEnv(t, z, nil, middleware.WithShellPage(time.Minute))
	srv := httptest.NewServer(e.h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { e.h.Close() })
	ctx := browsertest.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	})))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout")))
	browsertest.WaitFor(t, ctx, `location.pathname === "/.waitroom/wait" && "moved"`, 5*time.Second)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload()))
	opens := browsertest.WaitFor(t, ctx, `!document.getElementById("wr-opens").closest("p").hidden && document.getElementById("wr-opens").textContent`, 5*time.Second)
	assert.Regexp(t, `2026.*\b(8:00|20:00)\b`, opens)
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-position").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "1", pos)
}
