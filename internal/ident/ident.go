// Package ident holds the two rules about names that the root package, the
// stores and the middleware share: what a zone name may be, and how a
// random identifier is made.
package ident

import (
	"crypto/rand"
	"encoding/base64"
)

// ZoneRule says in words what ValidZone checks.
const ZoneRule = "1-64 letters, digits, '.', '_' or '-'"

// ValidZone reports whether s may name a zone: 1-64 letters, digits, '.',
// '_' or '-'. Such a name goes unescaped into store keys, cookies and URLs.
func ValidZone(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// New returns a random identifier: 128 bits from crypto/rand, in 22
// characters of unpadded base64url.
func New() string { return Short(16) }

// Short returns a random identifier of n bytes from crypto/rand, in
// unpadded base64url.
func Short(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
