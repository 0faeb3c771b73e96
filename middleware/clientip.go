package middleware

import (
	"net/http"
	"net/netip"
	"strings"
)

// This file reads a request's client address: the peer's, or, when the
// peer is a proxy the Handler trusts (WithTrustedProxies), the address that
// proxy says it forwards for. The per-client limits (WithEntryLimit,
// WithMaxConnectionsPerIP) count by it.

// maxForwardHops bounds the entries of X-Forwarded-For or Forwarded read
// per request, from the right: a chain of proxies is a handful of hops,
// and a header of thousands of entries costs no more than this many.
const maxForwardHops = 32

// WithTrustedProxies names the proxies in front of the Handler (load
// balancers, CDN edges, a local nginx) whose word on the client's address
// it takes. Behind them every request's peer is a proxy: without this
// option, every client counts as the proxy's address, and the per-client
// limits (WithEntryLimit, WithMaxConnectionsPerIP) count all of them
// together.
//
// When the request's peer (Request.RemoteAddr) is in one of the prefixes,
// the client address is read from X-Forwarded-For (all its lines, in
// order), or, when the request has none, from the for= parameters of
// Forwarded (RFC 7239): the rightmost entry that is not itself in one of
// the prefixes. The entries right of it were written by proxies the
// Handler trusts; those left of it may be the client's own and are not
// read. Entries may carry a port ("192.0.2.7:4711", "[2001:db8::7]:4711");
// IPv4-mapped IPv6 addresses count as IPv4. If the walk meets an entry
// that is not an address (garbage, "unknown", an obfuscated identifier),
// or more than 32 entries, the client is the last trusted address read
// (the peer, if it read none): a proxy that cannot name its client counts
// as one client. From a peer in none of the prefixes both headers are
// ignored, so a client cannot choose its own address by sending them.
//
// List only proxies that set the header (append their peer to
// X-Forwarded-For, or to Forwarded if that is what they write) and that
// clients cannot bypass. A prefix that is not valid (the zero
// netip.Prefix) is ignored and logged when the Handler is made.
// WithClientIP replaces this reading altogether. Default none: the client
// address is the peer's.
func WithTrustedProxies(prefixes ...netip.Prefix) Option {
	return func(c *config) { c.trustedProxies = append(c.trustedProxies, prefixes...) }
}

// clientIPReader reads the client address of requests, trusting the
// forwarding headers of peers in trusted.
type clientIPReader struct {
	trusted []netip.Prefix // valid and masked
}

// newClientIP returns the default client address function for the
// trusted prefixes, with the invalid ones dropped and reported to invalid.
func newClientIP(prefixes []netip.Prefix, invalid func(netip.Prefix)) func(*http.Request) string {
	c := &clientIPReader{}
	for _, p := range prefixes {
		if !p.IsValid() {
			invalid(p)
			continue
		}
		c.trusted = append(c.trusted, p.Masked())
	}
	return c.clientIP
}

// clientIP is the request's client address, in netip.Addr's form
// ("192.0.2.7", "2001:db8::7"). A peer that is not an IP address (a Unix
// socket's, a test's) is the host part of RemoteAddr, as it is.
func (c *clientIPReader) clientIP(r *http.Request) string {
	peer, ok := parseNode(r.RemoteAddr)
	if !ok {
		return remoteIP(r)
	}
	if c.trusts(peer) {
		return c.forwardedFor(r.Header, peer).String()
	}
	return peer.String()
}

// trusts reports whether a is in a trusted prefix.
func (c *clientIPReader) trusts(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor walks the forwarding header of a request from a trusted
// peer, right to left, to the first address not trusted.
func (c *clientIPReader) forwardedFor(h http.Header, peer netip.Addr) netip.Addr {
	last, hops := peer, 0
	// next judges one entry; done ends the walk with the client.
	next := func(entry string) (client netip.Addr, done bool) {
		if hops++; hops > maxForwardHops {
			return last, true
		}
		a, ok := parseNode(entry)
		if !ok {
			return last, true
		}
		if !c.trusts(a) {
			return a, true
		}
		last = a
		return a, false
	}
	if lines := h["X-Forwarded-For"]; len(lines) > 0 {
		for i := len(lines) - 1; i >= 0; i-- {
			for line := lines[i]; line != ""; {
				var entry string
				if j := strings.LastIndexByte(line, ','); j >= 0 {
					entry, line = line[j+1:], line[:j]
				} else {
					entry, line = line, ""
				}
				if entry = trimOWS(entry); entry == "" {
					continue // an empty list element
				}
				if a, done := next(entry); done {
					return a
				}
			}
		}
		return last
	}
	lines := h["Forwarded"]
	client, done := last, false
	for i := len(lines) - 1; i >= 0 && !done; i-- {
		forwardedFors(lines[i], func(v string) bool {
			client, done = next(v)
			return !done
		})
	}
	if !done {
		return last
	}
	return client
}

// forwardedFors calls yield with the for= value of each element of one
// Forwarded line (RFC 7239: elements split by ',', pairs by ';', values
// tokens or quoted strings), right to left, "" for an element without one,
// until yield returns false. It reads at most the last maxForwardHops+1
// elements, in memory of that size whatever the line's length.
func forwardedFors(line string, yield func(string) bool) {
	var ring [maxForwardHops + 1]string
	n := 0
	splitQuoted(line, ',', func(elem string) {
		if trimOWS(elem) == "" {
			return // an empty list element
		}
		ring[n%len(ring)] = elem
		n++
	})
	for i := n - 1; i >= 0 && i >= n-len(ring); i-- {
		v, found := "", false // the first for= counts
		splitQuoted(ring[i%len(ring)], ';', func(pair string) {
			if k, val, ok := strings.Cut(pair, "="); ok && !found && strings.EqualFold(trimOWS(k), "for") {
				v, found = unquote(trimOWS(val)), true
			}
		})
		if !yield(v) {
			return
		}
	}
}

// splitQuoted calls f with each part of s between seps that are not in a
// quoted string (with its backslash escapes).
func splitQuoted(s string, sep byte, f func(string)) {
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			f(s[start:i])
			start = i + 1
		}
	}
	f(s[start:])
}

// unquote returns the value of a token or quoted string; "" for a quoted
// string that does not end, or has bytes after its end.
func unquote(s string) string {
	if s == "" || s[0] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			if i++; i < len(s) {
				b.WriteByte(s[i])
			}
		case '"':
			if i != len(s)-1 {
				return ""
			}
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return ""
}

// parseNode reads an address as proxies write it: "192.0.2.7",
// "2001:db8::7", either with a port ("192.0.2.7:4711",
// "[2001:db8::7]:4711") or in brackets ("[2001:db8::7]"). The result has
// no zone and is IPv4 for an IPv4-mapped address.
func parseNode(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, err2 := netip.ParseAddrPort(s); err2 == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil || !a.IsValid() {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// trimOWS trims the optional white space of an HTTP list (space, tab).
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
