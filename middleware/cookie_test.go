package middleware

import (
	"net/http"
	"slices"
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

// netHTTPValues is what the scanner must find: the values net/http reads.
func netHTTPValues(header []string, name string) []string {
	var vals []string
	r := &http.Request{Header: http.Header{"Cookie": header}}
	for _, c := range r.CookiesNamed(name) {
		vals = append(vals, c.Value)
	}
	return vals
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
		{[]string{"a=1;  \twr_a_z = tok ;b=2"}, []string{" tok"}},
		{[]string{`wr_a_z="tok"`}, []string{"tok"}},
		{[]string{"wr_a_z="}, []string{""}},
		{[]string{"wr_a_z"}, []string{""}},
		{[]string{"wr_a_z ; a=1"}, []string{""}},
		{[]string{"wr_a_z x=1; wr_a_z x"}, nil},
		{[]string{"wr_a_zz=other; wr_a_=x; xwr_a_z=no; a=wr_a_z=no"}, nil},
		{[]string{"wr_v_z=visitor; wr_a_z=one", "wr_a_z=two"}, []string{"one", "two"}},
		{[]string{"wr_a_z=one; wr_a_z=two"}, []string{"one", "two"}},
		{[]string{strings.Repeat("x", maxCookieScan) + "; wr_a_z=late"}, nil},
		{[]string{"wr_a_z=early", strings.Repeat("x", maxCookieScan)}, nil},
		// White space: net/http trims it around the name and at the end of
		// the value, keeps it after '=' and inside quotes (found by the
		// fuzzer), and refuses a value with other white space.
		{[]string{`wr_a_z="0 "`}, []string{"0 "}},
		{[]string{`wr_a_z=" 0"`}, []string{" 0"}},
		{[]string{"wr_a_z= 0"}, []string{" 0"}},
		{[]string{"wr_a_z=0 \t"}, []string{"0"}},
		{[]string{"wr_a_z=a b"}, []string{"a b"}},
		{[]string{"wr_a_z=\"\t\"; wr_a_z=a\tb; wr_a_z=\t0"}, nil},
		// Quotes: one enclosing pair is dropped; any other makes it invalid.
		{[]string{`wr_a_z=""`}, []string{""}},
		{[]string{`wr_a_z="; wr_a_z=a"b; wr_a_z="a"b"; wr_a_z=""a""`}, nil},
		// Bytes outside cookie-octet and space.
		{[]string{"wr_a_z=a\\b; wr_a_z=\x7f; wr_a_z=\x00; wr_a_z=\xc3\xa9"}, nil},
		{[]string{"wr_a_z=a=b"}, []string{"a=b"}},
		// More cookies than net/http reads: none.
		{[]string{strings.Repeat(";", 2999) + "wr_a_z=last"}, []string{"last"}},
		{[]string{strings.Repeat(";", 3000) + "wr_a_z=last"}, nil},
		{[]string{"wr_a_z=first", strings.Repeat(";", 2999)}, nil},
		{append([]string{"wr_a_z=first"}, make([]string, 3000)...), nil},
	} {
		assert.Equal(t, tc.want, cookieValues(tc.header, accessCookie, "z"), "%q", tc.header)
		if size := len(strings.Join(tc.header, "")); size <= maxCookieScan {
			assert.Equal(t, tc.want, netHTTPValues(tc.header, accessCookie+"z"), "net/http on %q", tc.header)
		}
	}
}

// FuzzEachCookie checks that the scanner finds exactly what net/http finds,
// and never panics. A NUL in the input (a byte no header carries) starts
// another Cookie line.
func FuzzEachCookie(f *testing.F) {
	for _, s := range []string{"wr_a_z=tok", "a=1; wr_a_z=\"tok\"; b", "wr_a_z=1;wr_a_z=2", ";;=;wr_a_z", "wr_a_z=1\x00a=2; wr_a_z=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		header := strings.Split(input, "\x00")
		got := cookieValues(header, accessCookie, "z")
		var want []string
		if len(input)-(len(header)-1) <= maxCookieScan { // past it the scanner reads nothing
			want = netHTTPValues(header, "wr_a_z")
		}
		if !slices.Equal(got, want) {
			t.Fatalf("header %q: net/http finds %q, the scanner %q", header, want, got)
		}
	})
}

// TestCookieLimit checks that the scanner reads net/http's limit right.
func TestCookieLimit(t *testing.T) {
	assert.Equal(t, 3000, cookieLimit(), "net/http's default")
}
