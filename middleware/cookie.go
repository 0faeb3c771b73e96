package middleware

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Cookie names are these prefixes followed by the zone's name: one access
// cookie and one visitor cookie per zone, so zones never share a place.
const (
	accessCookie  = "wr_a_"
	visitorCookie = "wr_v_"
)

// maxCookieScan bounds the bytes of Cookie headers read per request: a
// request whose Cookie headers hold more, in all, is read as having no
// zone cookie, so an oversized header costs no more than len() of each line.
const maxCookieScan = 16 << 10

// eachCookie calls yield with the value of every cookie named prefix+zone
// in the request's Cookie headers, in order, until yield returns false. It
// reads the header in place: no allocation, unlike http.Request.Cookie,
// and one vectorised byte search per cookie.
//
// It finds what http.Request.CookiesNamed finds, value for value: white
// space is trimmed around the name and at the end of the value, not
// between '=' and the value; one pair of enclosing double quotes is
// dropped; a value with a byte outside RFC 6265's cookie-octet and space
// (0x20-0x7e but '"', ';', '\\') is skipped; a name with no '=' has the
// empty value; more cookies than net/http's limit (GODEBUG
// httpcookiemaxnum) and none is read. The only difference is the bound
// above: past it net/http reads, eachCookie does not. prefix+zone must be
// a valid cookie name; zone names are.
func eachCookie(h http.Header, prefix, zone string, yield func(string) bool) {
	lines := h["Cookie"]
	size := 0
	for _, line := range lines {
		size += len(line)
	}
	if size > maxCookieScan {
		return
	}
	// net/http counts a cookie per ';' plus one per line, before it reads
	// any; a header this short cannot pass the limit, so is not counted.
	if limit := cookieLimit(); len(lines)+size > limit {
		n := len(lines)
		for _, line := range lines {
			n += strings.Count(line, ";")
		}
		if n > limit {
			return
		}
	}
	for _, line := range lines {
		for line != "" {
			pair := line
			if i := strings.IndexByte(line, ';'); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				line = ""
			}
			pair = trimSpace(pair)
			if len(pair) < len(prefix)+len(zone) || pair[:len(prefix)] != prefix || pair[len(prefix):len(prefix)+len(zone)] != zone {
				continue
			}
			val := pair[len(prefix)+len(zone):]
			if val != "" { // else the name alone: the empty value
				for val != "" && isSpace(val[0]) {
					val = val[1:]
				}
				if val == "" || val[0] != '=' {
					continue // a longer name
				}
				val = val[1:]
			}
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if !validCookieValue(val) {
				continue
			}
			if !yield(val) {
				return
			}
		}
	}
}

// isSpace is the white space net/http trims around cookie names and values.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func trimSpace(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// validCookieValue reports whether net/http keeps a cookie of value v
// (its quotes dropped).
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f || c == '"' || c == ';' || c == '\\' {
			return false
		}
	}
	return true
}

// cookieLimit is the most cookies net/http reads from a request: with
// more, http.Request.Cookies returns none. It is 3000 unless GODEBUG
// httpcookiemaxnum (or the main module's go version) says otherwise, so it
// is asked of net/http itself, once, at the first request. A limit over
// maxCookieScan is taken as maxCookieScan: only a header of many empty
// lines can hold that many, and reading none of it is the safe side.
var cookieLimit = sync.OnceValue(func() int {
	reads := func(n int) bool { // n cookies: n-1 empty, then a=1
		r := http.Request{Header: http.Header{"Cookie": {strings.Repeat(";", n-1) + "a=1"}}}
		return len(r.CookiesNamed("a")) == 1
	}
	const usual = 3000 // net/http's default
	if reads(usual) && !reads(usual+1) {
		return usual
	}
	// The first count it refuses, less one.
	return sort.Search(maxCookieScan+1, func(n int) bool { return n > 0 && !reads(n) }) - 1
})

// setCookie sets a zone cookie that lives until expires. Max-Age is set
// along with Expires, counted on the Room's clock, so a browser whose
// clock differs from the server's keeps it for the right time.
func (e *edge) setCookie(w http.ResponseWriter, r *http.Request, prefix, zone, value string, expires time.Time) {
	maxAge := int(expires.Sub(e.room.Now()) / time.Second)
	if maxAge <= 0 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{
		Name: prefix + zone, Value: value, Path: "/", Expires: expires.UTC(), MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: e.cfg.secure || r.TLS != nil,
	})
}

// clearCookie tells the browser to drop a zone cookie.
func (e *edge) clearCookie(h http.Header, r *http.Request, prefix, zone string) {
	c := &http.Cookie{
		Name: prefix + zone, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: e.cfg.secure || r.TLS != nil,
	}
	h.Add("Set-Cookie", c.String())
}
