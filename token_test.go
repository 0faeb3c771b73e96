package waitroom_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mustKey(t *testing.T, id, alg string) waitroom.Key {
	t.Helper()
	k, err := waitroom.GenerateKey(id, alg)
	require.NoError(t, err)
	return k
}

func mustRing(t *testing.T, keys ...waitroom.Key) *waitroom.KeyRing {
	t.Helper()
	r, err := waitroom.NewKeyRing(keys...)
	require.NoError(t, err)
	return r
}

func TestAccessTokenRoundTrip(t *testing.T) {
	for _, alg := range []string{waitroom.AlgHS256, waitroom.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			ring := mustRing(t, mustKey(t, "k1", alg))
			a := waitroom.Access{Visitor: "v1", Zone: "checkout", TokenID: "slot-1", Expires: t0.Add(10 * time.Minute)}
			raw, err := ring.SignAccess(a)
			require.NoError(t, err)
			got, err := ring.VerifyAccess(raw, "checkout", t0.Add(time.Minute))
			require.NoError(t, err)
			assert.Equal(t, a.Visitor, got.Visitor)
			assert.Equal(t, a.TokenID, got.TokenID)
			assert.True(t, a.Expires.Equal(got.Expires))
		})
	}
}

func TestVisitorTokenRoundTrip(t *testing.T) {
	ring := mustRing(t, mustKey(t, "k1", waitroom.AlgHS256))
	v := waitroom.Visitor{ID: waitroom.NewVisitorID(), Zone: "checkout", Arrived: t0, IssuedAt: t0, Expires: t0.Add(time.Hour)}
	raw, err := ring.SignVisitor(v)
	require.NoError(t, err)
	got, err := ring.VerifyVisitor(raw, "checkout", t0)
	require.NoError(t, err)
	assert.Equal(t, v.ID, got.ID)
	assert.True(t, v.Arrived.Equal(got.Arrived))
}

func TestVisitorIDsAreRandom(t *testing.T) {
	seen := make(map[string]bool)
	for range 1000 {
		id := waitroom.NewVisitorID()
		require.Len(t, id, 22)
		require.False(t, seen[id], "duplicate visitor id")
		seen[id] = true
	}
}

// TestKeyRotation: tokens signed by the old key keep verifying after a new
// key is added; new tokens carry the new kid; a ring without the old key
// rejects the old tokens.
func TestKeyRotation(t *testing.T) {
	old, next := mustKey(t, "2026-01", waitroom.AlgHS256), mustKey(t, "2026-02", waitroom.AlgEdDSA)
	a := waitroom.Access{Visitor: "v", Zone: "z", TokenID: "s", Expires: t0.Add(time.Hour)}

	before := mustRing(t, old)
	oldTok, err := before.SignAccess(a)
	require.NoError(t, err)

	rotated := mustRing(t, old, next)
	_, err = rotated.VerifyAccess(oldTok, "z", t0)
	require.NoError(t, err, "old token must survive rotation")
	newTok, err := rotated.SignAccess(a)
	require.NoError(t, err)
	assert.Equal(t, "2026-02", kidOf(t, newTok))
	_, err = before.VerifyAccess(newTok, "z", t0)
	assert.ErrorIs(t, err, waitroom.ErrUnknownKey, "an instance that has not rotated yet cannot know the new key")

	dropped := mustRing(t, next)
	_, err = dropped.VerifyAccess(oldTok, "z", t0)
	assert.ErrorIs(t, err, waitroom.ErrUnknownKey)
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	require.NoError(t, err)
	kid, _ := tok.Header["kid"].(string)
	return kid
}

// TestTokenBadInput: every malformed, forged or misused token is rejected
// with ErrInvalidToken (and its precise cause where there is one).
func TestTokenBadInput(t *testing.T) {
	hs := mustKey(t, "hs", waitroom.AlgHS256)
	ed := mustKey(t, "ed", waitroom.AlgEdDSA)
	ring := mustRing(t, ed, hs)
	other := mustRing(t, mustKey(t, "hs", waitroom.AlgHS256)) // same kid, other secret
	a := waitroom.Access{Visitor: "v", Zone: "checkout", TokenID: "s", Expires: t0.Add(time.Minute)}
	good, err := ring.SignAccess(a)
	require.NoError(t, err)

	signWith := func(method jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		require.NoError(t, err)
		return s
	}
	accessClaims := jwt.MapClaims{"typ": "wr-access", "zone": "checkout", "sub": "v", "jti": "s", "exp": t0.Add(time.Minute).Unix()}

	forged, err := other.SignAccess(a)
	require.NoError(t, err)
	expired, err := ring.SignAccess(waitroom.Access{Visitor: "v", Zone: "checkout", TokenID: "s", Expires: t0.Add(-time.Minute)})
	require.NoError(t, err)
	visitorTok, err := ring.SignVisitor(waitroom.Visitor{ID: "v", Zone: "checkout", Arrived: t0, IssuedAt: t0, Expires: t0.Add(time.Hour)})
	require.NoError(t, err)
	noExp := jwt.MapClaims{"typ": "wr-access", "zone": "checkout", "sub": "v", "jti": "s"}
	parts := strings.Split(good, ".")

	cases := []struct {
		name  string
		raw   string
		cause error
	}{
		{"empty", "", nil},
		{"garbage", "not-a-token", nil},
		{"three garbage parts", "a.b.c", nil},
		{"oversized", strings.Repeat("A", 8<<10), nil},
		{"forged signature", forged, nil},
		{"tampered payload", parts[0] + "." + parts[1] + "x." + parts[2], nil},
		{"alg none", signWith(jwt.SigningMethodNone, "hs", jwt.UnsafeAllowNoneSignatureType, accessClaims), nil},
		{"unknown kid", signWith(jwt.SigningMethodHS256, "nope", hs.Secret(), accessClaims), waitroom.ErrUnknownKey},
		{"no kid", signWith(jwt.SigningMethodHS256, "", hs.Secret(), accessClaims), waitroom.ErrUnknownKey},
		{"HS256 with the EdDSA public key as secret", signWith(jwt.SigningMethodHS256, "ed", []byte(ed.PublicKey()), accessClaims), nil},
		{"EdDSA token under an HS256 kid", signWith(jwt.SigningMethodEdDSA, "hs", ed.PrivateKey(), accessClaims), nil},
		{"HS384 algorithm", signWith(jwt.SigningMethodHS384, "hs", hs.Secret(), accessClaims), nil},
		{"expired", expired, waitroom.ErrTokenExpired},
		{"no expiry", signWith(jwt.SigningMethodHS256, "hs", hs.Secret(), noExp), nil},
		{"visitor token as access token", visitorTok, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ring.VerifyAccess(c.raw, "checkout", t0)
			require.ErrorIs(t, err, waitroom.ErrInvalidToken)
			if c.cause != nil {
				require.ErrorIs(t, err, c.cause)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "waitroom: "), "error %q lacks the waitroom: prefix", err)
		})
	}

	t.Run("wrong zone", func(t *testing.T) {
		_, err := ring.VerifyAccess(good, "other-zone", t0)
		require.ErrorIs(t, err, waitroom.ErrWrongZone)
	})
	t.Run("access token as visitor token", func(t *testing.T) {
		_, err := ring.VerifyVisitor(good, "checkout", t0)
		require.ErrorIs(t, err, waitroom.ErrInvalidToken)
	})
}

func TestTokenLeeway(t *testing.T) {
	ring := mustRing(t, mustKey(t, "k", waitroom.AlgHS256))
	raw, err := ring.SignAccess(waitroom.Access{Visitor: "v", Zone: "z", TokenID: "s", Expires: t0})
	require.NoError(t, err)
	_, err = ring.VerifyAccess(raw, "z", t0.Add(waitroom.TokenLeeway-time.Second))
	require.NoError(t, err, "within leeway")
	_, err = ring.VerifyAccess(raw, "z", t0.Add(waitroom.TokenLeeway+time.Second))
	require.ErrorIs(t, err, waitroom.ErrTokenExpired)
}

func TestKeyValidation(t *testing.T) {
	_, err := waitroom.NewHMACKey("k", []byte("short"))
	assert.ErrorContains(t, err, "waitroom: HMAC secret must be at least 32 bytes, got 5")
	_, err = waitroom.NewHMACKey("bad id!", make([]byte, 32))
	assert.ErrorContains(t, err, "key id")
	_, err = waitroom.GenerateKey("k", "RS256")
	assert.ErrorContains(t, err, "unsupported key algorithm")
	_, err = waitroom.NewKeyRing()
	assert.Error(t, err)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	verifyOnly, err := waitroom.NewEd25519VerifyKey("pub", pub)
	require.NoError(t, err)
	_, err = waitroom.NewKeyRing(verifyOnly)
	assert.ErrorContains(t, err, "cannot sign")
	k := mustKey(t, "dup", waitroom.AlgHS256)
	_, err = waitroom.NewKeyRing(k, k)
	assert.ErrorContains(t, err, "duplicate key id")
	_, err = waitroom.NewKeyRing(waitroom.Key{ID: "x", Alg: waitroom.AlgHS256})
	assert.ErrorContains(t, err, "no key material")
}

// FuzzVerifyAccess: no input makes verification panic or accept a token
// that was not signed by the ring.
func FuzzVerifyAccess(f *testing.F) {
	k, _ := waitroom.GenerateKey("k", waitroom.AlgHS256)
	ring, _ := waitroom.NewKeyRing(k)
	good, _ := ring.SignAccess(waitroom.Access{Visitor: "v", Zone: "z", TokenID: "s", Expires: t0.Add(time.Hour)})
	f.Add(good)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := ring.VerifyAccess(raw, "z", t0)
		if err == nil && raw != good {
			// Only re-encodings of the good token could pass.
			if a.Visitor != "v" || a.TokenID != "s" {
				t.Fatalf("accepted foreign token %q", raw)
			}
		}
	})
}
