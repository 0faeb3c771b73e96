package middleware

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
)

//go:embed page.html
var pageHTML string

// defaultPage is the built-in waiting page, compacted (compactPage) and
// parsed at init; a test renders every state of it.
var defaultPage = template.Must(template.New("page.html").Parse(compactPage(pageHTML)))

// States reported beside the Room's visitor states.
const (
	stateUnavailable = "unavailable" // the store cannot be reached
	stateNone        = "none"        // no place in the zone's line
)

// unavailableRetry is the Retry-After, in seconds, of a 503.
const unavailableRetry = 5

// PageData is what the waiting page template (built-in or WithTemplate) is
// executed with: these fields are the template's variables ({{.Position}},
// {{.ClaimURL}} ...). Every field is plain data; html/template escapes it
// for its context (a URL in a <script> becomes a quoted JavaScript string).
//
// A custom page that wants live updates opens WebSocketURL (making it
// absolute: "ws://" or "wss://" + location.host + WebSocketURL), else
// EventsURL with an EventSource, else polls StatusURL every RetryAfter
// seconds; each message is a JSON report (see the package documentation)
// and a report whose state is "admitted" or "inside" sends the page to its
// claim_url. Without JavaScript, <meta http-equiv="refresh"
// content="{{.RetryAfter}}"> asks the protected URL again, which claims.
type PageData struct {
	// State is "waiting" (in line), "closed" (the sale has ended) or
	// "unavailable" (the store cannot be reached; status 503).
	State string
	// Zone is the zone's name.
	Zone string
	// StatusCode is the response's HTTP status.
	StatusCode int

	// Position is the visitor's place in line, 1 for next (Ahead+1); 0
	// unless waiting.
	Position int64
	// Ahead is the number of places before the visitor's. It counts places
	// of visitors who may have left, so it never underestimates.
	Ahead int64
	// ETA is the expected wait; ETALow and ETAHigh bound it.
	ETA, ETALow, ETAHigh time.Duration
	// ETAText reads ETA in words ("about 4 minutes"), ETARangeText the
	// range ("between 2 and 9 minutes").
	ETAText, ETARangeText string
	// Progress is the share of the wait behind the visitor, 0-100.
	Progress int

	// OpensAt is the sale's start if it is still ahead, else zero.
	// OpensAtText is it in UTC for people ("Sun 1 Mar 2026, 10:00 UTC"),
	// OpensAtRFC3339 for machines (a <time datetime> attribute); both are
	// empty when OpensAt is zero.
	OpensAt                     time.Time
	OpensAtText, OpensAtRFC3339 string

	// RetryAfter is the number of seconds after which the page should ask
	// again (it is also the Retry-After header); 0 when there is nothing
	// to wait for.
	RetryAfter int
	// StatusURL is the JSON status endpoint for this zone; the page polls
	// it. ClaimURL is where the page sends the visitor once admitted; it
	// comes back to ReturnURL, the URL the visitor first asked for.
	StatusURL, ClaimURL, ReturnURL string
	// WebSocketURL and EventsURL are the paths of the push endpoints for
	// this zone and ReturnURL (websocket and server-sent events); each is
	// empty when its endpoint is turned off (WithWebSocket,
	// WithServerSentEvents).
	WebSocketURL, EventsURL string
}

// report is the JSON form of a visitor's standing.
type report struct {
	State             string `json:"state"`
	Zone              string `json:"zone"`
	Position          int64  `json:"position"`
	Ahead             int64  `json:"ahead"`
	ETASeconds        int64  `json:"eta_seconds"`
	ETALowSeconds     int64  `json:"eta_low_seconds"`
	ETAHighSeconds    int64  `json:"eta_high_seconds"`
	OpensAt           string `json:"opens_at,omitempty"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
	Progress          int    `json:"progress"`
	ETAText           string `json:"eta_text,omitempty"`
	ETARangeText      string `json:"eta_range_text,omitempty"`
	ClaimURL          string `json:"claim_url,omitempty"`
}

func (d *PageData) report() report {
	r := report{
		State: d.State, Zone: d.Zone, Position: d.Position, Ahead: d.Ahead,
		ETASeconds: secondsOf(d.ETA), ETALowSeconds: secondsOf(d.ETALow), ETAHighSeconds: secondsOf(d.ETAHigh),
		OpensAt: d.OpensAtRFC3339, RetryAfterSeconds: d.RetryAfter, Progress: d.Progress,
		ETAText: d.ETAText, ETARangeText: d.ETARangeText,
	}
	if d.State == "admitted" || d.State == "inside" {
		r.ClaimURL = d.ClaimURL
	}
	return r
}

func secondsOf(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// returnURL is where a visitor goes back to once let in: the protected URL
// it asked for, or for a reserved endpoint its "return" parameter (a path
// on this site outside the prefix), else "/".
func (e *edge) returnURL(r *http.Request) string {
	ret := r.URL.RequestURI()
	if p := r.URL.Path; p == e.cfg.prefix || strings.HasPrefix(p, e.cfg.prefixSlash) {
		ret = r.URL.Query().Get("return")
		if strings.HasPrefix(ret, e.cfg.prefixSlash) || ret == e.cfg.prefix {
			ret = ""
		}
	}
	if !safeReturn(ret) {
		return "/"
	}
	return ret
}

// pageData describes a visitor's standing for the page and the JSON; ret
// is the visitor's return URL (returnURL).
func (e *edge) pageData(ret, zone string, s standing, now time.Time) *PageData {
	d := &PageData{State: s.state.String(), Zone: zone, StatusURL: e.cfg.prefix + "/status?zone=" + zone, ReturnURL: ret}
	q := url.Values{"zone": {zone}, "return": {ret}}.Encode()
	d.ClaimURL = e.cfg.prefix + "/claim?" + q
	if e.cfg.websocket {
		d.WebSocketURL = e.cfg.prefix + "/ws?" + q
	}
	if e.cfg.events {
		d.EventsURL = e.cfg.prefix + "/events?" + q
	}
	if s.opensAt.After(now) {
		d.OpensAt = s.opensAt
		d.OpensAtText = s.opensAt.UTC().Format("Mon 2 Jan 2006, 15:04 MST")
		d.OpensAtRFC3339 = s.opensAt.UTC().Format(time.RFC3339)
	}
	switch s.state {
	case waitroom.StateWaiting:
		d.StatusCode = e.cfg.status
		d.Ahead = max(s.ahead, 0)
		d.Position = d.Ahead + 1
		d.ETA, d.ETALow, d.ETAHigh = s.eta.Expected, s.eta.Low, s.eta.High
		d.ETAText, d.ETARangeText = etaText(s.eta.Expected), etaRangeText(s.eta.Low, s.eta.High)
		d.Progress = progress(now.Sub(s.arrived), s.eta.Expected)
		d.RetryAfter = e.retryAfter(zone, s.eta.Expected)
	case waitroom.StateAdmitted, waitroom.StateInside:
		d.StatusCode = http.StatusOK
		d.Progress = 100
	case waitroom.StateClosed:
		d.StatusCode = http.StatusGone
	}
	return d
}

// retryAfter is the RetryAfter of a visitor of zone waiting for eta.
func (e *edge) retryAfter(zone string, eta time.Duration) int {
	var abandon time.Duration
	if z, ok := e.room.Zone(zone); ok {
		abandon = z.AbandonAfter
	}
	return min(retryAfter(eta, abandon), e.cfg.maxRetryAfter)
}

// retryAfter is how long a waiting visitor waits before asking again: a
// tenth of its expected wait, within 2 and 30 seconds, and never more than
// a third of the zone's abandonment timeout, so that asking keeps its place.
func retryAfter(eta, abandon time.Duration) int {
	hi := 30
	if abandon > 0 {
		hi = min(hi, int(abandon/time.Second)/3)
	}
	hi = max(hi, 1)
	n := int(min(eta/10/time.Second, 3600))
	return min(max(n, min(2, hi)), hi)
}

// progress is the share of the whole wait already behind, 0-99 while
// waiting: elapsed since arrival over elapsed plus the expected rest.
func progress(elapsed, rest time.Duration) int {
	if elapsed <= 0 {
		return 0
	}
	if rest <= 0 {
		return 99
	}
	p := int(100 * elapsed.Seconds() / (elapsed.Seconds() + rest.Seconds()))
	return min(max(p, 0), 99)
}

// spell reads d in a unit fit for a wait: minutes up to 90, hours up to
// 48, days beyond.
func spell(d time.Duration) (n int64, unit string) {
	switch {
	case d <= 90*time.Minute:
		return max(1, int64(math.Ceil(d.Minutes()))), "minute"
	case d <= 48*time.Hour:
		return int64(math.Round(d.Hours())), "hour"
	}
	return int64(math.Min(math.Round(d.Hours()/24), 1e6)), "day"
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}

func etaText(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	return "about " + plural(spell(d))
}

func etaRangeText(lo, hi time.Duration) string {
	a, ua := spell(lo)
	b, ub := spell(hi)
	switch {
	case a == b && ua == ub:
		return ""
	case ua == ub:
		return "between " + strconv.FormatInt(a, 10) + " and " + plural(b, ub)
	}
	return "between " + plural(a, ua) + " and " + plural(b, ub)
}

// serveStanding answers a protected request of a visitor who is not let
// in: the waiting page or the "sale has ended" page, as HTML or JSON.
func (e *edge) serveStanding(w http.ResponseWriter, r *http.Request, zone string, s standing, now time.Time) {
	e.serve(w, r, zone, s, false, now)
}

// serveUnavailable answers a protected request while the store cannot be
// reached and the policy is FailClosed.
func (e *edge) serveUnavailable(w http.ResponseWriter, r *http.Request, zone string) {
	e.serve(w, r, zone, standing{}, true, e.room.Now())
}

// pageCacheSize is the number of rendered responses kept (pages and JSON
// bodies). A standing is reused for WithPositionTTL, so a waiting
// visitor's repeat requests, and every visitor with the same standing and
// URL, are answered without building the page's data or running the
// template.
const pageCacheSize = 4096

// maxKeyURI is the longest request URI a rendered response is kept for;
// longer ones are rendered each time, so that the cache's keys stay small.
const maxKeyURI = 2048

// pageKey is everything a response to a protected URL is made of, so
// that equal keys make equal responses: the request URI (outside the
// prefix, the visitor's return URL is a function of it), the standing,
// and what the clock changes in it (progress, whether the opening is
// still ahead). Building one allocates nothing but a URI with a query.
type pageKey struct {
	zone, uri   string
	json        bool // the JSON form
	unavailable bool // the store cannot be reached: standing unused
	state       waitroom.VisitorState
	ahead       int64
	eta         waitroom.ETA
	progress    int
	retryAfter  int
	opensAt     int64 // Unix nanoseconds while the sale's opening is ahead, else 0
}

// renderedPage is a response ready to send: status, body and the values of
// its header.
type renderedPage struct {
	status      int
	contentType string
	length      string
	retryAfter  string // "" for none
	body        []byte
}

var busyPage = []byte("<!doctype html><html lang=\"en\"><title>Please wait</title><p>The page is busy. Please try again in a moment.</p></html>")

// serve answers a protected request with the visitor's standing (or, if
// unavailable, the "please wait" of a store failure), from the rendered
// responses when one was made for the same key.
func (e *edge) serve(w http.ResponseWriter, r *http.Request, zone string, s standing, unavailable bool, now time.Time) {
	asJSON := acceptsJSON(r)
	k := pageKey{zone: zone, uri: r.URL.RequestURI(), json: asJSON, unavailable: unavailable}
	if !unavailable {
		k.state, k.ahead, k.eta = s.state, s.ahead, s.eta
		if s.state == waitroom.StateWaiting {
			k.progress = progress(now.Sub(s.arrived), s.eta.Expected)
			k.retryAfter = e.retryAfter(zone, s.eta.Expected)
		}
		if s.opensAt.After(now) {
			k.opensAt = s.opensAt.UnixNano()
		}
	}
	keep := len(k.uri) <= maxKeyURI
	if keep {
		if p, ok := e.pages.Get(k); ok {
			p.write(w)
			return
		}
	}
	d := e.pageData(e.returnURL(r), zone, s, now)
	if unavailable {
		d.State, d.StatusCode, d.RetryAfter = stateUnavailable, http.StatusServiceUnavailable, unavailableRetry
	}
	p, ok := e.render(d, asJSON)
	if ok && keep {
		e.pages.Add(k, p)
	}
	p.write(w)
}

// render makes the response for d: the JSON report, or the page template
// executed with d. ok is false if the template failed: the response is
// then a short "busy" page.
func (e *edge) render(d *PageData, asJSON bool) (*renderedPage, bool) {
	p := &renderedPage{status: d.StatusCode}
	if d.RetryAfter > 0 {
		p.retryAfter = itoa(d.RetryAfter)
	}
	if asJSON {
		b, err := json.Marshal(d.report())
		if err != nil {
			// A report is strings and numbers only; this is a program error.
			p.status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
		}
		p.contentType, p.body = "application/json", append(b, '\n')
	} else {
		var buf bytes.Buffer
		if err := e.cfg.page.Execute(&buf, d); err != nil {
			e.cfg.logger.Error("waitroom: middleware: waiting page template failed", "zone", d.Zone, "err", err)
			p.contentType, p.body, p.length = "text/html; charset=utf-8", busyPage, itoa(len(busyPage))
			return p, false
		}
		p.contentType, p.body = "text/html; charset=utf-8", buf.Bytes()
	}
	p.length = itoa(len(p.body))
	return p, true
}

// write sends p. Its header's values share one allocation.
func (p *renderedPage) write(w http.ResponseWriter) {
	h := w.Header()
	v := make([]string, 5)
	v[0], v[1], v[2], v[3], v[4] = "no-store", p.contentType, "nosniff", p.length, p.retryAfter
	h["Cache-Control"] = v[0:1:1]
	h["Content-Type"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	h["Content-Length"] = v[3:4:4]
	if p.retryAfter != "" {
		h["Retry-After"] = v[4:5:5]
	}
	w.WriteHeader(p.status)
	w.Write(p.body)
}

// acceptsJSON reports whether the request's Accept header lists
// application/json (with a non-zero quality).
func acceptsJSON(r *http.Request) bool {
	for _, v := range r.Header["Accept"] {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			mt, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(mt), "application/json") {
				continue
			}
			if zeroQuality(params) {
				continue
			}
			return true
		}
	}
	return false
}

func zeroQuality(params string) bool {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, val, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			return err == nil && q == 0
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// writeError answers a client error with a short fixed message, never an
// internal error's text.
func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error string `json:"error"`
	}{msg})
}

func itoa(n int) string { return strconv.Itoa(n) }

// compactPage returns the source of the built-in page without what only
// its readers need: the indentation of its lines, blank lines, comments,
// and the spaces of its style sheet and script that separate no two words.
// A page whose header and body fit the server's 4 KB write buffer goes out
// in one write, so this counts for every waiting visitor's request. The
// script is written for it: a semicolon ends every statement, and there
// are no regular expression literals (a slash starts a comment or
// divides). A line holding a template action is only trimmed, so the
// values the template fills in read as written (var every = 5;).
func compactPage(src string) string {
	var b strings.Builder
	b.Grow(len(src))
	for src != "" {
		// The next <style> or <script> element, if any.
		i, tag := len(src), ""
		for _, t := range []string{"<style>", "<script>"} {
			if j := strings.Index(src, t); j >= 0 && j < i {
				i, tag = j, t
			}
		}
		compactLines(&b, src[:i])
		if tag == "" {
			break
		}
		src = src[i+len(tag):]
		end := strings.Index(src, "</"+tag[1:])
		if end < 0 {
			end = len(src)
		}
		b.WriteString(tag)
		compactCode(&b, src[:end], tag == "<script>")
		src = src[end:]
	}
	return b.String()
}

// compactLines writes text with each line trimmed and blank lines dropped.
func compactLines(b *strings.Builder, text string) {
	for line := range strings.Lines(text) {
		if t := strings.TrimSpace(line); t != "" {
			b.WriteString(t)
			if strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		}
	}
}

// compactCode writes a style sheet, or a script if js, compacted (see
// compactPage). Between two tokens it writes a space where both are words
// ("0 auto", "return false", and "+ +" in a script), or in a script a line
// break where the source has one that may end a statement.
func compactCode(b *strings.Builder, code string, js bool) {
	var last byte // the last byte written; 0 before the first
	space, newline := false, true
	for i := 0; i < len(code); {
		c := code[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			space = true
			newline = newline || c == '\n'
			i++
			continue
		case c == '/' && strings.HasPrefix(code[i:], "/*"):
			n := strings.Index(code[i+2:], "*/")
			if n < 0 {
				return
			}
			i += n + 4
			space = true
			continue
		case js && c == '/' && strings.HasPrefix(code[i:], "//"):
			for i < len(code) && code[i] != '\n' {
				i++
			}
			continue
		}
		if space && last != 0 {
			switch {
			case js && newline && endsStatement(last) && startsStatement(c):
				b.WriteByte('\n')
			case isWord(last, js) && isWord(c, js), js && (c == '+' || c == '-') && c == last:
				b.WriteByte(' ')
			}
		}
		n := 1
		switch {
		case newline && strings.Contains(firstLine(code[i:]), "{{"):
			n = len(strings.TrimRight(firstLine(code[i:]), " \t\r"))
		case c == '"' || c == '\'':
			n = quoted(code[i:], c)
		case c == '{' && strings.HasPrefix(code[i:], "{{"):
			if k := strings.Index(code[i:], "}}"); k >= 0 {
				n = k + 2
			}
		case !js && c == ';' && strings.HasPrefix(strings.TrimLeft(code[i+1:], " \t\r\n"), "}"):
			// The last declaration of a rule needs no semicolon.
			i++
			continue
		}
		b.WriteString(code[i : i+n])
		last = code[i+n-1]
		i += n
		space, newline = false, false
	}
}

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// quoted returns the length of the string literal at the start of s,
// quotes and escapes included (all of s if it does not end).
func quoted(s string, q byte) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return len(s)
}

// isWord reports whether c belongs to a name or a number of JavaScript, or
// of CSS (js false: with '-', '.', '#' and '%', as in "-1.5rem").
func isWord(c byte, js bool) bool {
	switch {
	case c == '_' || c == '$' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80:
		return true
	case js:
		return false
	}
	return c == '-' || c == '.' || c == '#' || c == '%'
}

// endsStatement and startsStatement report whether a line break between
// two bytes of a script may end a statement there (automatic semicolon
// insertion), so that it must be kept.
func endsStatement(c byte) bool {
	return isWord(c, true) || strings.IndexByte(")]}\"'+-", c) >= 0
}

func startsStatement(c byte) bool {
	return isWord(c, true) || strings.IndexByte("([{\"'+-/`!~", c) >= 0
}
