package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url string, accept string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

// TestDemo: the demo's shop sits behind the waiting room. With capacity 1
// the first buyer reaches the checkout, the second waits first in line;
// when the first finishes (the origin's release header), the second is let
// in by the exchanger and reaches the checkout on its next request.
func TestDemo(t *testing.T) {
	d, err := build(context.Background(), options{store: "memory", capacity: 1, rate: 50, session: time.Minute})
	require.NoError(t, err)
	defer d.close()
	srv := httptest.NewServer(d.public)
	defer srv.Close()

	alice, bob := client(t), client(t)
	code, body, _ := get(t, alice, srv.URL+"/checkout", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Finish checkout")

	code, body, hdr := get(t, bob, srv.URL+"/checkout", "application/json")
	require.Equal(t, http.StatusTooManyRequests, code)
	require.NotEmpty(t, hdr.Get("Retry-After"))
	var st struct {
		State    string `json:"state"`
		Position int    `json:"position"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	require.Equal(t, "waiting", st.State)
	require.Equal(t, 1, st.Position)

	resp, err := alice.Post(srv.URL+"/checkout/done", "application/x-www-form-urlencoded", strings.NewReader(""))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Waitroom-Release"), "the release header never reaches the client")

	// The exchanger runs every 100ms in the background; poll the status
	// endpoint as the waiting page does, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for st.State != "admitted" && st.State != "inside" {
		require.True(t, time.Now().Before(deadline), "bob was not admitted after alice finished (state %q)", st.State)
		_, body, _ = get(t, bob, srv.URL+"/.waitroom/status?zone=checkout", "application/json")
		require.NoError(t, json.Unmarshal([]byte(body), &st))
	}
	code, body, _ = get(t, bob, srv.URL+"/checkout", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Finish checkout")
}

func TestBadFlags(t *testing.T) {
	_, err := build(context.Background(), options{store: "memory", origin: "not a url", capacity: 1, rate: 1, session: time.Minute})
	require.ErrorContains(t, err, "waitroom: -origin")
	_, err = build(context.Background(), options{store: "ftp://x", capacity: 1, rate: 1, session: time.Minute})
	require.ErrorContains(t, err, "waitroom: unknown store")
	_, err = build(context.Background(), options{store: "memory", capacity: 0, rate: 1, session: time.Minute})
	require.ErrorContains(t, err, "capacity must be at least 1")
	_, err = build(context.Background(), options{store: "memory", capacity: 1, rate: 1, session: time.Minute, adminToken: "short"})
	require.ErrorContains(t, err, "waitroom: admin: the token must be at least 16 bytes")
}

// TestDemoOperator: the demo's operator side serves metrics openly, and
// the admin API only with the token it made and printed.
func TestDemoOperator(t *testing.T) {
	d, err := build(context.Background(), options{store: "memory", capacity: 1, rate: 50, session: time.Minute})
	require.NoError(t, err)
	defer d.close()
	require.Len(t, d.shownToken, 22, "a token made at start, to print")
	pub, adm := httptest.NewServer(d.public), httptest.NewServer(d.admin)
	defer pub.Close()
	defer adm.Close()
	code, _, _ := get(t, client(t), pub.URL+"/checkout", "")
	require.Equal(t, http.StatusOK, code)

	code, body, _ := get(t, client(t), adm.URL+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `waitroom_visitors_inside{zone="checkout"} 1`)
	assert.Contains(t, body, `waitroom_store_operation_duration_seconds_count{op="Batch"}`)

	code, _, _ = get(t, client(t), adm.URL+"/api/zones/checkout", "")
	assert.Equal(t, http.StatusUnauthorized, code)
	req, _ := http.NewRequest("POST", adm.URL+"/api/zones/checkout/pause", nil)
	req.Header.Set("Authorization", "Bearer "+d.shownToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	code, body, _ = get(t, client(t), adm.URL+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `waitroom_zone_paused{zone="checkout"} 1`)
}
