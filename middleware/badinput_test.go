package middleware_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

func signWith(t *testing.T, k waitroom.Key, sign func(*waitroom.KeyRing) (string, error)) string {
	t.Helper()
	ring, err := waitroom.NewKeyRing(k)
	require.NoError(t, err)
	tok, err := sign(ring)
	require.NoError(t, err)
	return tok
}

func TestBadTokensNeverReachTheOrigin(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode)
	calls := e.origin.calls.Load()

	good := waitroom.Access{Visitor: "mallory", Zone: "checkout", TokenID: "slot-1", Expires: t0.Add(time.Hour)}
	access := func(a waitroom.Access) func(*waitroom.KeyRing) (string, error) {
		return func(r *waitroom.KeyRing) (string, error) { return r.SignAccess(a) }
	}
	visitor := func(v waitroom.Visitor) func(*waitroom.KeyRing) (string, error) {
		return func(r *waitroom.KeyRing) (string, error) { return r.SignVisitor(v) }
	}
	otherSecret, err := waitroom.NewHMACKey("k1", []byte("another secret, thirty-two bytes!"))
	require.NoError(t, err)
	unknownKid, err := waitroom.NewHMACKey("k9", testSecret)
	require.NoError(t, err)
	_, edPriv, err := ed25519.GenerateKey(nil)
	require.NoError(t, err)
	edUnderHMACKid, err := waitroom.NewEd25519Key("k1", edPriv)
	require.NoError(t, err)
	ourKey := testRing(t).SigningKey()
	expired := good
	expired.Expires = t0.Add(-time.Minute)
	wrongZone := good
	wrongZone.Zone = "other"
	b64 := base64.RawURLEncoding.EncodeToString
	algNone := b64([]byte(`{"alg":"none","typ":"JWT","kid":"k1"}`)) + "." +
		b64([]byte(`{"typ":"wr-access","zone":"checkout","sub":"mallory","jti":"slot-1","exp":1900000000}`)) + "."

	both := []string{"wr_a_checkout", "wr_v_checkout"}
	tokens := []struct {
		name, token string
		cookies     []string
	}{
		{"forged signature", signWith(t, otherSecret, access(good)), both},
		{"alg none", algNone, both},
		{"unknown kid", signWith(t, unknownKid, access(good)), both},
		{"EdDSA under an HMAC kid", signWith(t, edUnderHMACKid, access(good)), both},
		{"expired", signWith(t, ourKey, access(expired)), both},
		{"wrong zone", signWith(t, ourKey, access(wrongZone)), both},
		{"garbage", "garbage!!;;==", both},
		{"empty", "", both},
		{"8 KiB", strings.Repeat("A", 8<<10), both},
		{"8 KiB of dots", strings.Repeat(".", 8<<10), both},
		{"visitor token as access token", signWith(t, ourKey, func(r *waitroom.KeyRing) (string, error) {
			return r.SignVisitor(waitroom.Visitor{ID: "mallory", Zone: "checkout", Arrived: t0, IssuedAt: t0, Expires: t0.Add(time.Hour)})
		}), []string{"wr_a_checkout"}},
		{"access token as visitor token", signWith(t, ourKey, access(good)), []string{"wr_v_checkout"}},
		{"expired visitor token", signWith(t, ourKey, visitor(waitroom.Visitor{
			ID: "mallory", Zone: "checkout", Arrived: t0.Add(-time.Hour), IssuedAt: t0.Add(-time.Hour), Expires: t0.Add(-time.Minute),
		})), []string{"wr_v_checkout"}},
		{"visitor token of another zone", signWith(t, ourKey, visitor(waitroom.Visitor{
			ID: "mallory", Zone: "other", Arrived: t0, IssuedAt: t0, Expires: t0.Add(time.Hour),
		})), []string{"wr_v_checkout"}},
	}
	for _, tc := range tokens {
		for _, cookie := range tc.cookies {
			t.Run(tc.name+"/"+cookie, func(t *testing.T) {
				for _, header := range []string{
					cookie + "=" + tc.token,
					cookie + `="` + tc.token + `"`,
					"x=1; " + cookie + "=" + tc.token + ";;; y",
				} {
					c := e.client()
					res := c.do(http.MethodGet, "/checkout", http.Header{"Cookie": {header}})
					assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
					assert.NotContains(t, body(res), "waitroom:")
					// Treated as a newcomer: a fresh place of its own.
					assert.NotNil(t, c.cookie("wr_v_checkout"))

					res = c.do(http.MethodGet, "/.waitroom/status?zone=checkout", http.Header{"Cookie": {header}})
					assert.Contains(t, []int{http.StatusNotFound, http.StatusOK}, res.StatusCode)
					if strings.HasPrefix(cookie, "wr_v_") {
						assert.Equal(t, http.StatusNotFound, res.StatusCode, "a bad visitor token holds no place")
					}
				}
			})
		}
	}
	assert.Equal(t, calls, e.origin.calls.Load(), "a bad token reached the origin")
}

func TestClaimRefusesOpenRedirects(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil)
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	c := e.client()
	require.Equal(t, http.StatusTooManyRequests, c.get("/checkout").StatusCode)
	for _, ret := range []string{
		"http://evil.example/", "https:evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
		"/ok\\..\\x", "javascript:alert(1)", "evil.example", "/a\r\nSet-Cookie: x=1", "/a\x00", "/caf\u00e9",
		"/" + strings.Repeat("a", 4096),
	} {
		res := c.get("/.waitroom/claim?zone=checkout&return=" + url.QueryEscape(ret))
		assert.Equal(t, http.StatusBadRequest, res.StatusCode, "%q", ret)
		assert.Empty(t, res.Header.Get("Location"), "%q", ret)
	}
	for _, ret := range []string{"/checkout", "/checkout/seat?row=7&n=2", "/%2F%2Fevil.example"} {
		res := c.get("/.waitroom/claim?zone=checkout&return=" + url.QueryEscape(ret))
		assert.Equal(t, http.StatusSeeOther, res.StatusCode, "%q", ret)
		assert.Equal(t, ret, res.Header.Get("Location"))
	}
	assert.EqualValues(t, 1, e.origin.calls.Load())
}

// TestAccessTokenLifetimeIsBoundedByTheZone mints access tokens with the
// Room's real key: one within the zone's session passes, one that
// outlasts it or was issued in the future gets the waiting page.
func TestAccessTokenLifetimeIsBoundedByTheZone(t *testing.T) {
	e := newEnv(t, checkoutZone(1), nil) // Session: 1 minute
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	require.Equal(t, http.StatusTooManyRequests, e.client().get("/checkout").StatusCode, "the zone queues")
	ring := testRing(t)
	skew := waitroom.TokenLeeway
	for _, tc := range []struct {
		name     string
		iat, exp time.Time
		want     int
	}{
		{"the zone's session", t0, t0.Add(time.Minute), http.StatusOK},
		{"the session and the skew", t0.Add(-time.Second), t0.Add(time.Minute + skew - time.Second), http.StatusOK},
		{"issued within the skew", t0.Add(skew), t0.Add(skew + time.Minute), http.StatusOK},
		{"a second past the session and the skew", t0, t0.Add(time.Minute + skew + time.Second), http.StatusTooManyRequests},
		{"an hour", t0, t0.Add(time.Hour), http.StatusTooManyRequests},
		{"until the year 2^62", t0, time.Unix(1<<62, 0), http.StatusTooManyRequests},
		{"issued in the future", t0.Add(skew + time.Second), t0.Add(skew + time.Minute), http.StatusTooManyRequests},
		{"issued at year 1", time.Time{}, t0.Add(time.Minute), http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := ring.SignAccess(waitroom.Access{Visitor: "v-" + tc.name, Zone: "checkout", TokenID: "t-" + tc.name,
				IssuedAt: tc.iat, Expires: tc.exp})
			require.NoError(t, err)
			calls := e.origin.calls.Load()
			res := e.client().do(http.MethodGet, "/checkout", http.Header{"Cookie": {"wr_a_checkout=" + tok}})
			assert.Equal(t, tc.want, res.StatusCode)
			if tc.want != http.StatusOK {
				assert.Equal(t, calls, e.origin.calls.Load(), "reached the origin")
				_, err := e.room.VerifyAccess(tok, "checkout")
				assert.ErrorIs(t, err, waitroom.ErrTokenLifetime)
				assert.ErrorIs(t, err, waitroom.ErrInvalidToken)
			}
		})
	}
}
