// Command waitroom is the waiting room as a reverse proxy, for a shop not
// written in Go: it stands in front of its upstreams, as nginx would, and
// queues visitors of the zones its configuration file names.
//
//	go install github.com/waitroom/waitroom/cmd/waitroom@latest
//	waitroom -config waitroom.yaml
//
// waitroom.example.yaml documents every key. Signals: SIGTERM and SIGINT
// stop it gracefully (it stops accepting, lets requests in flight finish
// and closes push connections, whose pages reconnect elsewhere); SIGHUP
// reads the file again and applies its zone settings, keeping the running
// configuration if the file is broken. The admin address (admin.listen)
// serves the dashboard and the admin API (package admin), /metrics,
// /healthz (the process is up) and /readyz (the store answers).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin"
	"github.com/waitroom/waitroom/internal/gctune"
	"github.com/waitroom/waitroom/metrics"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/storeurl"
)

func main() {
	gctune.Set()
	path := flag.String("config", "waitroom.yaml", "configuration file (YAML)")
	flag.Parse()
	if err := run(*path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run serves the configuration at path until SIGTERM or SIGINT.
func run(path string) error {
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := start(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer p.close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errs := make(chan error, 2)
	for _, s := range p.servers {
		go func() { errs <- s.serve() }()
		logger.Info("waitroom: listening", "addr", s.ln.Addr().String(), "serves", s.what)
	}
	for {
		select {
		case <-hup:
			p.reload(ctx, path)
		case err := <-errs:
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
		case <-ctx.Done():
			logger.Info("waitroom: stopping: finishing requests in flight")
			shut, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			p.handler.Close() // push connections end; their pages reconnect
			for _, s := range p.servers {
				if err := s.srv.Shutdown(shut); err != nil {
					logger.Warn("waitroom: shutdown cut requests short", "addr", s.ln.Addr().String(), "err", err)
				}
			}
			logger.Info("waitroom: stopped")
			return nil
		}
	}
}

// proxy is a running waitroom: its Room, the handler in front of the
// upstream, and its servers.
type proxy struct {
	room    *waitroom.Room
	handler *middleware.Handler
	servers []server
	logger  *slog.Logger
	close   func()
}

type server struct {
	srv       *http.Server
	ln        net.Listener
	what      string
	cert, key string // TLS files, or none
}

// serve serves s: over TLS (HTTP/2 and HTTP/1.1) when it has a
// certificate.
func (s server) serve() error {
	if s.cert != "" {
		return s.srv.ServeTLS(s.ln, s.cert, s.key)
	}
	return s.srv.Serve(s.ln)
}

// start builds everything cfg describes and listens on its addresses.
func start(ctx context.Context, cfg *Config, logger *slog.Logger) (*proxy, error) {
	var closers []func() error
	p := &proxy{logger: logger, close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	fail := func(err error) (*proxy, error) {
		p.close()
		return nil, err
	}
	store, keys, err := storeurl.Open(ctx, cfg.Store)
	if err != nil {
		return fail(err)
	}
	if secret, from, err := cfg.Keys.secret(); err != nil || from != "" {
		if err == nil && len(secret) < 32 {
			err = fmt.Errorf("%s must hold a secret of at least 32 bytes", from)
		}
		if err != nil {
			store.Close()
			return fail(fmt.Errorf("waitroom: config: %w", err))
		}
		k, err := waitroom.NewHMACKey("config", secret)
		if err == nil {
			keys, err = waitroom.NewKeyRing(k)
		}
		if err != nil {
			store.Close()
			return fail(err)
		}
	} else if keys == nil {
		logger.Warn("waitroom: no keys.secret_env or keys.secret_file: tokens are signed with a key made at start, good for one instance until it restarts")
	}
	m := metrics.New()
	opts := []waitroom.Option{waitroom.WithLogger(logger), waitroom.WithObserver(m)}
	if keys != nil {
		opts = append(opts, waitroom.WithKeys(keys))
	}
	if cfg.Fail == "open" {
		opts = append(opts, waitroom.WithFailPolicy(waitroom.FailOpen))
	}
	for _, z := range cfg.Zones {
		wz, _ := z.zone() // checked by loadConfig
		opts = append(opts, waitroom.WithZone(wz))
	}
	if cfg.Events.Path != "" {
		t := Zone{Name: "template", Paths: []string{"/"}, Settings: cfg.Events.Template}
		tz, _ := t.zone() // checked by loadConfig
		tz.Paths = nil
		opts = append(opts, waitroom.WithZoneTemplate(tz))
	}
	p.room, err = waitroom.New(store, opts...)
	if err != nil {
		store.Close()
		return fail(err)
	}
	closers = append(closers, p.room.Close)
	m.Watch(p.room)

	rp := upstreams(cfg, logger)
	mo := []middleware.Option{middleware.WithLogger(logger), middleware.WithObserver(m)}
	if cfg.Events.Path != "" {
		match, _ := cfg.Events.matcher() // checked by loadConfig
		mo = append(mo, middleware.WithZoneFunc(func(r *http.Request) (string, bool) { return match(r.URL.Path) }))
	}
	if len(cfg.Entry.TrustedProxies) > 0 {
		var prefixes []netip.Prefix
		for _, s := range cfg.Entry.TrustedProxies {
			prefixes = append(prefixes, netip.MustParsePrefix(s)) // checked by loadConfig
		}
		mo = append(mo, middleware.WithTrustedProxies(prefixes...))
	}
	if cfg.Entry.PerMinute > 0 {
		mo = append(mo, middleware.WithEntryLimit(cfg.Entry.PerMinute, max(cfg.Entry.Burst, 1)))
	}
	for _, pg := range []struct {
		key, path string
		opt       func(*template.Template) middleware.Option
	}{{"pages.waiting", cfg.Pages.Waiting, middleware.WithTemplate}, {"pages.closed", cfg.Pages.Closed, middleware.WithClosedTemplate}} {
		if pg.path == "" {
			continue
		}
		t, err := template.ParseFiles(pg.path)
		if err != nil {
			return fail(fmt.Errorf("waitroom: config: %s: %w", pg.key, err))
		}
		mo = append(mo, pg.opt(t))
	}
	if cfg.TLS.CertFile != "" {
		mo = append(mo, middleware.WithSecureCookies(true))
	}
	p.handler = middleware.Wrap(p.room, rp, mo...)
	closers = append(closers, p.handler.Close)
	var front http.Handler = p.handler
	if cfg.Pages.Assets != "" {
		front = withAssets(front, cfg.Pages.AssetsPath, cfg.Pages.Assets)
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(fmt.Errorf("waitroom: config: listen: %w", err))
	}
	if cfg.TLS.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile); err != nil {
			ln.Close()
			return fail(fmt.Errorf("waitroom: config: tls: %w", err))
		}
	}
	p.servers = append(p.servers, server{
		srv: &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)},
		ln:  ln, what: "the waiting room", cert: cfg.TLS.CertFile, key: cfg.TLS.KeyFile,
	})
	closers = append(closers, ln.Close)
	if cfg.Admin.Listen != "" {
		token := os.Getenv(cfg.Admin.TokenEnv)
		ah, err := admin.New(p.room, admin.WithToken(token), admin.WithLogger(logger))
		if err != nil {
			return fail(fmt.Errorf("waitroom: config: admin.token_env: $%s: %w", cfg.Admin.TokenEnv, err))
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
		mux.HandleFunc("GET /readyz", p.ready)
		mux.Handle("/", ah)
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			return fail(fmt.Errorf("waitroom: config: admin.listen: %w", err))
		}
		p.servers = append(p.servers, server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: aln, what: "the admin API, the dashboard and /metrics"})
		closers = append(closers, aln.Close)
	}
	return p, nil
}

// ready answers 200 while the store answers for every zone, else 503.
func (p *proxy) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	for _, zone := range p.room.Zones() {
		if _, err := p.room.Stats(ctx, zone); err != nil {
			p.logger.Warn("waitroom: not ready", "zone", zone, "err", err)
			http.Error(w, "the store does not answer", http.StatusServiceUnavailable)
			return
		}
	}
	w.Write([]byte("ready\n"))
}

// reload reads the file at path again and applies its zones' settings
// (AddZone: stored, carried to every instance). A file that does not load
// changes nothing. Other keys take effect at the next start.
func (p *proxy) reload(ctx context.Context, path string) {
	cfg, err := loadConfig(path)
	if err != nil {
		p.logger.Error("waitroom: reload refused; the running configuration stays", "err", err)
		return
	}
	for _, z := range cfg.Zones {
		wz, _ := z.zone()
		if err := p.room.AddZone(ctx, wz); err != nil {
			p.logger.Error("waitroom: reload of a zone failed", "zone", z.Name, "err", err)
			return
		}
	}
	p.logger.Info("waitroom: configuration reloaded", "zones", len(cfg.Zones))
}

func newLogger(c Log) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Level)) // checked by loadConfig
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// upstreams returns the proxy to the configured upstreams: the one whose
// path is the longest prefix of the request's path (a whole segment:
// "/api" takes /api and /api/x, not /apis), else the default one. The
// middleware in front has made the path canonical.
func upstreams(cfg *Config, logger *slog.Logger) http.Handler {
	proxy := func(u Upstream) http.Handler {
		target, _ := url.Parse(u.URL) // checked by loadConfig
		rp := httputil.NewSingleHostReverseProxy(target)
		tr := middleware.ProxyTransport()
		tr.ResponseHeaderTimeout = time.Duration(u.Timeout)
		rp.Transport = tr
		rp.ErrorHandler = middleware.ProxyErrorHandler(logger)
		return rp
	}
	def := proxy(cfg.Upstream)
	if len(cfg.Upstreams) == 0 {
		return def
	}
	type route struct {
		prefix string
		h      http.Handler
	}
	var routes []route
	for _, u := range cfg.Upstreams {
		routes = append(routes, route{strings.TrimSuffix(u.Path, "/"), proxy(u)})
	}
	sort.Slice(routes, func(i, j int) bool { return len(routes[i].prefix) > len(routes[j].prefix) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, rt := range routes {
			if p := r.URL.Path; p == rt.prefix || strings.HasPrefix(p, rt.prefix+"/") || rt.prefix == "" {
				rt.h.ServeHTTP(w, r)
				return
			}
		}
		def.ServeHTTP(w, r)
	})
}

// withAssets serves the files of dir at prefix, ahead of next: GET and
// HEAD only, never a directory listing, cacheable for five minutes.
// Every other path goes to next.
func withAssets(next http.Handler, prefix, dir string) http.Handler {
	files := http.StripPrefix(prefix, http.FileServerFS(os.DirFS(dir)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := waitroom.CanonicalPath(r.URL.Path)
		if !strings.HasPrefix(p, prefix) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if strings.HasSuffix(p, "/") {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = p, ""
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r2)
	})
}
