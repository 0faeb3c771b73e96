package middleware

import (
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// Defaults of the options.
const (
	DefaultPrefix        = "/.waitroom"
	DefaultStatus        = http.StatusTooManyRequests
	DefaultCacheSize     = 65536
	DefaultFullTTL       = time.Second
	DefaultPositionTTL   = time.Second
	DefaultReleaseHeader = "Waitroom-Release"

	// DefaultMaxConnections caps the open push connections (websockets
	// and event streams) of one Handler.
	DefaultMaxConnections = 10000
	// DefaultMaxConnectionsPerIP caps the open push connections of one
	// client address. It is generous because many visitors can share one
	// address (offices, mobile carriers' NAT); a refused page polls.
	DefaultMaxConnectionsPerIP = 32
	// DefaultPushInterval is the least time between two position updates
	// pushed to one page: the line's moves within it make one update.
	DefaultPushInterval = 250 * time.Millisecond
	// DefaultMaxRetryAfter caps Retry-After, the poll interval of the
	// page's script and the refresh of pages without JavaScript.
	DefaultMaxRetryAfter = 30 * time.Second
)

// An Option configures a Handler.
type Option func(*config)

// WithZoneFunc maps requests to zones by a function, for zones that follow
// the URL (/events/{id}/checkout → "event-{id}"), asked after the zones'
// path prefixes have not matched. f is given the request with its
// canonical path (waitroom.CanonicalPath); ok false: the request is not
// protected by it. Give the Room a template for the zones it names
// (waitroom.WithZoneTemplate), and have f return only names of real
// events: each new name creates a zone in the store.
func WithZoneFunc(f func(r *http.Request) (zone string, ok bool)) Option {
	return func(c *config) { c.zoneFunc = f }
}

type config struct {
	prefix        string
	prefixSlash   string // prefix + "/", precomputed for the request path
	status        int
	page          *template.Template
	closedPage    *template.Template // WithClosedTemplate; nil: page
	bypassPaths   []string
	bypassMethods []string
	bypass        func(*http.Request) bool
	zoneFunc      func(*http.Request) (string, bool)
	observer      Observer // WithObserver; nil: none
	secure        bool
	cacheSize     int
	fullTTL       time.Duration
	positionTTL   time.Duration
	releaseHeader string
	logger        *slog.Logger
	shell         bool // WithShellPage
	shellMaxAge   int  // seconds

	websocket      bool
	events         bool
	origins        []string
	originCheck    func(r *http.Request, origin string) bool
	maxConns       int
	maxConnsPerIP  int
	clientIP       func(*http.Request) string
	pushInterval   time.Duration
	maxRetryAfter  int // seconds, at least 1
	maxRetryAfterD time.Duration

	trustedProxies []netip.Prefix // WithTrustedProxies; read by the default clientIP
	entryPerMinute float64        // WithEntryLimit
	entryBurst     int
	entryCheck     EntryCheck  // WithEntryCheck
	entry          *entryGuard // the entry limit's buckets and the check; nil: neither

	// Not options: tests set them (export_test.go).
	writeTimeout time.Duration                                  // how long a push frame may take to be written
	ticker       func(time.Duration) (<-chan time.Time, func()) // the notifier's keepalive tick and its stop
}

func newConfig(opts []Option) config {
	c := config{
		prefix: DefaultPrefix, status: DefaultStatus, cacheSize: DefaultCacheSize,
		fullTTL: DefaultFullTTL, positionTTL: DefaultPositionTTL, releaseHeader: DefaultReleaseHeader,
		websocket: true, events: true, maxConns: DefaultMaxConnections, maxConnsPerIP: DefaultMaxConnectionsPerIP,
		pushInterval: DefaultPushInterval, maxRetryAfterD: DefaultMaxRetryAfter,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	c.prefix = strings.TrimRight(c.prefix, "/")
	if !strings.HasPrefix(c.prefix, "/") || strings.ContainsAny(c.prefix, "?#") {
		c.prefix = DefaultPrefix
	}
	c.prefixSlash = c.prefix + "/"
	if c.status < 200 || c.status > 599 {
		c.status = DefaultStatus
	}
	if c.page == nil {
		c.page = defaultPage
	}
	if c.cacheSize <= 0 {
		c.cacheSize = DefaultCacheSize
	}
	if c.fullTTL < 0 {
		c.fullTTL = DefaultFullTTL
	}
	if c.positionTTL < 0 {
		c.positionTTL = DefaultPositionTTL
	}
	c.releaseHeader = http.CanonicalHeaderKey(strings.TrimSpace(c.releaseHeader))
	if c.releaseHeader == "" {
		c.releaseHeader = DefaultReleaseHeader
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.maxConns <= 0 {
		c.maxConns = DefaultMaxConnections
	}
	if c.maxConnsPerIP <= 0 {
		c.maxConnsPerIP = DefaultMaxConnectionsPerIP
	}
	if c.clientIP == nil {
		c.clientIP = newClientIP(c.trustedProxies, func(p netip.Prefix) {
			c.logger.Error("waitroom: middleware: WithTrustedProxies: invalid prefix ignored", "prefix", p)
		})
	}
	c.entry = newEntryGuard(&c)
	if c.pushInterval <= 0 {
		c.pushInterval = DefaultPushInterval
	}
	if c.maxRetryAfterD <= 0 {
		c.maxRetryAfterD = DefaultMaxRetryAfter
	}
	c.maxRetryAfter = max(1, int(c.maxRetryAfterD/time.Second))
	if c.writeTimeout <= 0 {
		c.writeTimeout = defaultWriteTimeout
	}
	if c.ticker == nil {
		c.ticker = wallTicker
	}
	return c
}

// remoteIP is the address of the request's peer, without its port.
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// WithPrefix sets the path prefix of the reserved endpoints (status, claim,
// release, ws, events). Requests under it are answered by the Handler and never reach
// the next handler. Default "/.waitroom"; a prefix that does not start with
// '/' selects the default.
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithStatus sets the status code of the waiting page. Default 429 (Too Many
// Requests); codes outside 200-599 select the default.
func WithStatus(code int) Option { return func(c *config) { c.status = code } }

// WithTemplate replaces the built-in waiting page. The template is executed
// with a PageData (its fields are the template's variables) for the waiting
// page, the "sale has ended" page and the "temporarily unavailable" page;
// PageData.State tells them apart. PageData's documentation says how a page
// follows the line live. Default: the embedded page.html, which has no
// external assets and is a working example of all of it.
func WithTemplate(t *template.Template) Option { return func(c *config) { c.page = t } }

// WithClosedTemplate sets the page shown when a zone is closed to the
// visitor: the sale has ended (status 410), an operator has closed it
// (waitroom.ModeReject: 503 with Retry-After) or the line is full
// (waitroom.Zone.MaxWaiting: 503 with Retry-After). It is executed with a
// PageData whose State is "closed" and whose Closed says why. Default: the
// waiting page's template (built-in or WithTemplate), which has a closed
// form of its own. JSON clients get the report whatever the template.
func WithClosedTemplate(t *template.Template) Option { return func(c *config) { c.closedPage = t } }

// WithBypassPaths lets requests whose URL path starts with one of the
// prefixes pass to the next handler untouched (assets, health checks). The
// match is a plain string prefix of the canonical path
// (waitroom.CanonicalPath): "/static/" bypasses "/static/app.css", not
// "/static/../checkout". Default none.
func WithBypassPaths(prefixes ...string) Option {
	return func(c *config) { c.bypassPaths = append(c.bypassPaths, prefixes...) }
}

// WithBypassMethods lets requests with one of the methods (e.g. "OPTIONS")
// pass to the next handler untouched. Default none.
func WithBypassMethods(methods ...string) Option {
	return func(c *config) { c.bypassMethods = append(c.bypassMethods, methods...) }
}

// WithBypass lets requests for which f returns true pass to the next handler
// untouched (allow lists, internal callers). f runs on every request that
// is not for a reserved endpoint; it must be fast. Default none.
func WithBypass(f func(*http.Request) bool) Option { return func(c *config) { c.bypass = f } }

// WithSecureCookies sets the Secure attribute on every cookie the Handler
// sets, for servers behind a TLS-terminating proxy. Cookies set on TLS
// requests are always Secure. Default false.
func WithSecureCookies(secure bool) Option { return func(c *config) { c.secure = secure } }

// WithCacheSize sets the number of entries of each edge cache: verified
// access tokens, verified visitor tokens, revoked token ids, and waiting
// visitors' standings.
// Default 65536 each; n <= 0 selects the default.
func WithCacheSize(n int) Option { return func(c *config) { c.cacheSize = n } }

// WithFullTTL sets how long a zone stays marked "full" after a newcomer had
// to wait, unless a change-feed event that frees a slot clears it sooner,
// and how long it stays marked "somebody waits" after a visitor was seen
// waiting (a freed slot goes to the line, so only the settings' change or
// lost events clear that mark sooner). While either mark stands, newcomers
// are queued without trying direct entry (one store operation fewer).
// Default 1s; 0 disables the marks.
func WithFullTTL(d time.Duration) Option { return func(c *config) { c.fullTTL = d } }

// WithPositionTTL sets how long a waiting visitor's standing (position, ETA)
// is reused for its repeat requests and status polls without asking the
// store. The change feed drops it at once when the visitor is admitted. It
// is never reused for longer than a quarter of the zone's AbandonAfter, so
// the visitor's heartbeats keep reaching the store. Default 1s; 0 disables
// the cache.
func WithPositionTTL(d time.Duration) Option { return func(c *config) { c.positionTTL = d } }

// WithReleaseHeader names the response header by which the next handler
// releases the visitor's slot (checkout done): when a response for a
// visitor inside carries it, with any value, the Handler releases the slot,
// clears the access cookie, and removes the header before the response is
// sent. Default "Waitroom-Release".
func WithReleaseHeader(name string) Option { return func(c *config) { c.releaseHeader = name } }

// WithLogger sets the logger for store failures met while serving requests.
// Error texts are logged, never sent to clients. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxRetryAfter caps how long a waiting visitor is told to wait before
// asking again: the Retry-After header, the poll interval of the page's
// script (when no push channel works) and the <meta> refresh of pages
// without JavaScript. Below it the interval is a tenth of the expected
// wait, at least 2 seconds, and never more than a third of the zone's
// AbandonAfter. It is counted in whole seconds, at least 1. Default 30s;
// d <= 0 selects the default.
func WithMaxRetryAfter(d time.Duration) Option { return func(c *config) { c.maxRetryAfterD = d } }

// WithWebSocket turns the websocket endpoint ({prefix}/ws) on or off. Off,
// it answers 404 and the page falls back to server-sent events. Default on.
func WithWebSocket(on bool) Option { return func(c *config) { c.websocket = on } }

// WithServerSentEvents turns the event-stream endpoint ({prefix}/events) on
// or off. Off, it answers 404 and a page without a websocket polls the
// status endpoint. Default on.
func WithServerSentEvents(on bool) Option { return func(c *config) { c.events = on } }

// WithOrigins allows pages of other origins to open push connections, in
// addition to pages of the request's own host. Each pattern is matched,
// case-insensitively with path.Match, against the Origin header's host
// ("shop.example", "*.shop.example"), or against "scheme://host" when it
// contains "://". Default none: same host only.
func WithOrigins(patterns ...string) Option {
	return func(c *config) { c.origins = append(c.origins, patterns...) }
}

// WithOriginCheck replaces the origin rule of push connections (same host,
// plus WithOrigins) by f, called for every push request that carries an
// Origin header; false answers 403. Requests without an Origin header
// (clients other than browsers, which always send it on a websocket
// handshake) are not checked. Default: the same-host rule.
func WithOriginCheck(f func(r *http.Request, origin string) bool) Option {
	return func(c *config) { c.originCheck = f }
}

// WithMaxConnections caps the push connections (websockets and event
// streams together) open at once on this Handler; past it a new one gets
// 503 with Retry-After and its page polls instead. Default 10000; n <= 0
// selects the default.
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConns = n } }

// WithMaxConnectionsPerIP caps the push connections open at once from one
// client address (WithClientIP); past it a new one gets 429 with
// Retry-After and its page polls instead. Default 32; n <= 0 selects the
// default.
func WithMaxConnectionsPerIP(n int) Option { return func(c *config) { c.maxConnsPerIP = n } }

// WithClientIP sets how the client address counted by
// WithMaxConnectionsPerIP and WithEntryLimit is read from a request, for a
// proxy setup WithTrustedProxies does not cover (read the header your
// proxy sets, and only from your proxy). Default: the host part of
// Request.RemoteAddr, or the forwarded client of a trusted proxy
// (WithTrustedProxies).
func WithClientIP(f func(*http.Request) string) Option { return func(c *config) { c.clientIP = f } }

// WithPushInterval sets the least time between two position updates
// pushed to one page: the moves of the line within it (a tick that lets
// 1000 visitors in) make one update. A visitor's own turn is pushed at
// once, whatever the interval. Default 250ms; d <= 0 selects the default.
func WithPushInterval(d time.Duration) Option { return func(c *config) { c.pushInterval = d } }

// WithShellPage makes the waiting page's refreshes cheap enough for a CDN
// to answer: a visitor in line refreshes a shell, a page whose bytes are
// the same for every visitor of the zone (and protected URL), served at
// {prefix}/wait?zone=Z&return=U with status 200, "Cache-Control: public,
// max-age=" maxAge (in whole seconds) and an ETag, without reading or
// setting a cookie. A CDN, the browser's cache or the Handler's edge
// cache answers it without rendering, a conditional refresh with 304 Not
// Modified; its script learns the visitor's standing from the first
// report of the push channel (or the status endpoint, asked at once)
// that it opens.
//
// The first visit is unchanged: the protected URL answers with the
// visitor's own waiting page (status, Retry-After, position), which sets
// the visitor cookie and is never stored by a shared cache. Its script
// then puts the shell's address in the address bar (history.replaceState:
// no new history entry), so every later refresh asks for the shell. The
// shell is not served at the protected URL itself: what that URL answers
// depends on the visitor's cookies (a visitor let in gets the shop), so a
// shared cache that kept a shell there would hand it to visitors inside
// and to newcomers without a place. The claim still returns the visitor
// to the protected URL.
//
// Without JavaScript the address never moves, and the page at the
// protected URL refreshes itself as before; a shell opened without
// JavaScript goes at once to the protected URL (a <noscript> refresh).
// A shell whose visitor holds no place goes there too, which queues it.
//
// A custom template (WithTemplate) is executed for the shell with
// PageData.Shell set and ShellURL on the visitor's own page; see PageData.
// The shell changes only with the template and the Handler's settings,
// so a long maxAge is safe; maxAge < 0 is taken as 0 (always
// revalidated). Default off: the waiting page is the visitor's own at the
// protected URL, sent with "Cache-Control: no-store" while its status is
// 429.
func WithShellPage(maxAge time.Duration) Option {
	return func(c *config) {
		c.shell, c.shellMaxAge = true, max(0, int(maxAge/time.Second))
	}
}
