package middleware_test

import (
	"context"
	"html/template"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/middleware"
)

// ifNoneMatch is the header of a refresh that holds the page of res.
func ifNoneMatch(res *http.Response) http.Header {
	return http.Header{"If-None-Match": {res.Header.Get("ETag")}}
}

// A waiting page served with a 2xx status is revalidated by its ETag: a
// refresh while the line stands still is a 304 with no body, and one
// after the line moved is the page with the new position, under a new
// ETag.
func TestConditionalRefresh(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil, middleware.WithStatus(http.StatusOK))
	first := e.client()
	require.Equal(t, "inside", strings.Fields(body(first.get("/checkout")))[0])
	a := e.client()
	a.get("/checkout") // place 1
	b := e.client()

	res := b.get("/checkout/seat?row=7") // place 2
	require.Equal(t, http.StatusOK, res.StatusCode)
	page := body(res)
	require.Contains(t, page, `<strong id="wr-position">2</strong>`)
	etag := res.Header.Get("ETag")
	require.Regexp(t, `^"[A-Za-z0-9_-]+"$`, etag)
	assert.Equal(t, "private, no-cache", res.Header.Get("Cache-Control"), "the visitor's own page: its browser keeps it and asks again")
	assert.Equal(t, "Accept, Cookie", res.Header.Get("Vary"))
	assert.NotEmpty(t, setCookie(res, "wr_v_checkout"))

	// Nothing moved: 304, with what a cache needs and no body.
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		res = b.do(http.MethodGet, "/checkout/seat?row=7", http.Header{"If-None-Match": {inm}})
		assert.Equal(t, http.StatusNotModified, res.StatusCode, inm)
		assert.Equal(t, etag, res.Header.Get("ETag"), inm)
		assert.Equal(t, "private, no-cache", res.Header.Get("Cache-Control"), inm)
		assert.Empty(t, body(res), inm)
		assert.Empty(t, res.Header.Values("Set-Cookie"), inm)
	}
	// Another tag, another URL, another form, another method: the page.
	for _, tc := range []struct {
		method, target, inm string
		header              http.Header
	}{
		{http.MethodGet, "/checkout/seat?row=7", `"other"`, nil},
		{http.MethodGet, "/checkout/seat?row=8", etag, nil},
		{http.MethodGet, "/checkout/seat?row=7", etag, jsonAccept},
		{http.MethodPost, "/checkout/seat?row=7", etag, nil},
		{http.MethodGet, "/checkout/seat?row=7", `"unterminated, ` + etag, nil},
	} {
		h := http.Header{"If-None-Match": {tc.inm}}
		for k, v := range tc.header {
			h[k] = v
		}
		res = b.do(tc.method, tc.target, h)
		assert.Equal(t, http.StatusOK, res.StatusCode, "%+v", tc)
		assert.NotEmpty(t, body(res), "%+v", tc)
	}
	res = b.do(http.MethodHead, "/checkout/seat?row=7", http.Header{"If-None-Match": {etag}})
	assert.Equal(t, http.StatusNotModified, res.StatusCode)

	// The line moves: the first visitor leaves, a is let in, b is next,
	// which b's page shows once its standing is read again (after
	// WithPositionTTL).
	_, err := e.room.Release(context.Background(), "checkout", first.id)
	require.NoError(t, err)
	e.step(t)
	e.clock.Advance(2 * time.Second)
	res = b.do(http.MethodGet, "/checkout/seat?row=7", http.Header{"If-None-Match": {etag}})
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body(res), `<strong id="wr-position">1</strong>`)
	assert.NotEqual(t, etag, res.Header.Get("ETag"))
	etag = res.Header.Get("ETag")

	// And stands still again.
	res = b.do(http.MethodGet, "/checkout/seat?row=7", http.Header{"If-None-Match": {etag}})
	assert.Equal(t, http.StatusNotModified, res.StatusCode)

	// The JSON form has an ETag of its own.
	res, rep := b.getJSON("/checkout")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.EqualValues(t, 1, rep.Position)
	assert.NotEqual(t, etag, res.Header.Get("ETag"))
	res = b.do(http.MethodGet, "/checkout", http.Header{"Accept": {"application/json"}, "If-None-Match": {res.Header.Get("ETag")}})
	assert.Equal(t, http.StatusNotModified, res.StatusCode)
}

// A waiting page whose status is an error (the default 429) is not
// stored and answers no conditional request: RFC 9110 has a server ignore
// the precondition of a request whose answer would be an error.
func TestConditionalRefreshNotForErrors(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	b := e.client()
	res := b.get("/checkout")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Empty(t, res.Header.Get("ETag"))
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	res = b.do(http.MethodGet, "/checkout", http.Header{"If-None-Match": {"*"}})
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Contains(t, body(res), `<strong id="wr-position">1</strong>`)
	assert.NotContains(t, body(res), "replaceState", "no shell without WithShellPage")
}

const shellURL = "/.waitroom/wait?zone=checkout&return=%2Fcheckout%2Fseat%3Frow%3D7"

// The shell is the same for every visitor of a zone and URL, whatever its
// cookies: public, with an ETag, no cookie set, no store call. The first
// visit is the visitor's own page, which sets the cookie, is never shared,
// and sends its refreshes to the shell.
func TestShellPage(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil, middleware.WithShellPage(time.Minute))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	a, b := e.client(), e.client()
	a.get("/checkout")

	res := b.get("/checkout/seat?row=7")
	require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"), "the first visit sets the cookie: never shared")
	assert.NotEmpty(t, setCookie(res, "wr_v_checkout"))
	page := body(res)
	assert.Contains(t, page, `<strong id="wr-position">2</strong>`)
	assert.Contains(t, page, `var claimURL = "/.waitroom/claim?return=%2Fcheckout%2Fseat%3Frow%3D7\u0026zone=checkout";`)
	assert.Contains(t, page, `history.replaceState(null,"",claimURL.replace("/claim?","/wait?"));`)

	e.store.reset()
	var shell, etag string
	for i, c := range []*client{a, b, e.client()} { // two in line, one newcomer
		res := c.get(shellURL)
		require.Equal(t, http.StatusOK, res.StatusCode, i)
		assert.Equal(t, "public, max-age=60", res.Header.Get("Cache-Control"), i)
		assert.Empty(t, res.Header.Values("Set-Cookie"), "a shared response sets no cookie")
		assert.Empty(t, res.Header.Get("Vary"), "%d: %q", i, res.Header.Get("Vary"))
		assert.Empty(t, res.Header.Get("Retry-After"), i)
		assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"), i)
		if i == 0 {
			shell, etag = body(res), res.Header.Get("ETag")
			continue
		}
		assert.Equal(t, shell, body(res), "the same bytes for every visitor")
		assert.Equal(t, etag, res.Header.Get("ETag"))
	}
	require.NotEmpty(t, etag)
	for _, want := range []string{
		`<title>You are in line</title>`,
		`<noscript><meta http-equiv="refresh" content="0;url=/checkout/seat?row=7"></noscript>`,
		`<strong id="wr-position">…</strong>`,
		`var socketURL = "/.waitroom/ws?return=%2Fcheckout%2Fseat%3Frow%3D7\u0026zone=checkout";`,
	} {
		assert.Contains(t, shell, want)
	}
	assert.NotContains(t, shell, "replaceState")

	res = b.do(http.MethodGet, shellURL, http.Header{"If-None-Match": {etag}})
	assert.Equal(t, http.StatusNotModified, res.StatusCode)
	assert.Equal(t, "public, max-age=60", res.Header.Get("Cache-Control"))
	assert.Empty(t, body(res))
	res = b.do(http.MethodHead, shellURL, nil)
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Zero(t, e.store.count(), "the shell asks the store nothing")

	// The standing comes over the status endpoint (or a push channel).
	_, rep := b.getJSON("/.waitroom/status?zone=checkout&return=%2Fcheckout%2Fseat%3Frow%3D7")
	assert.EqualValues(t, 2, rep.Position)

	// Bad requests of the shell.
	assert.Equal(t, http.StatusBadRequest, b.get("/.waitroom/wait").StatusCode)
	assert.Equal(t, http.StatusBadRequest, b.get("/.waitroom/wait?zone=nope").StatusCode)
	assert.Equal(t, http.StatusMethodNotAllowed, b.do(http.MethodPost, shellURL, nil).StatusCode)
	for _, q := range []string{"zo%6Ee=checkout&return=%2Fcheckout%2Fseat%3Frow%3D7", "zone=checkout&return=/checkout/seat%3Frow=7&x=1"} {
		res := b.get("/.waitroom/wait?" + q)
		assert.Equal(t, shell, body(res), "another spelling of the query: %s", q)
	}
	for _, q := range []string{"zone=checkout&return=%zz", "zone=checkout", "zone=checkout&return=/.waitroom/claim"} {
		assert.Contains(t, body(b.get("/.waitroom/wait?"+q)), `content="0;url=/"`, q)
	}
	res = b.get("/.waitroom/wait?zone=checkout&return=//evil.example/")
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, body(res), `content="0;url=/"`, "a return URL off the site is /")
	assert.NotContains(t, body(res), "evil")
}

func TestShellPageOffByDefault(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	res := e.client().get(shellURL)
	assert.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
}

// WithShellPage's maxAge is whole seconds; a negative one is 0: stored,
// and asked again each time.
func TestShellPageMaxAge(t *testing.T) {
	for d, want := range map[time.Duration]string{-time.Second: "public, max-age=0", 1500 * time.Millisecond: "public, max-age=1", time.Hour: "public, max-age=3600"} {
		e := newEnv(t, checkoutZone(1), nil, middleware.WithShellPage(d))
		assert.Equal(t, want, e.client().get(shellURL).Header.Get("Cache-Control"), d)
	}
}

// A custom template is told which page it renders: the visitor's own,
// with the shell's address, or the shell, with no standing.
func TestShellPageWithCustomTemplate(t *testing.T) {
	tmpl := template.Must(template.New("mine").Parse(`{{.Shell}}|{{.ShellURL}}|{{.Position}}|{{.StatusCode}}|{{.ReturnURL}}`))
	e := newEnv(t, checkoutZone(1), nil, middleware.WithTemplate(tmpl), middleware.WithShellPage(time.Minute),
		middleware.WithPrefix("/_queue"))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	c := e.client()
	assert.Equal(t, "false|/_queue/wait?return=%2Fcheckout%2Fx&amp;zone=checkout|1|429|/checkout/x", body(c.get("/checkout/x")))
	res := c.get("/_queue/wait?zone=checkout&return=%2Fcheckout%2Fx")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "true||0|200|/checkout/x", body(res))
}
