package middleware_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzClaimStaysOnSite: whatever "return" a claim is given, by a visitor
// let in or by a stranger, the redirect it answers with leads to a page
// of this site: no open redirect, also not through the spellings
// browsers read as another host (//host, /\host, tabs and newlines).
func FuzzClaimStaysOnSite(f *testing.F) {
	for _, s := range []string{
		"/checkout", "/checkout?x=1#y", "", "//evil.example", "/\\evil.example", "https://evil.example/",
		"/%2F%2Fevil.example", "\t//evil.example", "/\t/evil.example", "/..//evil.example", " /x", "///evil.example",
		"/.waitroom/claim?zone=checkout", "javascript:alert(1)", "/\r\nLocation: https://evil.example/", "/@evil.example",
		"/caf\u00e9", "/a b",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	e := newEnv(f, checkoutZone(1), nil)
	inside := e.client()
	if res := inside.get("/checkout"); res.StatusCode != http.StatusOK {
		f.Fatalf("the first visitor is not let in: %d", res.StatusCode)
	}
	base, _ := url.Parse(site + "/")
	f.Fuzz(func(t *testing.T, ret string, let bool) {
		c := e.client()
		if let {
			c = inside
		}
		res := c.get("/.waitroom/claim?zone=checkout&return=" + url.QueryEscape(ret))
		loc := res.Header.Get("Location")
		if loc == "" {
			if res.StatusCode/100 == 3 {
				t.Fatalf("a redirect without Location for %q", ret)
			}
			return
		}
		if strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") || strings.ContainsAny(loc, "\\\t\r\n") {
			t.Fatalf("return %q redirects to %q, which browsers may read as another host", ret, loc)
		}
		u, err := base.Parse(loc)
		if err != nil {
			t.Fatalf("return %q redirects to %q, not a URL: %v", ret, loc, err)
		}
		if u.Host != base.Host || u.Scheme != base.Scheme {
			t.Fatalf("return %q redirects off the site, to %q", ret, loc)
		}
	})
}
