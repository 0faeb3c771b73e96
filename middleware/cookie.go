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
// and one fast substring search per header line.
func eachCookie(h http.Header, prefix, zone string, yield func(string) bool) {
	scanned := 0
	for _, line := range h["Cookie"] {
		scanned += len(line)
		if scanned > maxCookieScan {
			return
		}
		for i := 0; ; {
			j := strings.Index(line[i:], prefix)
			if j < 0 {
				break
			}
			start := i + j
			i = start + len(prefix)
			// The name must begin a cookie-pair: at the start of the line or
			// after ';' and white space.
			k := start
			for k > 0 && (line[k-1] == ' ' || line[k-1] == '\t') {
				k--
			}
			if k > 0 && line[k-1] != ';' {
				continue
			}
			rest, ok := strings.CutPrefix(line[i:], zone)
			if !ok {
				continue
			}
			rest = strings.TrimLeft(rest, " \t")
			if rest == "" || rest[0] != '=' {
				continue // a longer name, or no value
			}
			val := rest[1:]
			if end := strings.IndexByte(val, ';'); end >= 0 {
				val = val[:end]
			}
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if !yield(val) {
				return
			}
		}
	}
}

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
