package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// How waiting visitors follow the line (Config.Follow).
const (
	followPush = "push" // the page's event stream
	followPoll = "poll" // the status endpoint, every Retry-After
)

// Visitor outcomes.
const (
	outcomeWaiting  int32 = iota // arrived or not yet, not let in
	outcomeAdmitted              // reached the origin
	outcomeClosed                // the sale ended before its turn
	outcomeFailed                // gave up after errors
)

// virtualVisitor is one person in the crowd: a browser with its own
// cookie jar that follows the waiting page's protocol.
type virtualVisitor struct {
	idx     int
	arrival time.Duration // after the start of the run
	think   time.Duration // time spent in checkout
	release bool          // leaves by releasing its slot; else lets its token expire

	// Filled while it runs; read after the run (or atomically by the
	// progress sampler).
	sent     time.Time // its first request left
	answered time.Time // the answer to its first request came back
	admitted time.Time // the request that was let through left
	direct   bool      // let in on its first request
	id       string    // its visitor id, from the visitor cookie
	outcome  atomic.Int32
	polls    int
	streams  int // event streams opened
	frames   int // reports read from them
	requeued int // times the status endpoint or the event stream said it held no place
	// socketWait is how long its first request waited for one of the
	// crowd's sockets; lastSocketWait, its last request's.
	socketWait, lastSocketWait time.Duration
	errors                     int
	lastError                  string
}

// client is what every visitor shares: the transport, the protocol's
// URLs and the run's counters.
type client struct {
	cfg       Config
	transport http.RoundTripper // first requests, polls, queueing again
	admitted  http.RoundTripper // claims, the pages let in, releases
	streams   *streamConns      // event streams: HTTP/2, many per connection
	bases     []*url.URL
	next      atomic.Uint64 // round robin over bases
	counters  *counters
	// afterFunc starts a request's time limit (time.AfterFunc; tests
	// replace it) and returns what stops it.
	afterFunc func(d time.Duration, f func()) (stop func() bool)
}

// counters are the live totals the progress bar and the chart read.
type counters struct {
	arrived  atomic.Int64
	waiting  atomic.Int64 // answered "wait" and not let in yet
	admitted atomic.Int64
	errors   atomic.Int64
	requests atomic.Int64
	inflight atomic.Int64 // requests sent and not yet answered
	queued   atomic.Int64 // of them, waiting for one of the crowd's sockets
}

// base picks the instance for the next request: a load balancer without
// stickiness, so any instance may answer any visitor.
func (c *client) base() *url.URL {
	return c.bases[c.next.Add(1)%uint64(len(c.bases))]
}

// statusReport is the JSON of the status endpoint and the waiting page.
type statusReport struct {
	State             string `json:"state"`
	Position          int64  `json:"position"`
	RetryAfterSeconds int    `json:"retry_after_seconds"`
}

// run plays the visitor until it is let in and has left, the sale ends,
// or ctx is done. It never sleeps longer than the waiting page would.
func (c *client) run(ctx context.Context, v *virtualVisitor, start time.Time) {
	if !waitUntil(ctx, start.Add(v.arrival)) {
		return
	}
	jar, _ := cookiejar.New(nil)
	// No Client.Timeout: a request's limit runs from the moment it has a
	// socket (see do).
	hc := &http.Client{Transport: c.transport, Jar: jar}
	// Once let in, a browser's requests do not queue behind the crowd's
	// first requests in one pool of sockets: each browser has its own.
	ac := &http.Client{Transport: c.admitted, Jar: jar}
	c.counters.arrived.Add(1)

	path := c.cfg.Path
	v.sent = time.Now()
	// The first request is a browser's: it asks for the page.
	res, retry, err := c.protected(ctx, hc, v, path, "text/html")
	v.socketWait = v.lastSocketWait
	v.answered = time.Now()
	if v.id == "" {
		v.id = visitorID(jar, c.bases[0], c.cfg.Zone)
	}
	if ctx.Err() != nil {
		return
	}
	switch {
	case err == nil && res == "origin":
		v.direct = true
		v.admitted = v.sent
		c.admit(ctx, hc, v)
		return
	case err == nil && res == "closed":
		v.outcome.Store(outcomeClosed)
		return
	}
	c.counters.waiting.Add(1)
	defer func() {
		if v.outcome.Load() != outcomeAdmitted {
			c.counters.waiting.Add(-1)
		}
	}()
	statusURL := "/.waitroom/status?zone=" + url.QueryEscape(c.cfg.Zone)
	claimURL := "/.waitroom/claim?" + url.Values{"zone": {c.cfg.Zone}, "return": {path}}.Encode()
	eventsURL := "/.waitroom/events?" + url.Values{"zone": {c.cfg.Zone}, "return": {path}}.Encode()
	// The page's EventSource: no overall timeout, the run's ctx ends it.
	stream := c.streams.of(v.idx)
	sc := &http.Client{Transport: stream, Jar: jar}
	push := c.cfg.Follow == followPush
	failures := 0
	for {
		if err != nil {
			failures++
			if failures > c.cfg.MaxFailures {
				v.outcome.Store(outcomeFailed)
				return
			}
		} else {
			failures = 0
		}
		var rep statusReport
		var code int
		if push {
			// The page follows its event stream until its turn; if the
			// room refuses the stream, it polls instead.
			var refused bool
			code, rep, refused, err = c.follow(ctx, sc, stream.base, v, eventsURL)
			if refused {
				push = false
				continue
			}
			if err != nil && ctx.Err() == nil {
				v.outcome.Store(outcomeFailed) // follow tried MaxFailures times
				return
			}
		} else {
			if !waitUntil(ctx, time.Now().Add(retry)) {
				return
			}
			// The page polls the status endpoint, paced by Retry-After.
			code, rep, err = c.status(ctx, hc, v, statusURL)
			v.polls++
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			retry = 2 * time.Second
			continue
		}
		if v.id == "" {
			v.id = visitorID(jar, c.bases[0], c.cfg.Zone)
		}
		retry = secondsOr(rep.RetryAfterSeconds, 2)
		switch {
		case code == http.StatusNotFound || rep.State == "none":
			// The page reloads the protected URL, which queues it again.
			v.requeued++
			res, retry, err = c.protected(ctx, hc, v, path, "text/html")
		case rep.State == "admitted" || rep.State == "inside":
			// The page goes to the claim URL, which sets the access
			// cookie and sends it back to the page it asked for.
			admittedAt := time.Now()
			res, retry, err = c.protected(ctx, ac, v, claimURL, "text/html")
			if err == nil && res == "origin" {
				v.admitted = admittedAt
			}
		case rep.State == "closed":
			v.outcome.Store(outcomeClosed)
			return
		default: // waiting, unavailable: poll again
			continue
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil && res == "origin":
			c.admit(ctx, ac, v)
			return
		case err == nil && res == "closed":
			v.outcome.Store(outcomeClosed)
			return
		}
	}
}

func (c *client) admit(ctx context.Context, hc *http.Client, v *virtualVisitor) {
	v.outcome.Store(outcomeAdmitted)
	c.counters.admitted.Add(1)
	if c.cfg.URL == "" {
		return // our origin held the visitor for its think time and released it
	}
	// A waiting room by URL: stay the think time, then release the slot
	// through the release endpoint, or let it expire.
	if !waitUntil(ctx, time.Now().Add(v.think)) || !v.release {
		return
	}
	req, err := c.newRequest(ctx, http.MethodPost, "/.waitroom/release?zone="+url.QueryEscape(c.cfg.Zone), "application/json", v)
	if err != nil {
		return
	}
	resp, done, err := c.do(hc, req, v, c.cfg.RequestTimeout)
	if err != nil {
		c.fail(v, err.Error())
		return
	}
	drain(resp)
	done()
	if resp.StatusCode != http.StatusNoContent {
		c.fail(v, "POST release: "+resp.Status)
	}
}

// protected requests a page of the zone (or the claim URL, which leads to
// it) and says where it ended: "origin" (let through), "wait" (the waiting
// page, with its Retry-After) or "closed". Anything else is an error.
func (c *client) protected(ctx context.Context, hc *http.Client, v *virtualVisitor, ref, accept string) (res string, retry time.Duration, err error) {
	req, err := c.newRequest(ctx, http.MethodGet, ref, accept, v)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set(headerThink, strconv.FormatInt(v.think.Milliseconds(), 10))
	if v.release {
		req.Header.Set(headerLeave, "release")
	} else {
		req.Header.Set(headerLeave, "expire")
	}
	c.counters.inflight.Add(1)
	resp, done, err := c.do(hc, req, v, c.cfg.RequestTimeout+v.think)
	c.counters.inflight.Add(-1)
	if err != nil {
		return "", 2 * time.Second, c.fail(v, err.Error())
	}
	defer done()
	defer drain(resp)
	retry = secondsOr(atoi(resp.Header.Get("Retry-After")), 2)
	switch {
	case resp.StatusCode == http.StatusOK && (c.cfg.URL != "" || resp.Header.Get(headerOrigin) != ""):
		// In URL mode the origin is not ours: any 200 is the page.
		return "origin", 0, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return "wait", retry, nil
	case resp.StatusCode == http.StatusGone:
		return "closed", 0, nil
	}
	return "", retry, c.fail(v, "GET "+ref+": "+resp.Status)
}

// follow reads the visitor's event stream, as the page's EventSource does,
// until a report other than "waiting" or "unavailable" comes; when the
// stream ends (its lifetime) or fails, it opens it again after the
// stream's retry time, and gives up after MaxFailures failures in a row.
// A stream refused for the caps (429, 503) reports refused: the page polls
// instead. A stream that says the visitor holds no place (401) returns the
// status endpoint's 404, so that the caller queues it again as the page
// would.
func (c *client) follow(ctx context.Context, sc *http.Client, base *url.URL, v *virtualVisitor, ref string) (code int, rep statusReport, refused bool, err error) {
	retry := time.Second
	failures := 0
	for {
		req, err := c.newRequestTo(ctx, base, http.MethodGet, ref, "text/event-stream", v)
		if err != nil {
			return 0, rep, false, err
		}
		v.streams++
		resp, err := sc.Do(req)
		if err == nil {
			switch resp.StatusCode {
			case http.StatusOK:
				rep, retry, err = c.readEvents(resp.Body, v, retry)
				resp.Body.Close()
			case http.StatusUnauthorized:
				drain(resp)
				return http.StatusNotFound, statusReport{State: "none"}, false, nil
			case http.StatusTooManyRequests, http.StatusServiceUnavailable:
				drain(resp)
				return 0, rep, true, nil
			default:
				drain(resp)
				return resp.StatusCode, rep, false, c.fail(v, "GET events: "+resp.Status)
			}
		}
		switch {
		case ctx.Err() != nil:
			return 0, rep, false, ctx.Err()
		case err != nil:
			err = c.fail(v, "events: "+err.Error())
			if failures++; failures > c.cfg.MaxFailures {
				return 0, rep, false, err
			}
		case rep.State != "" && rep.State != "waiting" && rep.State != stateUnavailable:
			return http.StatusOK, rep, false, nil
		default:
			failures = 0 // the stream's lifetime ended
		}
		if !waitUntil(ctx, time.Now().Add(retry)) {
			return 0, rep, false, ctx.Err()
		}
	}
}

const stateUnavailable = "unavailable"

// readEvents reads an event stream's "retry:" and "data:" lines until a
// report other than "waiting" or "unavailable" or the stream's end. It
// returns the last report and the retry time the server asked for.
func (c *client) readEvents(body io.Reader, v *virtualVisitor, retry time.Duration) (statusReport, time.Duration, error) {
	var rep statusReport
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 1024), 64<<10)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("retry: ")):
			if ms := atoi(string(line[len("retry: "):])); ms > 0 {
				retry = time.Duration(ms) * time.Millisecond
			}
		case bytes.HasPrefix(line, []byte("data: ")):
			v.frames++
			if bytes.HasPrefix(line, []byte(`data: {"state":"waiting",`)) {
				// Most reports: the crowd shares the machine with the room,
				// so it reads no more of them than it acts on.
				rep = statusReport{State: "waiting"}
				continue
			}
			rep = statusReport{}
			if err := json.Unmarshal(line[len("data: "):], &rep); err != nil {
				return rep, retry, err
			}
			if rep.State == stateUnavailable {
				c.fail(v, "events: the store is unavailable")
			}
			if rep.State != "waiting" && rep.State != stateUnavailable {
				return rep, retry, nil
			}
		}
	}
	return rep, retry, sc.Err()
}

// status polls the status endpoint, as the page's script does.
func (c *client) status(ctx context.Context, hc *http.Client, v *virtualVisitor, ref string) (int, statusReport, error) {
	var rep statusReport
	req, err := c.newRequest(ctx, http.MethodGet, ref, "application/json", v)
	if err != nil {
		return 0, rep, err
	}
	c.counters.inflight.Add(1)
	resp, done, err := c.do(hc, req, v, c.cfg.RequestTimeout)
	c.counters.inflight.Add(-1)
	if err != nil {
		return 0, rep, c.fail(v, err.Error())
	}
	defer done()
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNotFound, http.StatusServiceUnavailable:
	default:
		return resp.StatusCode, rep, c.fail(v, "GET status: "+resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&rep); err != nil {
		return resp.StatusCode, rep, c.fail(v, "status JSON: "+err.Error())
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		// The store is down: the page keeps waiting, but it is an error
		// for the report.
		c.fail(v, "GET status: "+resp.Status)
	}
	return resp.StatusCode, rep, nil
}

// errNoAnswer ends a request that had no answer within its limit.
var errNoAnswer = errors.New("no answer in time")
