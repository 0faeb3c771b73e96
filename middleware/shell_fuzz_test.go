package middleware

import (
	"net/url"
	"testing"
)

// FuzzShellQuery: the shell's own reading of its query finds the zone and
// the return URL that url.ParseQuery finds, or says it cannot read the
// query (which is then parsed by url.ParseQuery itself).
func FuzzShellQuery(f *testing.F) {
	for _, s := range []string{
		"zone=checkout&return=%2Fcheckout%2Fseat%3Frow%3D7", "return=%2Fcheckout&zone=checkout", "zone=a&zone=b",
		"zone=checkout", "", "&&", "zone", "return=/x&return=/y", "zo%6Ee=checkout", "zone=check%6Fut", "a=1;zone=x",
		"return=%zz&return=/x", "zone=a+b", "return=+/x+", "=&=zone", "zone==x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		zone, rawRet, plain := shellQuery(raw)
		if !plain {
			return
		}
		q, _ := url.ParseQuery(raw)
		if zone != q.Get("zone") {
			t.Fatalf("query %q: zone %q, url.ParseQuery reads %q", raw, zone, q.Get("zone"))
		}
		if ret, err := url.QueryUnescape(rawRet); err == nil && ret != q.Get("return") {
			t.Fatalf("query %q: return %q, url.ParseQuery reads %q", raw, ret, q.Get("return"))
		}
	})
}
