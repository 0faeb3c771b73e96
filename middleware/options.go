package middleware

import (
	"html/template"
	"log/slog"
	"net/http"
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
)

// An Option configures a Handler.
type Option func(*config)

type config struct {
	prefix        string
	prefixSlash   string // prefix + "/", precomputed for the request path
	status        int
	page          *template.Template
	bypassPaths   []string
	bypassMethods []string
	bypass        func(*http.Request) bool
	secure        bool
	cacheSize     int
	fullTTL       time.Duration
	positionTTL   time.Duration
	releaseHeader string
	logger        *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{
		prefix: DefaultPrefix, status: DefaultStatus, cacheSize: DefaultCacheSize,
		fullTTL: DefaultFullTTL, positionTTL: DefaultPositionTTL, releaseHeader: DefaultReleaseHeader,
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
	return c
}

// WithPrefix sets the path prefix of the reserved endpoints (status, claim,
// release). Requests under it are answered by the Handler and never reach
// the next handler. Default "/.waitroom"; a prefix that does not start with
// '/' selects the default.
func WithPrefix(prefix string) Option { return func(c *config) { c.prefix = prefix } }

// WithStatus sets the status code of the waiting page. Default 429 (Too Many
// Requests); codes outside 200-599 select the default.
func WithStatus(code int) Option { return func(c *config) { c.status = code } }

// WithTemplate replaces the built-in waiting page. The template is executed
// with a PageData (see its fields) for the waiting page, the "sale has
// ended" page and the "temporarily unavailable" page; PageData.State tells
// them apart. Default: the embedded page.html, which has no external assets.
func WithTemplate(t *template.Template) Option { return func(c *config) { c.page = t } }

// WithBypassPaths lets requests whose URL path starts with one of the
// prefixes pass to the next handler untouched (assets, health checks). The
// match is a plain string prefix: "/static/" bypasses "/static/app.css".
// Default none.
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
// to wait, unless a change-feed event that frees a slot clears it sooner.
// While marked, newcomers are queued without trying direct entry (one
// store operation fewer). Default 1s; 0 disables the mark.
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
