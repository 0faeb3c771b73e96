package middleware

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		eta, abandon time.Duration
		want         int
	}{
		{0, time.Minute, 2},
		{10 * time.Second, time.Minute, 2},
		{70 * time.Second, time.Minute, 7},
		{time.Hour, time.Minute, 20},                // a third of AbandonAfter
		{time.Hour, 10 * time.Minute, 30},           // at most 30
		{time.Duration(1<<63 - 1), time.Minute, 20}, // an ETA past counting
		{time.Minute, 3 * time.Second, 1},           // asking must keep the place
		{time.Minute, 0, 6},
	} {
		assert.Equal(t, tc.want, retryAfter(tc.eta, tc.abandon), "eta %v abandon %v", tc.eta, tc.abandon)
	}
}

func TestProgress(t *testing.T) {
	assert.Equal(t, 0, progress(0, time.Minute))
	assert.Equal(t, 0, progress(-time.Second, time.Minute))
	assert.Equal(t, 50, progress(time.Minute, time.Minute))
	assert.Equal(t, 75, progress(3*time.Minute, time.Minute))
	assert.Equal(t, 99, progress(time.Minute, 0), "never 100 while waiting")
	assert.Equal(t, 0, progress(time.Second, time.Duration(1<<63-1)))
}

func TestETAText(t *testing.T) {
	assert.Equal(t, "less than a minute", etaText(59*time.Second))
	assert.Equal(t, "about 1 minute", etaText(time.Minute))
	assert.Equal(t, "about 2 minutes", etaText(61*time.Second))
	assert.Equal(t, "about 90 minutes", etaText(90*time.Minute))
	assert.Equal(t, "about 2 hours", etaText(91*time.Minute))
	assert.Equal(t, "about 3 days", etaText(70*time.Hour))
	assert.NotEmpty(t, etaText(time.Duration(1<<63-1)))

	assert.Equal(t, "", etaRangeText(time.Second, time.Minute), "one minute either way is no range")
	assert.Equal(t, "between 1 and 5 minutes", etaRangeText(time.Second, 5*time.Minute))
	assert.Equal(t, "between 30 minutes and 3 hours", etaRangeText(30*time.Minute, 3*time.Hour))
}

func TestSafeReturn(t *testing.T) {
	for _, s := range []string{"/", "/checkout", "/a/b?c=d&e=%2F", "/%2F%2Fhost", "/a#frag"} {
		assert.True(t, safeReturn(s), "%q", s)
	}
	for _, s := range []string{
		"", "checkout", "//host", "//host/path", "/\\host", "\\\\host", "/a\\b", "http://host/", "https:host",
		"/a\tb", "/a\nb", "/a\x7fb", "/\u00e9", "javascript:alert(1)", "/%zz",
	} {
		assert.False(t, safeReturn(s), "%q", s)
	}
}

func TestAcceptsJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                  false,
		"*/*":                               false,
		"text/html":                         false,
		"application/json":                  true,
		"Application/JSON":                  true,
		"text/html, application/json;q=0.5": true,
		"application/json;q=0":              false,
		"application/json; q=0.0, text/*":   false,
		"application/jsonx":                 false,
		"application/problem+json":          false,
	} {
		r := &http.Request{Header: http.Header{}}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		assert.Equal(t, want, acceptsJSON(r), "%q", accept)
	}
}

func TestCompactPage(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"<p>\n   Some  text\n\n</p>\n", "<p>\nSome  text\n</p>\n"},
		{"<style>\n/* a note */\na { margin: 0 auto; color: #333; }\nb>i { font: 1rem/1.5 a, b; }\n</style>",
			"<style>a{margin:0 auto;color:#333}b>i{font:1rem/1.5 a,b}</style>"},
		{"<script>\n  // a note\n  var s = \"a  // b\", t = 'c \\' d';\n  return f(s, t) + +1;\n</script>",
			"<script>var s=\"a  // b\",t='c \\' d';return f(s,t)+ +1;</script>"},
		// A line break that may end a statement stays.
		{"<script>\n  let a = b\n  (c);\n  x = y\n  ++z;\n</script>", "<script>let a=b\n(c);x=y\n++z;</script>"},
		// A line with a template action is only trimmed.
		{"<script>\n  f();\n  var every = {{.RetryAfter}};\n  {{- if .X}}\n  g( 1 );\n  {{- end}}\n</script>",
			"<script>f();var every = {{.RetryAfter}};{{- if .X}}\ng(1);{{- end}}</script>"},
		{"<style>a { b: c", "<style>a{b:c"},
		{"<script>var a = \"no end", "<script>var a=\"no end"},
		{"<script>/* no end", "<script>"},
	} {
		assert.Equal(t, tc.want, compactPage(tc.src), "%q", tc.src)
	}
}

// Compacting the built-in page keeps every template action, in order.
func TestCompactPageKeepsTheActions(t *testing.T) {
	actions := regexp.MustCompile(`{{.*?}}`)
	compact := compactPage(pageHTML)
	assert.Equal(t, actions.FindAllString(pageHTML, -1), actions.FindAllString(compact, -1))
	assert.Less(t, len(compact), len(pageHTML)*3/4)
}
