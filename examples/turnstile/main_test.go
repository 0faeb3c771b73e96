package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/waitroomtest"
)

// fakeSiteverify plays Turnstile's siteverify endpoint: "good" verifies,
// "used" is a token already spent, "boom" makes it fail, and a wrong
// secret is refused as Turnstile refuses it.
type fakeSiteverify struct {
	mu     sync.Mutex
	tokens []string
}

func (f *fakeSiteverify) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.ParseForm() != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	token := r.PostForm.Get("response")
	f.mu.Lock()
	f.tokens = append(f.tokens, token)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.PostForm.Get("secret") != "s3cret":
		io.WriteString(w, `{"success":false,"error-codes":["invalid-input-secret"]}`)
	case token == "boom":
		http.Error(w, "upstream exploded at 10.9.8.7", http.StatusInternalServerError)
	case token == "good":
		io.WriteString(w, `{"success":true,"challenge_ts":"2026-03-01T10:00:00Z","hostname":"shop.example","error-codes":[]}`)
	default:
		io.WriteString(w, `{"success":false,"error-codes":["timeout-or-duplicate"]}`)
	}
}

func (f *fakeSiteverify) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.tokens)
}

// shop starts the demo in front of a fake siteverify, on a fixed clock.
func shop(t *testing.T, secret string) (*httptest.Server, *fakeSiteverify) {
	t.Helper()
	fake := &fakeSiteverify{}
	verify := httptest.NewServer(fake)
	t.Cleanup(verify.Close)
	h, cleanup, err := build(options{siteKey: "site-key-1", capacity: 1,
		verifier: &Verifier{Client: verify.Client(), URL: verify.URL, Secret: secret},
		clock:    waitroomtest.NewClock(waitroomtest.Start).Now})
	require.NoError(t, err)
	t.Cleanup(cleanup)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, fake
}

type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, string(body)
}

func (b *browser) get(u string, header http.Header) (int, string) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(b.t, err)
	for k, v := range header {
		req.Header[k] = v
	}
	return b.do(req)
}

func (b *browser) hasPlace(u string) bool {
	parsed, _ := url.Parse(u)
	for _, c := range b.c.Jar.Cookies(parsed) {
		if c.Name == "wr_v_checkout" {
			return true
		}
	}
	return false
}

func token(v string) http.Header { return http.Header{"Cf-Turnstile-Response": {v}} }

func TestTurnstile(t *testing.T) {
	srv, fake := shop(t, "s3cret")
	checkout := srv.URL + "/checkout"

	// Without a token: the challenge, no place, no call to siteverify.
	alice := newBrowser(t)
	code, body := alice.get(checkout, nil)
	assert.Equal(t, http.StatusForbidden, code)
	assert.Contains(t, body, `class="cf-turnstile" data-sitekey="site-key-1"`)
	assert.Contains(t, body, "challenges.cloudflare.com/turnstile/v0/api.js")
	assert.False(t, alice.hasPlace(checkout))
	code, body = alice.get(checkout, http.Header{"Accept": {"application/json"}})
	assert.Equal(t, http.StatusForbidden, code)
	assert.JSONEq(t, `{"challenge":"turnstile","sitekey":"site-key-1","field":"cf-turnstile-response"}`, body)
	assert.Empty(t, fake.calls())

	// A good token: straight in (the checkout has room for one).
	code, body = alice.get(checkout, token("good"))
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Checkout: you are in.\n", body)
	assert.Equal(t, []string{"good"}, fake.calls())
	// From then on its cookies carry it: not checked again.
	for range 3 {
		code, _ = alice.get(checkout, nil)
		assert.Equal(t, http.StatusOK, code)
	}
	assert.Len(t, fake.calls(), 1)

	// A spent token: refused, no place.
	mallory := newBrowser(t)
	code, _ = mallory.get(checkout, token("used"))
	assert.Equal(t, http.StatusForbidden, code)
	assert.False(t, mallory.hasPlace(checkout))
	code, _ = mallory.get(checkout, token(strings.Repeat("x", maxToken+1)))
	assert.Equal(t, http.StatusForbidden, code, "an oversized token is refused unasked")
	assert.Len(t, fake.calls(), 2)

	// The widget's form, posted: a place in line (the checkout is full),
	// kept without another check.
	bob := newBrowser(t)
	req, err := http.NewRequest(http.MethodPost, checkout, strings.NewReader(url.Values{TokenField: {"good"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	code, body = bob.do(req)
	assert.Equal(t, http.StatusTooManyRequests, code)
	var rep struct {
		State    string `json:"state"`
		Position int    `json:"position"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &rep))
	assert.Equal(t, "waiting", rep.State)
	assert.Equal(t, 1, rep.Position)
	assert.True(t, bob.hasPlace(checkout))
	code, _ = bob.get(checkout, nil)
	assert.Equal(t, http.StatusTooManyRequests, code, "the waiting page, not the challenge")
	assert.Len(t, fake.calls(), 3)
}

func TestTurnstileFailsClosed(t *testing.T) {
	srv, _ := shop(t, "s3cret")
	carol := newBrowser(t)
	code, body := carol.get(srv.URL+"/checkout", token("boom"))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.False(t, carol.hasPlace(srv.URL+"/checkout"))
	for _, leak := range []string{"exploded", "10.9.8.7", "siteverify", "500"} {
		assert.NotContains(t, body, leak)
	}
}

func TestTurnstileWrongSecretFailsClosed(t *testing.T) {
	srv, fake := shop(t, "not-the-secret")
	code, _ := newBrowser(t).get(srv.URL+"/checkout", token("good"))
	assert.Equal(t, http.StatusServiceUnavailable, code, "the site's setup is wrong: nobody is called a bot")
	assert.Len(t, fake.calls(), 1)
}

func TestVerifier(t *testing.T) {
	fake := &fakeSiteverify{}
	verify := httptest.NewServer(fake)
	defer verify.Close()
	v := &Verifier{Client: verify.Client(), URL: verify.URL, Secret: "s3cret"}
	ctx := context.Background()
	ok, err := v.Verify(ctx, "good")
	assert.True(t, ok)
	assert.NoError(t, err)
	ok, err = v.Verify(ctx, "used")
	assert.False(t, ok)
	assert.NoError(t, err)
	_, err = v.Verify(ctx, "boom")
	assert.ErrorContains(t, err, "waitroom: turnstile: siteverify answered 500")

	// A dead endpoint is an error, not a bad token.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = (&Verifier{Client: dead.Client(), URL: dead.URL}).Verify(ctx, "good")
	assert.ErrorContains(t, err, "waitroom: turnstile: siteverify:")
}
