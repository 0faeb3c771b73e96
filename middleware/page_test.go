package middleware

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/waitroom/waitroom"
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
	assert.Equal(t, "up to 5 minutes", etaRangeText(time.Second, 5*time.Minute), "a second is not a minute")
	assert.Equal(t, "between 1 and 5 minutes", etaRangeText(119*time.Second, 5*time.Minute), "the lower bound rounded down")
	assert.Equal(t, "between 2 and 5 minutes", etaRangeText(2*time.Minute, 4*time.Minute+time.Second), "the upper bound rounded up")
	assert.Equal(t, "between 30 minutes and 3 hours", etaRangeText(30*time.Minute, 3*time.Hour))
	assert.Equal(t, "between 1 and 4 hours", etaRangeText(100*time.Minute, 3*time.Hour+time.Minute))
	assert.Equal(t, "", etaRangeText(100*time.Minute, 2*time.Hour+time.Minute), "both about 2 hours")
}

// The headline and the range of an ETA agree, and say no more than the
// ETA knows: a lower bound of a second is not "1 minute", and an estimate
// that is the upper bound itself is "up to" it, not "about" it.
func TestETAWords(t *testing.T) {
	const s, m, h = time.Second, time.Minute, time.Hour
	for _, tc := range []struct {
		name            string
		eta             waitroom.ETA
		text, rangeText string
	}{
		{"was: less than a minute (between 1 and 5 minutes)",
			waitroom.ETA{Expected: 30 * s, Low: s, High: 5 * m}, "less than a minute", "up to 5 minutes"},
		{"was: about 5 minutes (between 1 and 5 minutes), place 1 right after the start",
			waitroom.ETA{Expected: 5 * m, Low: s, High: 5 * m}, "up to 5 minutes", ""},
		{"a measured estimate within the range",
			waitroom.ETA{Expected: 3 * m, Low: s, High: 5 * m}, "about 3 minutes", "up to 5 minutes"},
		{"a lower bound of minutes",
			waitroom.ETA{Expected: 20 * m, Low: 3*m + 20*s, High: 4*h + 10*m}, "about 20 minutes", "between 3 minutes and 5 hours"},
		{"the upper bound, far back",
			waitroom.ETA{Expected: 4*h + 10*m, Low: 3*m + 20*s, High: 4*h + 10*m}, "up to 5 hours", "between 3 minutes and 5 hours"},
		{"a known wait",
			waitroom.ETA{Expected: 3 * m, Low: 3 * m, High: 3 * m}, "about 3 minutes", ""},
		{"all within a minute",
			waitroom.ETA{Expected: 40 * s, Low: s, High: 40 * s}, "less than a minute", ""},
		{"place 1, a session of a minute",
			waitroom.ETA{Expected: m, Low: s, High: m}, "up to 1 minute", ""},
		{"an estimate out of its bounds is held within them",
			waitroom.ETA{Expected: 10 * m, Low: 2 * m, High: 5 * m}, "up to 5 minutes", "between 2 and 5 minutes"},
	} {
		text, rangeText := etaWords(tc.eta)
		assert.Equal(t, tc.text, text, tc.name)
		assert.Equal(t, tc.rangeText, rangeText, tc.name)
	}
}

// Whatever the ETA, the headline's figure lies within the range's words.
func TestETAWordsAgree(t *testing.T) {
	figure := regexp.MustCompile(`^(?:about|up to) (\d+) (minute|hour|day)s?$`)
	bounds := regexp.MustCompile(`^(?:between (\d+)(?: (minute|hour|day)s?)? and |up to ())(\d+) (minute|hour|day)s?$`)
	size := map[string]time.Duration{"minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}
	steps := []time.Duration{0, time.Second, 30 * time.Second, time.Minute, 61 * time.Second, 119 * time.Second,
		4 * time.Minute, 89 * time.Minute, 91 * time.Minute, 150 * time.Minute, 47 * time.Hour, 49 * time.Hour, 100 * time.Hour}
	for _, lo := range steps {
		for _, exp := range steps {
			for _, hi := range steps {
				if lo > exp || exp > hi {
					continue
				}
				text, rangeText := etaWords(waitroom.ETA{Expected: exp, Low: lo, High: hi})
				f, b := figure.FindStringSubmatch(text), bounds.FindStringSubmatch(rangeText)
				if f == nil || b == nil {
					continue // "less than a minute", or no range
				}
				n, _ := strconv.Atoi(f[1])
				at := time.Duration(n) * size[f[2]]
				top, _ := strconv.Atoi(b[4])
				assert.LessOrEqual(t, at, time.Duration(top)*size[b[5]], "%v %v %v: %q (%q)", lo, exp, hi, text, rangeText)
				if b[1] != "" {
					bottom, _ := strconv.Atoi(b[1])
					unit := b[2]
					if unit == "" {
						unit = b[5]
					}
					assert.GreaterOrEqual(t, at, time.Duration(bottom)*size[unit], "%v %v %v: %q (%q)", lo, exp, hi, text, rangeText)
				}
			}
		}
	}
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

func TestNoneMatch(t *testing.T) {
	const etag = `"abc"`
	for inm, want := range map[string]bool{
		`"abc"`:                true,
		`W/"abc"`:              true,
		` "x" ,W/"abc"`:        true,
		`*`:                    true,
		`"x", *`:               true,
		``:                     false,
		`abc`:                  false,
		`"ab"`:                 false,
		`"abc`:                 false,
		`"x" "abc"`:            true, // no comma: read as a list all the same
		`W/`:                   false,
		`"a,b", "abc"`:         true,
		`junk, "abc"`:          false, // a malformed tag ends the list
		`"abcd"`:               false,
		`W/"abc"junk`:          true,
		strings.Repeat(",", 9): false,
	} {
		h := http.Header{"If-None-Match": {inm}}
		assert.Equal(t, want, noneMatch(h, etag), "%q", inm)
	}
	assert.False(t, noneMatch(http.Header{}, etag))
	assert.True(t, noneMatch(http.Header{"If-None-Match": {`"x"`, `"abc"`}}, etag), "one of several lines")
}
