package redisstore_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// This file holds what the tests that run whole Rooms over a Redis store
// share: zones, key rings and visitors with a cookie jar.

// uniqueZone returns a zone name of its own for one test run.
func uniqueZone(short string) string { return fmt.Sprintf("rt-%s-%08x", short, rand.Uint32()) }

// testKeys returns a key ring for Rooms that must verify each other's
// tokens.
func testKeys(t testing.TB) *waitroom.KeyRing {
	t.Helper()
	k, err := waitroom.NewHMACKey("test-1", []byte("a test secret of at least 32 bytes!!"))
	require.NoError(t, err)
	ring, err := waitroom.NewKeyRing(k)
	require.NoError(t, err)
	return ring
}

// visitor is a browser: a cookie jar shared by every instance (cookies do
// not depend on the port), following no redirects.
type visitor struct {
	name   string
	client *http.Client
}

func newVisitor(t testing.TB, name string) *visitor {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &visitor{name: name, client: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// get requests url and returns the status code and body.
func (v *visitor) get(t testing.TB, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	require.NoError(t, err, "%s: GET %s", v.name, url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

// id returns the visitor's id in zone, from the access cookie or else the
// visitor cookie its jar holds for base.
func (v *visitor) id(t testing.TB, room *waitroom.Room, zone, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	for _, c := range v.client.Jar.Cookies(u) {
		switch {
		case strings.HasPrefix(c.Name, "wr_a_"):
			if a, err := room.VerifyAccess(c.Value, zone); err == nil {
				return a.Visitor
			}
		case strings.HasPrefix(c.Name, "wr_v_"):
			if vt, err := room.VerifyVisitor(c.Value, zone); err == nil {
				return vt.ID
			}
		}
	}
	t.Fatalf("%s holds no token for zone %s", v.name, zone)
	return ""
}
