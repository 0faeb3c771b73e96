// Package browsertest runs the browser tests' headless Chromium: one
// process per test binary, a fresh browser context (its own cookies) per
// test, and a wait for an expression of the page that survives page loads.
// In CI a missing Chromium fails the test; elsewhere it skips it.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Path finds the browser: $WAITROOM_CHROMIUM, else chromium on PATH.
func Path(t *testing.T) string {
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

// browser is the Chromium process a test binary's tests share: starting
// one costs seconds, a fresh browser context per test does not.
var browser struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	dir    string
	err    error
}

// New returns a new tab in a fresh browser context of the shared headless
// Chromium, closed when the test ends.
func New(t *testing.T) context.Context {
	path := Path(t)
	browser.once.Do(func() {
		browser.dir, browser.err = os.MkdirTemp("", "waitroom-chromium-")
		if browser.err != nil {
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-sync", true),
			chromedp.NoFirstRun, chromedp.Flag("disable-component-update", true), chromedp.UserDataDir(browser.dir))
		actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(actx)
		browser.ctx, browser.cancel = ctx, func() { cancel(); cancelAlloc() }
		browser.err = chromedp.Do(ctx) // start the browser with a context that has no deadline
	})
	require.NoError(t, browser.err)
	ctx, cancel := chromedp.NewContext(browser.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	require.NoError(t, chromedp.Do(ctx))
	return ctx
}

// Main runs the tests of m, stops the shared browser after them, and then
// fails the tests if a goroutine outlives them (goleak): call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if browser.cancel != nil {
		browser.cancel()
		os.RemoveAll(browser.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines outlived the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// WaitFor waits until the page's expression is truthy and returns its
// value, across page loads (a navigation ends a running poll; it is
// started again).
func WaitFor(t *testing.T, ctx context.Context, expr string, timeout time.Duration) string {
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

// Screenshot saves what the browser shows as a test artifact, under
// $WAITROOM_ARTIFACTS (default: the system's temporary directory).
func Screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	dir := os.Getenv("WAITROOM_ARTIFACTS")
	if dir == "" {
		dir = os.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot: %s", path)
}
