package middleware

import (
	"net/http"
	"strings"
	"time"
)

// Cookie names are these prefixes followed by the zone's name: one access
// cookie and one visitor cookie per zone, so zones never share a place.
const (
	accessCookie  = "wr_a_"
	visitorCookie = "wr_v_"
)

// maxCookieScan bounds the bytes of Cookie headers read per request, so an
// oversized header costs no more than this.
const maxCookieScan = 16 << 10

// eachCookie calls yield with the value of every cookie named prefix+zone
// in the request's Cookie headers, in order, until yield returns false. It
// reads the header in place: no allocation, unlike http.Request.Cookie,
// and one vectorised byte search per cookie.
func eachCookie(h http.Header, prefix, zone string, yield func(string) bool) {
	scanned := 0
	for _, line := range h["Cookie"] {
		scanned += len(line)
		if scanned > maxCookieScan {
			return
		}
		for line != "" {
			pair := line
			if i := strings.IndexByte(line, ';'); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				line = ""
			}
			for pair != "" && isSpace(pair[0]) {
				pair = pair[1:]
			}
			if len(pair) <= len(prefix)+len(zone) || pair[:len(prefix)] != prefix || pair[len(prefix):len(prefix)+len(zone)] != zone {
				continue
			}
			rest := strings.TrimLeft(pair[len(prefix)+len(zone):], " \t\r\n")
			if rest == "" || rest[0] != '=' {
				continue // a longer name, or no value
			}
			val := strings.TrimSpace(rest[1:])
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if !yield(val) {
				return
			}
		}
	}
}

// isSpace is the white space net/http trims around cookie names.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

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
