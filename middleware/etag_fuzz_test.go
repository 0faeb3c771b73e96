package middleware

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzNoneMatch: whatever If-None-Match a client sends, a page is
// answered 304 only when the header names the page's ETag (or is "*"),
// never for a tag it does not hold; and a well-formed list that names it
// always matches.
func FuzzNoneMatch(f *testing.F) {
	const etag = `"q0X3_kLm-9aBcDeFgHiJ"`
	for _, s := range []string{
		etag, "W/" + etag, `"a", ` + etag, `*`, ``, `"q0X3_kLm-9aBcDeFgHiJ`, `q0X3_kLm-9aBcDeFgHiJ`,
		`"q0X3_kLm-9aBcDeFgHi"`, `W/"x",W/` + etag, `"` + etag, `,,, ` + etag, `"a,b` + etag,
	} {
		f.Add(s, "")
		f.Add(s, `"other"`)
	}
	f.Fuzz(func(t *testing.T, inm, other string) {
		h := http.Header{"If-None-Match": {inm}}
		got := noneMatch(h, etag)
		if got && !strings.Contains(inm, etag) && !strings.Contains(inm, "*") {
			t.Fatalf("If-None-Match %q matched %s, which it does not name", inm, etag)
		}
		// A well-formed list that names the tag matches.
		if other == "" || strings.ContainsAny(other, "\"*") {
			return
		}
		list := `"` + other + `", W/` + etag
		if !noneMatch(http.Header{"If-None-Match": {list}}, etag) {
			t.Fatalf("If-None-Match %q did not match %s", list, etag)
		}
	})
}
