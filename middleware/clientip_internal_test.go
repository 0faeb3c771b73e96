package middleware

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
		netip.MustParsePrefix("203.0.113.7/32"),
	}
	many := strings.Repeat("10.0.0.9, ", 40) + "10.0.0.8"
	tests := []struct {
		name   string
		remote string
		header http.Header
		want   string
	}{
		{"untrusted peer", "198.51.100.1:4711", nil, "198.51.100.1"},
		{"untrusted peer: XFF ignored", "198.51.100.1:4711", http.Header{"X-Forwarded-For": {"192.0.2.9"}}, "198.51.100.1"},
		{"untrusted peer: Forwarded ignored", "198.51.100.1:4711", http.Header{"Forwarded": {"for=192.0.2.9"}}, "198.51.100.1"},
		{"untrusted IPv6 peer", "[2001:db8::1]:443", http.Header{"X-Forwarded-For": {"192.0.2.9"}}, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:198.51.100.1]:80", nil, "198.51.100.1"},
		{"IPv6 peer with a zone", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"peer without a port", "198.51.100.1", nil, "198.51.100.1"},
		{"peer that is no IP", "@", nil, "@"},
		{"empty peer", "", nil, ""},

		{"trusted peer, no header", "10.1.2.3:80", nil, "10.1.2.3"},
		{"trusted peer, XFF", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9"}}, "192.0.2.9"},
		{"rightmost untrusted", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.66, 192.0.2.9, 10.9.9.9"}}, "192.0.2.9"},
		{"spoofed left part not read", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"garbage, 10.0.0.1, 192.0.2.9"}}, "192.0.2.9"},
		{"multiple XFF lines", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.66", "192.0.2.9, 10.0.0.2", "10.0.0.1"}}, "192.0.2.9"},
		{"multiple XFF lines, last one only trusted", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.66, 192.0.2.9", "10.0.0.1"}}, "192.0.2.9"},
		{"XFF with ports", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9:5555, 10.0.0.1:80"}}, "192.0.2.9"},
		{"XFF IPv6", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"2001:db8::9"}}, "2001:db8::9"},
		{"XFF IPv6 bracketed with port", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"[2001:db8::9]:4711"}}, "2001:db8::9"},
		{"XFF IPv6 bracketed", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"[2001:db8::9]"}}, "2001:db8::9"},
		{"XFF IPv4-mapped", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"::ffff:192.0.2.9"}}, "192.0.2.9"},
		{"XFF IPv6 with zone", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"fe80::9%eth0"}}, "fe80::9"},
		{"trusted IPv6 proxy", "[2001:db8:ffff::1]:443", http.Header{"X-Forwarded-For": {"2001:db8:1::9, 2001:db8:ffff::2"}}, "2001:db8:1::9"},
		{"mapped trusted peer", "[::ffff:10.1.2.3]:80", http.Header{"X-Forwarded-For": {"192.0.2.9"}}, "192.0.2.9"},
		{"all trusted: the leftmost", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"10.0.0.3, 203.0.113.7, 10.0.0.1"}}, "10.0.0.3"},
		{"garbage rightmost: the peer", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9, not-an-ip"}}, "10.1.2.3"},
		{"garbage after a trusted hop: that hop", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9, 1.2.3, 10.0.0.1"}}, "10.0.0.1"},
		{"empty XFF: the peer", "10.1.2.3:80", http.Header{"X-Forwarded-For": {""}}, "10.1.2.3"},
		{"empty elements skipped", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9,, ,"}}, "192.0.2.9"},
		{"binary garbage", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"\x00\xff[]::"}}, "10.1.2.3"},
		{"unknown", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"unknown"}}, "10.1.2.3"},
		{"too many hops: the last trusted read", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9, " + many}}, "10.0.0.9"},
		{"XFF before Forwarded", "10.1.2.3:80", http.Header{"X-Forwarded-For": {"192.0.2.9"}, "Forwarded": {"for=192.0.2.10"}}, "192.0.2.9"},

		{"Forwarded", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.60;proto=http;by=203.0.113.43"}}, "192.0.2.60"},
		{"Forwarded case and spaces", "10.1.2.3:80", http.Header{"Forwarded": {"proto=https; For = 192.0.2.60 "}}, "192.0.2.60"},
		{"Forwarded quoted IPv6 with port", "10.1.2.3:80", http.Header{"Forwarded": {`for="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
		{"Forwarded IPv4 with port", "10.1.2.3:80", http.Header{"Forwarded": {`for="192.0.2.43:47011"`}}, "192.0.2.43"},
		{"Forwarded rightmost untrusted", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.43, for=198.51.100.17, for=10.0.0.5"}}, "198.51.100.17"},
		{"Forwarded multiple lines", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.43", "for=198.51.100.17;by=10.0.0.5", "for=10.0.0.5"}}, "198.51.100.17"},
		{"Forwarded comma in quotes", "10.1.2.3:80", http.Header{"Forwarded": {`for="198.51.100.1,x", for=192.0.2.43`}}, "192.0.2.43"},
		{"Forwarded quoted comma is one entry", "10.1.2.3:80", http.Header{"Forwarded": {`for=192.0.2.1, for="198.51.100.1,x"`}}, "10.1.2.3"},
		{"Forwarded unknown", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.43, for=unknown"}}, "10.1.2.3"},
		{"Forwarded obfuscated", "10.1.2.3:80", http.Header{"Forwarded": {"for=_hidden"}}, "10.1.2.3"},
		{"Forwarded without for", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.43, proto=https"}}, "10.1.2.3"},
		{"Forwarded unterminated quote", "10.1.2.3:80", http.Header{"Forwarded": {`for="192.0.2.43`}}, "10.1.2.3"},
		{"Forwarded bytes after quote", "10.1.2.3:80", http.Header{"Forwarded": {`for="192.0.2.43"x`}}, "10.1.2.3"},
		{"Forwarded escaped quote", "10.1.2.3:80", http.Header{"Forwarded": {`for="192.0.2.\"43"`}}, "10.1.2.3"},
		{"Forwarded first for counts", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.43;for=198.51.100.1"}}, "192.0.2.43"},
		{"Forwarded too many hops", "10.1.2.3:80", http.Header{"Forwarded": {"for=192.0.2.9, " + strings.Repeat("for=10.0.0.9, ", 40) + "for=10.0.0.8"}}, "10.0.0.9"},
		{"Forwarded empty", "10.1.2.3:80", http.Header{"Forwarded": {" , ,"}}, "10.1.2.3"},
	}
	clientIP := newClientIP(trusted, func(netip.Prefix) { t.Error("valid prefix reported invalid") })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: tt.header}
			if r.Header == nil {
				r.Header = http.Header{}
			}
			assert.Equal(t, tt.want, clientIP(r))
		})
	}
}

func TestClientIPWithoutTrustedProxies(t *testing.T) {
	clientIP := newClientIP(nil, func(netip.Prefix) {})
	r := &http.Request{RemoteAddr: "127.0.0.1:9", Header: http.Header{
		"X-Forwarded-For": {"192.0.2.9"}, "Forwarded": {"for=192.0.2.9"}}}
	assert.Equal(t, "127.0.0.1", clientIP(r), "no proxy is trusted by default, not even loopback")
}

func TestClientIPInvalidPrefix(t *testing.T) {
	var bad []netip.Prefix
	clientIP := newClientIP([]netip.Prefix{{}, netip.MustParsePrefix("10.1.2.3/8")}, func(p netip.Prefix) { bad = append(bad, p) })
	assert.Equal(t, []netip.Prefix{{}}, bad)
	r := &http.Request{RemoteAddr: "10.200.0.1:80", Header: http.Header{"X-Forwarded-For": {"192.0.2.9"}}}
	assert.Equal(t, "192.0.2.9", clientIP(r), "an unmasked prefix is taken as its network")
}

func TestEntryKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::/64",
		"fe80::1%eth0":            "fe80::/64",
		"":                        "",
		"client-7":                "client-7",
		strings.Repeat("x", 1000): strings.Repeat("x", entryKeyMax),
	} {
		assert.Equal(t, want, entryKey(in), "entryKey(%q)", in)
	}
}

func FuzzClientIP(f *testing.F) {
	f.Add("10.1.2.3:80", "192.0.2.9, 10.0.0.1", `for="[2001:db8::1]:80";proto=https`)
	f.Add("[2001:db8:ffff::1]:1", "", `for=_x, for="\"`)
	trusted, trusted6 := netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")
	clientIP := newClientIP([]netip.Prefix{trusted, trusted6}, func(netip.Prefix) {})
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		h := http.Header{"Forwarded": {fwd}}
		if xff != "" {
			h["X-Forwarded-For"] = []string{xff}
		}
		r := &http.Request{RemoteAddr: remote, Header: h}
		got := clientIP(r)
		peer, ok := parseNode(remote)
		switch {
		case !ok:
			if got != remoteIP(r) {
				t.Errorf("clientIP = %q, want the raw peer %q", got, remoteIP(r))
			}
		case !trusted.Contains(peer) && !trusted6.Contains(peer):
			if got != peer.String() {
				t.Errorf("clientIP = %q from an untrusted peer %q: the headers were read", got, remote)
			}
		default:
			a, err := netip.ParseAddr(got)
			if err != nil || a.Is4In6() || a.Zone() != "" {
				t.Errorf("clientIP = %q: not an address in its plain form", got)
			}
		}
	})
}
