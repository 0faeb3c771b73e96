package middleware

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
)

// This file turns where a visitor stands into what it is shown: a standing
// (the Room's word) becomes a PageData (the template's variables), which
// becomes the waiting page or its JSON form, a report; rendered responses
// are kept in the edge cache.

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

// standing is where a visitor stands as the Room reported it at a moment:
// what the waiting page shows, with the place's queue number and last
// heartbeat for its push connection.
type standing struct {
	state   waitroom.VisitorState
	ahead   int64
	eta     waitroom.ETA
	opensAt time.Time
	arrived time.Time
	seq     uint64    // the place's queue number
	seen    time.Time // its last heartbeat
	at      time.Time // Room clock of the report
	closed  string    // with StateClosed, why: closedEnded, closedRejected or closedFull
}

// Why a zone is closed to a visitor (PageData.Closed).
const (
	closedEnded    = "ended"    // the sale is over (ClosesAt): final
	closedRejected = "rejected" // an operator has closed it (ModeReject), maybe for now
	closedFull     = "full"     // the line holds MaxWaiting places
)

// closedRetry is the Retry-After, in seconds, of a zone closed for now.
const closedRetry = 60

// standingOf is the standing a Room call reported at at.
func standingOf(out waitroom.Outcome, at time.Time) standing {
	s := standing{state: out.State, ahead: out.Place.Ahead, eta: out.ETA, opensAt: out.OpensAt, arrived: out.Visitor.Arrived,
		seq: out.Place.Seq, seen: out.Place.LastSeen, at: at}
	if out.State == waitroom.StateClosed {
		switch {
		case out.LineFull:
			s.closed = closedFull
		case out.Rejected:
			s.closed = closedRejected
		default:
			s.closed = closedEnded
		}
	}
	return s
}

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
	// State is "waiting" (in line), "closed" (see Closed) or
	// "unavailable" (the store cannot be reached; status 503).
	State string
	// Closed says why the zone is closed to the visitor: "ended" (the
	// sale is over: status 410), "rejected" (an operator has closed it,
	// maybe for now: 503 with Retry-After) or "full" (the line holds its
	// most places: 503 with Retry-After). Empty unless State is "closed".
	Closed string
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
	// ETAText reads ETA in words ("about 4 minutes", or "up to 9 minutes"
	// when the estimate is ETAHigh itself), ETARangeText the range
	// ("between 2 and 9 minutes", "up to 9 minutes"; empty when it says
	// nothing more). The two agree: the figure of ETAText lies within
	// the range, whose lower bound is rounded down and upper bound up.
	ETAText, ETARangeText string
	// Progress is the share of the wait behind the visitor, 0-100.
	Progress int

	// OpensAt is the sale's start if it is still ahead, else zero.
	// OpensAtText is it in UTC for people ("Sun 1 Mar 2026, 10:00 UTC"),
	// OpensAtRFC3339 for machines (a <time datetime> attribute); both are
	// empty when OpensAt is zero.
	OpensAt                     time.Time
	OpensAtText, OpensAtRFC3339 string
	// Drawn is set, with OpensAt, when the zone draws the order of its
	// line at the opening (waitroom.ModeRandomAtOpen): everyone who
	// arrives before then has the same chance, and Position counts
	// everyone else in line until the draw.
	Drawn bool

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

	// Shell is set when the page is the shell of WithShellPage: the same
	// for every visitor of the zone and ReturnURL, served at ShellURL with
	// status 200 to anyone. Position, Ahead, the ETA and Progress are then
	// zero: the page learns them from the first report of its push
	// channel or of the status endpoint, which it asks at once. It must
	// hold nothing of one visitor; without JavaScript it should send the
	// visitor to ReturnURL, whose page follows the line (<noscript><meta
	// http-equiv="refresh" content="0;url={{.ReturnURL}}"></noscript>).
	Shell bool
	// ShellURL is the address of the shell (WithShellPage) for this zone
	// and ReturnURL, on the waiting page of a visitor in line; empty
	// without the option. The page's script puts it in the address bar
	// (history.replaceState), so that a refresh asks for the shell.
	ShellURL string
}

// report is the JSON form of a PageData: the body of the waiting page's
// JSON, of the status endpoint and of every push message.
type report struct {
	State             string `json:"state"`
	Zone              string `json:"zone"`
	Position          int64  `json:"position"`
	Ahead             int64  `json:"ahead"`
	ETASeconds        int64  `json:"eta_seconds"`
	ETALowSeconds     int64  `json:"eta_low_seconds"`
	ETAHighSeconds    int64  `json:"eta_high_seconds"`
	OpensAt           string `json:"opens_at,omitempty"`
	Drawn             bool   `json:"drawn,omitempty"` // the order is drawn at random at the opening
	RetryAfterSeconds int    `json:"retry_after_seconds"`
	Progress          int    `json:"progress"`
	ETAText           string `json:"eta_text,omitempty"`
	ETARangeText      string `json:"eta_range_text,omitempty"`
	Closed            string `json:"closed,omitempty"`     // why a closed zone is closed: ended, rejected or full
	StatusURL         string `json:"status_url,omitempty"` // the waiting page's JSON only (Handler.render)
	ClaimURL          string `json:"claim_url,omitempty"`
}

func (d *PageData) report() report {
	r := report{
		State: d.State, Zone: d.Zone, Position: d.Position, Ahead: d.Ahead,
		ETASeconds: secondsOf(d.ETA), ETALowSeconds: secondsOf(d.ETALow), ETAHighSeconds: secondsOf(d.ETAHigh),
		OpensAt: d.OpensAtRFC3339, Drawn: d.Drawn, RetryAfterSeconds: d.RetryAfter, Progress: d.Progress,
		ETAText: d.ETAText, ETARangeText: d.ETARangeText, Closed: d.Closed,
	}
	if d.State == "admitted" || d.State == "inside" {
		r.ClaimURL = d.ClaimURL
	}
	return r
}

func secondsOf(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// returnURL is where a visitor goes back to once let in: the protected URL
// it asked for (path and query), or for a reserved endpoint its "return"
// parameter (a path on this site outside the prefix), else "/".
func (c *config) returnURL(r *http.Request) string {
	if p := r.URL.Path; p == c.prefix || strings.HasPrefix(p, c.prefixSlash) {
		return c.returnParam(r.URL.Query().Get("return"))
	}
	if ret := r.URL.RequestURI(); safeReturn(ret) {
		return ret
	}
	return "/"
}

// returnParam is the return URL that a reserved endpoint's "return"
// parameter ret names: ret if it is a path on this site outside the
// prefix, else "/".
func (c *config) returnParam(ret string) string {
	if strings.HasPrefix(ret, c.prefixSlash) || ret == c.prefix || !safeReturn(ret) {
		return "/"
	}
	return ret
}

// pageData describes a visitor's standing at now for the page and the
// JSON; ret is the visitor's return URL (config.returnURL).
func (e *edge) pageData(ret, zone string, s standing, now time.Time) *PageData {
	d := &PageData{State: s.state.String(), Zone: zone, StatusURL: e.cfg.prefix + "/status?zone=" + zone, ReturnURL: ret}
	q := endpointQuery(zone, ret)
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
		d.Drawn = e.drawsAtOpen(zone)
	}
	switch s.state {
	case waitroom.StateWaiting:
		if e.cfg.shell {
			d.ShellURL = e.cfg.prefix + "/wait?" + q
		}
		d.StatusCode = e.cfg.status
		d.Ahead = max(s.ahead, 0)
		d.Position = d.Ahead + 1
		d.ETA, d.ETALow, d.ETAHigh = s.eta.Expected, s.eta.Low, s.eta.High
		d.ETAText, d.ETARangeText = etaWords(s.eta)
		d.Progress = progress(now.Sub(s.arrived), s.eta.Expected)
		d.RetryAfter = e.retryAfter(zone, s.eta.Expected)
	case waitroom.StateAdmitted, waitroom.StateInside:
		d.StatusCode = http.StatusOK
		d.Progress = 100
	case waitroom.StateClosed:
		d.Closed = s.closed
		d.StatusCode = http.StatusGone
		if s.closed != closedEnded {
			d.StatusCode, d.RetryAfter = http.StatusServiceUnavailable, min(closedRetry, e.cfg.maxRetryAfter)
		}
	}
	return d
}

// endpointQuery is the query of the endpoints that send a visitor of zone
// back to ret in the end: claim, ws, events, and the status endpoint whose
// claim_url does.
func endpointQuery(zone, ret string) string {
	return url.Values{"zone": {zone}, "return": {ret}}.Encode()
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

// serveStanding answers a protected request of a visitor who is not let
// in: the waiting page or the "sale has ended" page, as HTML or JSON.
func (h *Handler) serveStanding(w http.ResponseWriter, r *http.Request, zone string, s standing, now time.Time) {
	h.serve(w, r, zone, s, false, now)
}

// serveUnavailable answers a protected request while the store cannot be
// reached and the policy is FailClosed.
func (h *Handler) serveUnavailable(w http.ResponseWriter, r *http.Request, zone string) {
	h.serve(w, r, zone, standing{}, true, h.e.room.Now())
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
	shell       bool // the shell (WithShellPage): uri is the return URL, standing unused
	state       waitroom.VisitorState
	ahead       int64
	eta         waitroom.ETA
	progress    int
	retryAfter  int
	opensAt     int64  // Unix nanoseconds while the sale's opening is ahead, else 0
	drawn       bool   // with opensAt: the line's order is drawn at the opening
	closed      string // why a closed zone is closed
}

// renderedPage is a response ready to send: status, body and the values of
// its header.
type renderedPage struct {
	status       int
	contentType  string
	length       string
	retryAfter   string // "" for none
	cacheControl string
	etag         string // "" for none: the response answers no conditional request
	vary         string // "" for none
	body         []byte
}

var busyPage = []byte("<!doctype html><html lang=\"en\"><title>Please wait</title><p>The page is busy. Please try again in a moment.</p></html>")

// serve answers a protected request with the visitor's standing (or, if
// unavailable, the "please wait" of a store failure), from the rendered
// responses when one was made for the same key.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, zone string, s standing, unavailable bool, now time.Time) {
	e := h.e
	asJSON := acceptsJSON(r)
	k := pageKey{zone: zone, uri: r.URL.RequestURI(), json: asJSON, unavailable: unavailable}
	if !unavailable {
		k.state, k.ahead, k.eta, k.closed = s.state, s.ahead, s.eta, s.closed
		if s.state == waitroom.StateWaiting {
			k.progress = progress(now.Sub(s.arrived), s.eta.Expected)
			k.retryAfter = e.retryAfter(zone, s.eta.Expected)
		}
		if s.opensAt.After(now) {
			k.opensAt, k.drawn = s.opensAt.UnixNano(), e.drawsAtOpen(zone)
		}
	}
	keep := len(k.uri) <= maxKeyURI
	if keep {
		if p, ok := e.cache.page(k); ok {
			p.answer(w, r)
			return
		}
	}
	d := e.pageData(e.cfg.returnURL(r), zone, s, now)
	if unavailable {
		d.State, d.StatusCode, d.RetryAfter = stateUnavailable, http.StatusServiceUnavailable, unavailableRetry
	}
	p, ok := h.render(d, asJSON)
	if ok && keep {
		e.cache.keepPage(k, p)
	}
	p.answer(w, r)
}

// render makes the response for d: the JSON report, or the page template
// executed with d. ok is false if the template failed: the response is
// then a short "busy" page. The JSON of a waiting visitor names the
// status endpoint to poll, with the return URL: the page has ClaimURL for
// that, a JSON client only what the status endpoint tells it.
func (h *Handler) render(d *PageData, asJSON bool) (*renderedPage, bool) {
	p := &renderedPage{status: d.StatusCode}
	if d.RetryAfter > 0 && !d.Shell { // the shell is no answer to the visitor's request
		p.retryAfter = itoa(d.RetryAfter)
	}
	if asJSON {
		r := d.report()
		if d.State == "waiting" {
			r.StatusURL = h.e.cfg.prefix + "/status?" + endpointQuery(d.Zone, d.ReturnURL)
		}
		b, err := json.Marshal(r)
		if err != nil {
			// A report is strings and numbers only; this is a program error.
			p.status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
		}
		p.contentType, p.body = "application/json", append(b, '\n')
	} else {
		var buf bytes.Buffer
		page := h.e.cfg.page
		if d.State == "closed" && h.e.cfg.closedPage != nil {
			page = h.e.cfg.closedPage
		}
		if err := page.Execute(&buf, d); err != nil {
			h.e.cfg.logger.Error("waitroom: middleware: waiting page template failed", "zone", d.Zone, "err", err)
			p.contentType, p.body, p.length = "text/html; charset=utf-8", busyPage, itoa(len(busyPage))
			p.cacheControl = "no-store"
			return p, false
		}
		p.contentType, p.body = "text/html; charset=utf-8", buf.Bytes()
	}
	p.length = itoa(len(p.body))
	p.validate(d.Shell, h.e.cfg.shellMaxAge)
	return p, true
}

// validate sets how p may be stored and asked for again. A response whose
// status is an error (429, 410, 503) is not stored: RFC 9110 has a server
// ignore a conditional request whose answer would be one, and browsers
// do not revalidate them. A 2xx waiting page is the visitor's own (it
// depends on its cookies): stored by its browser only, and revalidated
// by its ETag on every use. The shell is the same for everyone: public.
//
// The ETag is a hash of the response itself (status, type, Retry-After
// and body), so it changes exactly when something the visitor would see
// does: the state, the position, the ETA's words, the progress, the
// opening, the template, a zone setting the page shows. It is the same on
// every instance that renders the same page.
func (p *renderedPage) validate(shell bool, maxAge int) {
	p.cacheControl = "no-store"
	if p.status < 200 || p.status > 299 {
		return
	}
	sum := sha256.New()
	fmt.Fprintf(sum, "%d\n%s\n%s\n", p.status, p.contentType, p.retryAfter)
	sum.Write(p.body)
	p.etag = `"` + base64.RawURLEncoding.EncodeToString(sum.Sum(nil)[:12]) + `"`
	if shell {
		p.cacheControl = "public, max-age=" + itoa(maxAge)
		return
	}
	p.cacheControl, p.vary = "private, no-cache", "Accept, Cookie"
}

// answer sends p, or 304 Not Modified to a GET or HEAD whose
// If-None-Match names p's ETag.
func (p *renderedPage) answer(w http.ResponseWriter, r *http.Request) {
	if p.etag != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && noneMatch(r.Header, p.etag) {
		p.notModified(w)
		return
	}
	p.write(w)
}

// write sends p. Its header's values share one allocation.
func (p *renderedPage) write(w http.ResponseWriter) {
	h := w.Header()
	v := make([]string, 7)
	v[0], v[1], v[2], v[3], v[4], v[5], v[6] = p.cacheControl, p.contentType, "nosniff", p.length, p.retryAfter, p.etag, p.vary
	h["Cache-Control"] = v[0:1:1]
	h["Content-Type"] = v[1:2:2]
	h["X-Content-Type-Options"] = v[2:3:3]
	h["Content-Length"] = v[3:4:4]
	if p.retryAfter != "" {
		h["Retry-After"] = v[4:5:5]
	}
	if p.etag != "" {
		h["Etag"] = v[5:6:6]
	}
	if p.vary != "" {
		h["Vary"] = v[6:7:7]
	}
	w.WriteHeader(p.status)
	w.Write(p.body)
}

// notModified answers that the visitor's stored copy of p is p: the
// header a 200 would have had for caches (RFC 9110 15.4.5), no body.
func (p *renderedPage) notModified(w http.ResponseWriter) {
	h := w.Header()
	v := make([]string, 3)
	v[0], v[1], v[2] = p.cacheControl, p.etag, p.vary
	h["Cache-Control"] = v[0:1:1]
	h["Etag"] = v[1:2:2]
	if p.vary != "" {
		h["Vary"] = v[2:3:3]
	}
	w.WriteHeader(http.StatusNotModified)
}

// drawsAtOpen reports whether zone draws the order of its line when it
// opens (waitroom.ModeRandomAtOpen).
func (e *edge) drawsAtOpen(zone string) bool {
	if e.room == nil {
		return false
	}
	z, ok := e.room.Zone(zone)
	return ok && z.Mode == waitroom.ModeRandomAtOpen
}
