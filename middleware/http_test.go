package middleware_test

import (
	"bufio"
	"context"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
)

// setCookie returns the Set-Cookie line of the named cookie.
func setCookie(res *http.Response, name string) string {
	for _, line := range res.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, name+"=") {
			return line
		}
	}
	return ""
}

func TestWaitingPageAndJSON(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)

	c := e.client()
	res := c.do(http.MethodGet, "/checkout/seat?row=<7>", http.Header{"Accept": {"text/html,application/xhtml+xml,*/*;q=0.8"}})
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "6", res.Header.Get("Retry-After"))
	page := body(res)
	for _, want := range []string{
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<noscript><meta http-equiv="refresh" content="6"></noscript>`,
		`aria-live="polite"`,
		`<strong id="wr-position">1</strong>`,
		`People ahead of you: <span id="wr-ahead">0</span>`,
		`<progress id="wr-progress" max="100" value="0">0%</progress>`,
		`var statusURL = "/.waitroom/status?zone=checkout";`,
		`return=%2Fcheckout%2Fseat%3Frow%3D%3C7%3E`,
	} {
		assert.Contains(t, page, want)
	}
	assert.NotContains(t, page, "<7>")
	assert.NotContains(t, page, "<link", "the page loads nothing from elsewhere")
	assert.NotContains(t, page, "src=")

	v := setCookie(res, "wr_v_checkout")
	require.NotEmpty(t, v)
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=", "Expires="} {
		assert.Contains(t, v, attr)
	}
	assert.NotContains(t, v, "Secure")

	for _, accept := range []string{"application/json", "text/html;q=0.9, application/json", "APPLICATION/JSON; charset=utf-8"} {
		res, rep := c.getJSONWith(accept)
		assert.Equal(t, http.StatusTooManyRequests, res.StatusCode, accept)
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"), accept)
		assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		assert.Equal(t, "6", res.Header.Get("Retry-After"))
		assert.Equal(t, "waiting", rep.State)
		assert.EqualValues(t, 1, rep.Position)
		assert.Equal(t, 6, rep.RetryAfterSeconds)
		assert.Positive(t, rep.ETASeconds)
		assert.LessOrEqual(t, rep.ETALowSeconds, rep.ETASeconds)
		assert.GreaterOrEqual(t, rep.ETAHighSeconds, rep.ETASeconds)
	}
	res = c.do(http.MethodGet, "/checkout", http.Header{"Accept": {"application/json;q=0, text/html"}})
	assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"))
}

func (c *client) getJSONWith(accept string) (*http.Response, report) {
	saved := jsonAccept
	jsonAccept = http.Header{"Accept": {accept}}
	defer func() { jsonAccept = saved }()
	return c.getJSON("/checkout")
}

// The waiting page's ETA says what the Room knows and no more: its
// headline and its range agree.
func TestWaitingPageETAIsHonest(t *testing.T) {
	z := checkoutZone(1)
	z.Session = 5 * time.Minute // the slowest the line can go: 5 minutes a place
	e := newEnv(t, z, nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)

	// Right after the start no admission rate is measured: the estimate is
	// the slowest the line can go, and the turn may come at the next tick.
	b := e.client()
	res := b.get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body(res), `Estimated wait: <span id="wr-eta">up to 5 minutes</span><span id="wr-eta-range" class="muted"></span>`)
	_, rep := b.getJSON("/checkout")
	assert.EqualValues(t, 1, rep.Position)
	assert.EqualValues(t, 1, rep.ETALowSeconds)
	assert.EqualValues(t, 300, rep.ETASeconds)
	assert.Equal(t, "up to 5 minutes", rep.ETAText)
	assert.Nil(t, rep.ETARangeText, "a range that says the headline again")

	// Once a rate is measured (one entry in the last 30 s), the estimate is
	// half a minute, within a range that starts under a minute.
	e.step(t)
	e.clock.Advance(2 * time.Second) // past the cached standing, the entry's second is full
	res, rep = b.getJSON("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.EqualValues(t, 30, rep.ETASeconds)
	assert.Equal(t, "less than a minute", rep.ETAText)
	require.NotNil(t, rep.ETARangeText)
	assert.Equal(t, "up to 5 minutes", *rep.ETARangeText)
	assert.Contains(t, body(b.get("/checkout")), `<span id="wr-eta">less than a minute</span><span id="wr-eta-range" class="muted"> (up to 5 minutes)</span>`)
}

// A JSON client that follows the waiting page's links comes back to the
// URL it asked for, path and query, as the page does.
func TestJSONClientReturnsToTheURLItAskedFor(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	a := e.client()
	require.Equal(t, http.StatusOK, a.get("/checkout").StatusCode)
	b := e.client()
	res, rep := b.getJSON("/checkout?seat=7&row=b")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	require.Equal(t, "waiting", rep.State)
	assert.Equal(t, "/.waitroom/status?return=%2Fcheckout%3Fseat%3D7%26row%3Db&zone=checkout", rep.StatusURL)
	assert.Empty(t, rep.ClaimURL, "no claim while waiting")

	require.Equal(t, http.StatusOK, a.get("/checkout/done").StatusCode)
	e.step(t)
	res, rep = b.getJSON(rep.StatusURL)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "admitted", rep.State)
	assert.Equal(t, "/.waitroom/claim?return=%2Fcheckout%3Fseat%3D7%26row%3Db&zone=checkout", rep.ClaimURL)
	res = b.get(rep.ClaimURL)
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	assert.Equal(t, "/checkout?seat=7&row=b", res.Header.Get("Location"))
	assert.True(t, strings.HasPrefix(body(b.get(res.Header.Get("Location"))), "inside "), "the visitor is let in there")
}

func TestAccessCookieAttributes(t *testing.T) {
	e := newEnv(t, checkoutZone(2), nil)
	res := e.client().get("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	a := setCookie(res, "wr_a_checkout")
	for _, attr := range []string{"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=60", "Expires=Sun, 01 Mar 2026 10:01:00 GMT"} {
		assert.Contains(t, a, attr)
	}
	assert.NotContains(t, a, "Secure")

	e = newEnv(t, checkoutZone(2), nil, middleware.WithSecureCookies(true))
	res = e.client().get("/checkout")
	assert.Contains(t, setCookie(res, "wr_a_checkout"), "Secure")
	assert.Contains(t, setCookie(res, "wr_v_checkout"), "Secure")
}

func TestSecureCookiesOverTLS(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	srv := httptest.NewTLSServer(e.h)
	defer srv.Close()
	hc := srv.Client()
	hc.Jar, _ = cookiejar.New(nil)

	res, err := hc.Get(srv.URL + "/checkout")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, setCookie(res, "wr_a_checkout"), "Secure")

	res, err = hc.Get(srv.URL + "/checkout/pay")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.True(t, strings.HasPrefix(string(b), "inside "), "the access cookie came back over TLS")

	other := srv.Client()
	other.Jar, _ = cookiejar.New(nil)
	res, err = other.Get(srv.URL + "/checkout")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, setCookie(res, "wr_v_checkout"), "Secure")
}

func TestReleaseHeaderIsStrippedAndReleases(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	var sawFlush, sawController atomic.Bool
	h := middleware.Wrap(e.room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := w.(http.Flusher)
		sawFlush.Store(ok)
		if r.URL.Path == "/checkout/done" {
			w.Header().Set("X-Checkout-Done", "yes")
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "streamed ")
		sawController.Store(http.NewResponseController(w).Flush() == nil)
		io.WriteString(w, "body")
	}), middleware.WithReleaseHeader("x-checkout-done"))
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := srv.Client()
	hc.Jar, _ = cookiejar.New(nil)

	res, err := hc.Get(srv.URL + "/checkout")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)

	res, err = hc.Get(srv.URL + "/checkout/done")
	require.NoError(t, err)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, "streamed body", string(b))
	assert.True(t, sawFlush.Load())
	assert.True(t, sawController.Load(), "http.ResponseController cannot flush through the wrapper")
	assert.Empty(t, res.Header.Get("X-Checkout-Done"), "the release header reached the client")
	assert.Contains(t, setCookie(res, "wr_a_checkout"), "Max-Age=0")

	st, err := e.room.Stats(t.Context(), "checkout")
	require.NoError(t, err)
	assert.Zero(t, st.Inside, "the slot was not released")

	// The released visitor is out: back to the line.
	res, err = hc.Get(srv.URL + "/checkout")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
}

func TestReleaseHeaderWithoutBodyOrAfterHeader(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	var late bool
	h := middleware.Wrap(e.room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if late {
			w.WriteHeader(http.StatusOK)
		}
		w.Header().Set(middleware.DefaultReleaseHeader, "1") // too late when the header was sent
	}))
	defer h.Close()
	c := newClient(h)

	res := c.get("/checkout") // handler writes nothing: net/http sends the header after it returns
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, res.Header.Get(middleware.DefaultReleaseHeader))
	st, err := e.room.Stats(t.Context(), "checkout")
	require.NoError(t, err)
	assert.Zero(t, st.Inside)

	late = true
	c = newClient(h)
	require.Equal(t, http.StatusOK, c.get("/checkout").StatusCode)
	st, err = e.room.Stats(t.Context(), "checkout")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Inside, "a header set after WriteHeader is not part of the response")
}

func TestCustomTemplate(t *testing.T) {
	tmpl := template.Must(template.New("mine").Parse(
		`{{.State}}|{{.Zone}}|{{.Position}}|{{.Ahead}}|{{.RetryAfter}}|{{.StatusURL}}|{{.ClaimURL}}|{{.ReturnURL}}|{{.ETAText}}|{{.StatusCode}}`))
	e := newEnv(t, checkoutZone(1), nil, middleware.WithTemplate(tmpl), middleware.WithStatus(http.StatusServiceUnavailable),
		middleware.WithPrefix("/_queue/"))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	res := e.client().get("/checkout/x")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t,
		"waiting|checkout|1|0|6|/_queue/status?zone=checkout|/_queue/claim?return=%2Fcheckout%2Fx&amp;zone=checkout|/checkout/x|up to 1 minute|503",
		body(res))

	broken := template.Must(template.New("broken").Parse(`{{.NoSuchField}}`))
	e = newEnv(t, checkoutZone(1), nil, middleware.WithTemplate(broken), middleware.WithLogger(discardLogger()))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	res = e.client().get("/checkout")
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body(res), "Please try again")
}

func TestAccessFromDerivedContexts(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	type ctxKey struct{}
	var got waitroom.Access
	var ok, okDerived, okBackground bool
	var other any
	h := middleware.Wrap(e.room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = middleware.AccessFrom(r.Context())
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), ctxKey{}, "app"))
		defer cancel()
		_, okDerived = middleware.AccessFrom(ctx)
		other = ctx.Value(ctxKey{})
		_, okBackground = middleware.AccessFrom(context.Background())
	}))
	defer h.Close()
	require.Equal(t, http.StatusOK, newClient(h).get("/checkout").StatusCode)
	require.True(t, ok)
	assert.Equal(t, "checkout", got.Zone)
	assert.NotEmpty(t, got.Visitor)
	assert.NotEmpty(t, got.TokenID)
	assert.Equal(t, t0.Add(time.Minute), got.Expires)
	assert.True(t, okDerived)
	assert.Equal(t, "app", other)
	assert.False(t, okBackground)
}

// The waiting page of a visitor in line fits, with its header, in the
// 4 KB net/http writes at once: a repeat request costs one write.
func TestWaitingPageFitsOneWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []middleware.Option
	}{
		{"page", nil},
		{"page that moves to the shell", []middleware.Option{middleware.WithShellPage(time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := checkoutZone(1)
			z.Session = time.Hour    // a wait of hours, with a range
			z.AdmitPerSecond = 0.015 // from at least 2 minutes: the range's longest words
			e := newEnv(t, z, nil, tc.opts...)
			srv := httptest.NewServer(e.h)
			t.Cleanup(srv.Close)
			require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
			require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
			b := e.client()
			const target = "/checkout/seat?row=7&section=balcony"
			require.Equal(t, http.StatusTooManyRequests, b.get(target).StatusCode)

			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: shop.example\r\nAccept: text/html\r\nCookie: %s\r\n\r\n",
				target, b.cookie("wr_v_checkout"))
			require.NoError(t, err)
			n := &countingReader{r: conn}
			res, err := http.ReadResponse(bufio.NewReader(n), nil)
			require.NoError(t, err)
			page, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
			assert.Contains(t, string(page), "People ahead of you: <span id=\"wr-ahead\">1</span>")
			assert.Contains(t, string(page), "(between")
			assert.LessOrEqual(t, n.n, 4096, "response bytes (page: %d)", len(page))
			t.Logf("%d bytes with the header", n.n)
		})
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
