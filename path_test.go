package waitroom_test

import (
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

func TestCanonicalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":                 "/",
		"/checkout":         "/checkout",
		"/checkout/":        "/checkout/",
		"//checkout":        "/checkout",
		"///checkout//pay/": "/checkout/pay/",
		"/./checkout":       "/checkout",
		"/x/../checkout":    "/checkout",
		"/x/..;/checkout":   "/checkout",
		"/x/.;y/checkout":   "/x/checkout",
		"/../../checkout":   "/checkout",
		`/x\..\checkout`:    "/checkout",
		"/a/b/..":           "/a/",
		"/a/.":              "/a/",
		"/..":               "/",
		"/checkout;x":       "/checkout;x",
		"/checkout.":        "/checkout.",
		"/Checkout":         "/Checkout",
		"/.well-known/x":    "/.well-known/x",
		"/a...b/..c/c..":    "/a...b/..c/c..",
		"":                  "",
		"*":                 "*",
		"checkout":          "/checkout",
	} {
		assert.Equal(t, want, waitroom.CanonicalPath(in), "%q", in)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { waitroom.CanonicalPath("/checkout/pay;x/seat.html") }),
		"a canonical path costs no allocation")
}

// doorRoom returns a Room whose checkout zone protects /checkout and whose
// seats zone protects /shop/Seats.
func doorRoom(tb testing.TB, opts ...waitroom.Option) *waitroom.Room {
	tb.Helper()
	room, err := waitroom.New(memstore.New(), append([]waitroom.Option{
		waitroom.WithManualStep(), waitroom.WithZone(checkout(1)),
		waitroom.WithZone(waitroom.Zone{Name: "seats", Paths: []string{"/shop/Seats/"}, Capacity: 1}),
	}, opts...)...)
	require.NoError(tb, err)
	tb.Cleanup(func() { room.Close() })
	return room
}

func TestMatchPathCoversEverySpelling(t *testing.T) {
	room := doorRoom(t)
	for _, p := range []string{"/checkout", "/shop/seats"} {
		want := map[string]string{"/checkout": "checkout", "/shop/seats": "seats"}[p]
		for _, target := range waitroomtest.Spellings(p) {
			u, err := url.ParseRequestURI(target)
			require.NoError(t, err, target)
			zone, ok := room.MatchPath(u.Path)
			assert.True(t, ok, "%s escapes its zone", target)
			assert.Equal(t, want, zone, target)
		}
	}
	for _, p := range []string{"/checkouts", "/check", "/", "/about", "/shop", "/shop/seatsx", "/x/checkout", "/checkout/../about"} {
		zone, ok := room.MatchPath(p)
		assert.False(t, ok, "%s matched zone %q", p, zone)
	}
}

func TestStrictPaths(t *testing.T) {
	room := doorRoom(t, waitroom.WithStrictPaths())
	for p, want := range map[string]string{
		"/checkout": "checkout", "//checkout": "checkout", "/x/../checkout": "checkout", "/checkout;x": "checkout",
		"/%2Fcheckout": "checkout", "/shop/Seats/1": "seats",
		"/Checkout": "", "/CHECKOUT": "", "/checkout.": "", "/checkout ": "", "/shop/seats": "",
	} {
		zone, _ := room.MatchPath(p)
		assert.Equal(t, want, zone, "%q", p)
	}
}

// oracleKey is an independent reading of the rules of CanonicalPath and
// Room.MatchPath, built on path.Clean: the segments of a decoded path an
// origin may route to, each without parameters, cut at a NUL, without
// trailing dots and white space, in lower case. A segment that is only
// parameters (";x") is empty, as a server that strips parameters before
// it resolves dot segments reads it: "/a/;/../b" is "/b", not "/a/b".
func oracleKey(p string) []string {
	p = strings.ReplaceAll(p, `\`, "/")
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if b, _, _ := strings.Cut(s, ";"); b == "" || b == "." || b == ".." {
			parts[i] = b
		}
	}
	cleaned := path.Clean("/" + strings.Join(parts, "/"))
	var key []string
	for _, s := range strings.Split(cleaned, "/") {
		s, _, _ = strings.Cut(s, ";")
		s, _, _ = strings.Cut(s, "\x00")
		s = strings.ToLower(strings.TrimRight(s, ". \t"))
		if s != "" {
			key = append(key, s)
		}
	}
	return key
}

// oracleMatch reports whether p, or one of its decodings up to twice
// more, has prefix under it, segment by segment. decided is false when a
// decoding needed meets an invalid escape, which the Room keeps as it is
// and url.PathUnescape refuses.
func oracleMatch(p string, prefix ...string) (match, decided bool) {
	for range 3 {
		key := oracleKey(p)
		if len(key) >= len(prefix) && slices.Equal(key[:len(prefix)], prefix) {
			return true, true
		}
		d, err := url.PathUnescape(p)
		if err != nil {
			return false, false
		}
		if d == p {
			return false, true
		}
		p = d
	}
	return false, true
}

func FuzzMatchPath(f *testing.F) {
	for _, p := range append(waitroomtest.Spellings("/checkout"), "/", "/checkouts", "/a/b/../../checkout", `\checkout`, "/shop/seats/%2e%2e/%2e%2e/checkout") {
		if u, err := url.ParseRequestURI(p); err == nil {
			f.Add(u.Path)
		}
	}
	f.Add(`\checkout`)
	room := doorRoom(f)
	f.Fuzz(func(t *testing.T, p string) {
		c := waitroom.CanonicalPath(p)
		if p != "" && p != "*" {
			require.True(t, strings.HasPrefix(c, "/"), "%q -> %q", p, c)
			require.NotContains(t, c, "//")
			require.NotContains(t, c, `\`)
			for _, s := range strings.Split(c, "/") {
				b, _, _ := strings.Cut(s, ";")
				require.False(t, b == "." || b == "..", "%q -> %q keeps a dot segment", p, c)
			}
		}
		require.Equal(t, c, waitroom.CanonicalPath(c), "canonical twice")

		zone, ok := room.MatchPath(p)
		checkout, d1 := oracleMatch(p, "checkout")
		seats, d2 := oracleMatch(p, "shop", "seats")
		if !d1 || !d2 {
			return
		}
		if checkout || seats {
			assert.True(t, ok, "%q escapes its zone", p)
		}
		switch zone {
		case "checkout":
			assert.True(t, checkout, "%q matched checkout", p)
		case "seats":
			assert.True(t, seats, "%q matched seats", p)
		}
	})
}
