package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromiumPath finds the browser: $WAITROOM_CHROMIUM, else chromium on PATH.
func chromiumPath(t *testing.T) string {
	if p := os.Getenv("WAITROOM_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "chromium not found: install Debian's chromium (apt-get install chromium) or set WAITROOM_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile, stopped when
// the test ends.
func newBrowser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx)) // start the browser with a context that has no deadline
	return ctx
}

// waitFor waits until the page's expression is truthy and returns its value,
// across page loads (a navigation ends a running poll; it is started again).
func waitFor(t *testing.T, ctx context.Context, expr string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		v, err := chromedp.Run(pctx, chromedp.Poll[string](expr, chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return v
		}
		lastErr = err
	}
	t.Fatalf("waiting for %s: %v", expr, lastErr)
	return ""
}

const insideExpr = `document.body && document.body.innerText.startsWith("inside ") && location.pathname + location.search`

// browserEnv's zone asks waiting pages to come back every second (a third of
// AbandonAfter), so the browser tests are quick.
func browserEnv(t *testing.T) (*env, *httptest.Server, *client) {
	z := checkoutZone(1)
	z.AbandonAfter = 3 * time.Second
	e := newEnv(t, z, nil)
	mux := http.NewServeMux()
	mux.Handle("/", e.h)
	mux.Handle("/favicon.ico", http.NotFoundHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	first := e.client()
	require.Equal(t, http.StatusOK, first.get("/checkout").StatusCode)
	return e, srv, first
}

func TestBrowserWaitsThenIsLetIn(t *testing.T) {
	e, srv, first := browserEnv(t)
	ctx := newBrowser(t)

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=7")))
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("wr-position").textContent`))
	require.NoError(t, err)
	assert.Equal(t, "1", pos)
	lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "en", lang)
	// The page polls the status endpoint: still waiting, still on the page.
	waitFor(t, ctx, `document.getElementById("wr-every").textContent === "1" && "polling"`, 5*time.Second)

	// The first visitor leaves; the exchanger lets the browser in. Its next
	// poll sees "admitted", claims, and lands where it first asked to go.
	_, err = e.room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	e.step(t)
	assert.Equal(t, "/checkout/seat?row=7", waitFor(t, ctx, insideExpr, 15*time.Second))
	assert.EqualValues(t, 2, e.origin.calls.Load())
}

func TestBrowserWithoutJavaScriptRefreshes(t *testing.T) {
	e, srv, first := browserEnv(t)
	ctx := newBrowser(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	})))

	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/checkout/seat?row=8")))
	title, err := chromedp.Run(ctx, chromedp.Title())
	require.NoError(t, err)
	assert.Equal(t, "You are in line", title)

	_, err = e.room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	e.step(t)
	// The <noscript> refresh asks for the protected URL again, which claims.
	assert.Equal(t, "/checkout/seat?row=8", waitFor(t, ctx, insideExpr, 15*time.Second))
}
