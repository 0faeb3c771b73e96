package middleware

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func cookieValues(header []string, prefix, zone string) []string {
	var got []string
	eachCookie(http.Header{"Cookie": header}, prefix, zone, func(v string) bool {
		got = append(got, v)
		return true
	})
	return got
}

func TestEachCookie(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   []string
	}{
		{nil, nil},
		{[]string{""}, nil},
		{[]string{"wr_a_z=tok"}, []string{"tok"}},
		{[]string{"a=1; wr_a_z=tok; b=2"}, []string{"tok"}},
		{[]string{"a=1;wr_a_z=tok;b=2"}, []string{"tok"}},
		{[]string{"a=1;  \twr_a_z = tok ;b=2"}, []string{"tok"}},
		{[]string{`wr_a_z="tok"`}, []string{"tok"}},
		{[]string{"wr_a_z="}, []string{""}},
		{[]string{"wr_a_z"}, nil},
		{[]string{"wr_a_zz=other; wr_a_=x; xwr_a_z=no; a=wr_a_z=no"}, nil},
		{[]string{"wr_v_z=visitor; wr_a_z=one", "wr_a_z=two"}, []string{"one", "two"}},
		{[]string{"wr_a_z=one; wr_a_z=two"}, []string{"one", "two"}},
		{[]string{strings.Repeat("x", maxCookieScan) + "; wr_a_z=late"}, nil},
	} {
		assert.Equal(t, tc.want, cookieValues(tc.header, accessCookie, "z"), "%q", tc.header)
	}
}

// FuzzEachCookie checks that the scanner agrees with net/http on every
// cookie net/http accepts, and never panics.
func FuzzEachCookie(f *testing.F) {
	for _, s := range []string{"wr_a_z=tok", "a=1; wr_a_z=\"tok\"; b", "wr_a_z=1;wr_a_z=2", ";;=;wr_a_z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got := cookieValues([]string{header}, accessCookie, "z")
		r := &http.Request{Header: http.Header{"Cookie": {header}}}
		var want []string
		for _, c := range r.CookiesNamed("wr_a_z") {
			want = append(want, c.Value)
		}
		// net/http drops values it finds malformed; the token check
		// rejects those, so only the ones it accepts must match.
		// A name without '=' has an empty value to net/http and none to
		// the scanner: no token either way. Tokens hold no white space; the
		// scanner trims it.
		for _, w := range want {
			if w = strings.TrimSpace(w); w != "" && !containsString(got, w) {
				t.Fatalf("header %q: net/http finds %q, the scanner %q", header, want, got)
			}
		}
		for _, g := range got {
			if strings.Contains(g, ";") {
				t.Fatalf("value %q holds a separator", g)
			}
		}
	})
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
