package middleware

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// This file guards the step that gives a newcomer a place in line (a
// request for a protected path without a valid visitor or access cookie
// for its zone): first a limit on the new places one client takes
// (WithEntryLimit), then the application's own check (WithEntryCheck).
// Both run before the store is asked, so a refused newcomer costs the
// store nothing; neither runs for a visitor who already holds a place.
//
// One visitor cookie is one place: the Room registers a visitor once,
// whoever sends its cookie, so a cookie replayed from many clients shares
// that one place and cannot multiply it. What a client can multiply is
// the places it mints by coming without a cookie, and that is what the
// limit counts.

// EntryLimitClients is the most clients whose entry limits a Handler
// keeps at once (about 230 bytes each, 15 MB in all). Past it the client
// seen least recently is forgotten and starts again with a full burst: a
// flood of distinct addresses cannot grow the Handler's memory, though
// addresses enough to cycle through all of them (more than 65,536 within
// the time a bucket takes to refill) escape the limit.
const EntryLimitClients = 65536

// entryKeyMax bounds the length of a client key that is not an IP
// address (WithClientIP may return anything).
const entryKeyMax = 64

// WithEntryLimit limits the new places in line one client takes: a token
// bucket per client address (WithClientIP, WithTrustedProxies) of burst
// places, refilled at perMinute places a minute on the Room's clock, for
// all the Handler's zones together. A newcomer past it gets 429 with
// Retry-After, the time until its next place, and a short body (JSON for
// Accept: application/json, else a page that asks again then); it is given
// no place and costs no store call. Visitors with a valid visitor or
// access cookie are not counted: they hold a place already, and asking
// again never makes a second one.
//
// An IPv6 client counts by its /64 (the block one subscriber gets), an
// IPv4 client by its address. Many people can share one address (offices,
// carrier-grade NAT) and then share its bucket: past it they are delayed
// (the page asks again after Retry-After), not lost. Size it for them: 30
// a minute with a burst of 10 suits visitors who seldom share an address,
// and lets a script minting places take one every 2 seconds. Each Handler
// (each instance) keeps its own buckets: a client whose requests are
// spread over n instances gets n times the limit.
//
// Behind a proxy, configure WithTrustedProxies (or WithClientIP) first:
// otherwise every visitor counts as the proxy's address and the limit
// caps the whole site. That is why it is off by default.
//
// Default off; perMinute <= 0 (or not finite) or burst <= 0 turns it off.
func WithEntryLimit(perMinute float64, burst int) Option {
	return func(c *config) { c.entryPerMinute, c.entryBurst = perMinute, burst }
}

// WithEntryCheck has check decide on every newcomer before it is given a
// place in line, after the entry limit (WithEntryLimit): a bot check, a
// challenge (a CAPTCHA, Cloudflare Turnstile), an allow list of invited
// customers. It runs for requests for a protected path that carry no
// valid visitor or access cookie for the zone, never for visitors who
// hold a place: once a newcomer is allowed, its visitor cookie carries it
// through. Default none: every newcomer within the limit gets a place; a
// nil check (or nil EntryCheckFunc) selects it.
func WithEntryCheck(check EntryCheck) Option {
	if f, ok := check.(EntryCheckFunc); ok && f == nil {
		check = nil
	}
	return func(c *config) { c.entryCheck = check }
}

// An EntryCheck decides whether a newcomer is given a place in line
// (WithEntryCheck). CheckEntry is called with the request (its path the
// canonical one) and the zone it asks for, on the request's goroutine: it
// may call out (a verification service), bounded by its own timeout and
// the request's context. It must be safe for concurrent use.
//
// A non-nil error fails closed: the newcomer gets the "temporarily
// unavailable" answer (503 with Retry-After, as when the store cannot be
// reached) and no place, the error is logged (the first of a run of
// failures, not each) and never sent to the client.
//
// A check that reads the request body (a form field) consumes it: if the
// newcomer then goes straight in, the next handler gets what is left.
// Prefer a header, or a challenge that posts elsewhere.
type EntryCheck interface {
	CheckEntry(r *http.Request, zone string) (EntryDecision, error)
}

// EntryCheckFunc adapts a function to an EntryCheck.
type EntryCheckFunc func(r *http.Request, zone string) (EntryDecision, error)

// CheckEntry returns f(r, zone).
func (f EntryCheckFunc) CheckEntry(r *http.Request, zone string) (EntryDecision, error) {
	return f(r, zone)
}

// An EntryDecision is what an EntryCheck decided for a newcomer: allow
// (AllowEntry), deny (DenyEntry, ThrottleEntry) or answer with a challenge
// (ChallengeEntry). The zero EntryDecision allows.
type EntryDecision struct {
	verdict    entryVerdict
	retryAfter time.Duration
	challenge  http.Handler
}

type entryVerdict uint8

const (
	entryAllow entryVerdict = iota
	entryDeny
	entryThrottle
	entryChallenge
)

// AllowEntry lets the newcomer on: the Room gives it its place in line
// (or lets it straight in).
func AllowEntry() EntryDecision { return EntryDecision{} }

// DenyEntry refuses the newcomer with 403 Forbidden and a short body;
// it is given no place.
func DenyEntry() EntryDecision { return EntryDecision{verdict: entryDeny} }

// ThrottleEntry refuses the newcomer for now with 429 Too Many Requests
// and Retry-After: retryAfter, in whole seconds, at least 1 and at most
// WithMaxRetryAfter. It is given no place.
func ThrottleEntry(retryAfter time.Duration) EntryDecision {
	return EntryDecision{verdict: entryThrottle, retryAfter: retryAfter}
}

// ChallengeEntry answers the newcomer with h instead of a place: h writes
// the challenge (a page with a CAPTCHA widget, JSON for an API client)
// and its status; the response has Cache-Control: no-store unless h sets
// its own. The challenge brings the client back with its answer (a
// header, a form field) for the EntryCheck to verify and allow. A nil h
// denies, as DenyEntry.
func ChallengeEntry(h http.Handler) EntryDecision {
	if h == nil {
		return DenyEntry()
	}
	return EntryDecision{verdict: entryChallenge, challenge: h}
}

// entryGuard holds the entry limit's buckets and the entry check of one
// edge. It is safe for concurrent use.
type entryGuard struct {
	limit   rate.Limit                        // places per second; the limit is off when clients is nil
	burst   int                               // the bucket's size
	clients *lru.Cache[string, *rate.Limiter] // a bucket per client key
	check   EntryCheck                        // nil: none
	logger  *slog.Logger
	failing atomic.Bool // the last entry check failed
}

// newEntryGuard returns the guard of c's entry options, nil when there
// is neither a limit nor a check.
func newEntryGuard(c *config) *entryGuard {
	on := c.entryPerMinute > 0 && !math.IsInf(c.entryPerMinute, 0) && c.entryBurst > 0
	if !on && c.entryCheck == nil {
		return nil
	}
	g := &entryGuard{check: c.entryCheck, logger: c.logger}
	if on {
		g.limit, g.burst = rate.Limit(c.entryPerMinute/60), c.entryBurst
		g.clients, _ = lru.New[string, *rate.Limiter](EntryLimitClients) // errs only for a size <= 0
	}
	return g
}

// allow takes one place from the bucket of key at now, or reports how
// long until the bucket holds one.
func (g *entryGuard) allow(key string, now time.Time) (ok bool, wait time.Duration) {
	lim, found := g.clients.Get(key)
	if !found {
		fresh := rate.NewLimiter(g.limit, g.burst)
		if prev, had, _ := g.clients.PeekOrAdd(key, fresh); had {
			lim = prev // added meanwhile by another request of the client
		} else {
			lim = fresh
		}
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(math.Ceil(missing / float64(g.limit) * float64(time.Second)))
}

// entryKey is the key of a client address for the entry limit: an IPv4
// address as it is, an IPv6 address's /64, anything else (WithClientIP)
// cut to entryKeyMax bytes.
func entryKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		if len(ip) > entryKeyMax {
			ip = strings.Clone(ip[:entryKeyMax])
		}
		return ip
	}
	if a.Is4() {
		return ip // netip parses IPv4 in its one spelling only
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // errs only for bits out of range
	return p.String()
}

// admitNewcomer applies the entry limit and the entry check to a newcomer
// before the Room gives it a place. It answers a refused newcomer itself
// and then returns false.
func (h *Handler) admitNewcomer(w http.ResponseWriter, r *http.Request, zone string, now time.Time) bool {
	e := h.e
	g := e.cfg.entry
	if g == nil {
		return true
	}
	if g.clients != nil {
		if ok, wait := g.allow(entryKey(e.cfg.clientIP(r)), now); !ok {
			e.observeRefusal(zone, "limit")
			e.refuseEntry(w, r, http.StatusTooManyRequests, wait)
			return false
		}
	}
	if g.check == nil {
		return true
	}
	d, err := g.check.CheckEntry(r, zone)
	if err != nil {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			return false // the client has gone
		}
		if !g.failing.Swap(true) {
			g.logger.Error("waitroom: middleware: entry check failed; newcomers get 503 until it works",
				"zone", zone, "err", err)
		}
		e.observeRefusal(zone, "check_error")
		h.serveUnavailable(w, r, zone)
		return false
	}
	if g.failing.Load() && g.failing.Swap(false) {
		g.logger.Info("waitroom: middleware: entry check working again")
	}
	switch d.verdict {
	case entryDeny:
		e.observeRefusal(zone, "deny")
		e.refuseEntry(w, r, http.StatusForbidden, 0)
		return false
	case entryThrottle:
		e.observeRefusal(zone, "throttle")
		e.refuseEntry(w, r, http.StatusTooManyRequests, d.retryAfter)
		return false
	case entryChallenge:
		e.observeRefusal(zone, "challenge")
		w.Header().Set("Cache-Control", "no-store")
		d.challenge.ServeHTTP(w, r)
		return false
	}
	return true
}

// refuseEntry answers a newcomer given no place: 403, or 429 with
// Retry-After (wait, in whole seconds within 1 and WithMaxRetryAfter). A
// browser's page asks again after Retry-After by itself.
func (e *edge) refuseEntry(w http.ResponseWriter, r *http.Request, code int, wait time.Duration) {
	hd := w.Header()
	retry := 0
	if code == http.StatusTooManyRequests {
		retry = e.cfg.maxRetryAfter
		if wait < time.Duration(retry)*time.Second {
			retry = max(int((wait+time.Second-1)/time.Second), 1) // rounded up
		}
		hd.Set("Retry-After", itoa(retry))
	}
	if acceptsJSON(r) {
		msg := "entry refused"
		if retry > 0 {
			msg = "too many new visitors from your network; try again shortly"
		}
		writeJSON(w, code, struct {
			Error             string `json:"error"`
			RetryAfterSeconds int    `json:"retry_after_seconds,omitempty"`
		}{msg, retry})
		return
	}
	var page string
	if retry > 0 {
		page = `<!doctype html><html lang="en"><meta charset="utf-8"><meta http-equiv="refresh" content="` + itoa(retry) +
			`"><title>Please wait</title><p>Many new visitors come from your network. This page tries again in ` +
			itoa(retry) + ` seconds.</p></html>`
	} else {
		page = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Entry refused</title><p>Entry refused.</p></html>`
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", itoa(len(page)))
	w.WriteHeader(code)
	io.WriteString(w, page)
}

// observeRefusal tells the Observer, if any, of a newcomer given no place.
func (e *edge) observeRefusal(zone, reason string) {
	if o := e.cfg.observer; o != nil {
		o.EntryRefused(zone, reason)
	}
}
