package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/waitroom/waitroom"
)

// Config is the file cmd/waitroom reads (YAML). waitroom.example.yaml
// documents every key.
type Config struct {
	Listen    string     `yaml:"listen"`
	TLS       TLS        `yaml:"tls"`
	Pages     Pages      `yaml:"pages"`
	Upstream  Upstream   `yaml:"upstream"`
	Upstreams []Upstream `yaml:"upstreams"`
	Store     string     `yaml:"store"`
	Keys      Keys       `yaml:"keys"`
	Fail      string     `yaml:"fail_policy"`
	Zones     []Zone     `yaml:"zones"`
	Events    Events     `yaml:"event_zones"`
	Entry     Entry      `yaml:"entry"`
	Admin     Admin      `yaml:"admin"`
	Log       Log        `yaml:"log"`
}

// TLS makes the waiting room listen for HTTPS (and HTTP/2).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Pages are the app's own waiting and closed pages (html/template files
// executed with middleware.PageData), and the directory of the files they
// use (styles, images, scripts), served at AssetsPath ahead of every zone.
type Pages struct {
	Waiting    string `yaml:"waiting"`
	Closed     string `yaml:"closed"`
	Assets     string `yaml:"assets"`
	AssetsPath string `yaml:"assets_path"`
}

// Upstream is an origin the waiting room fronts: the default one
// (upstream), or one for the paths under Path (upstreams).
type Upstream struct {
	Path    string   `yaml:"path"`
	URL     string   `yaml:"url"`
	Timeout Duration `yaml:"timeout"`
}

// Keys says where the token-signing secret comes from.
type Keys struct {
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
}

// Zone is one protected area (waitroom.Zone).
type Zone struct {
	Name     string   `yaml:"name"`
	Paths    []string `yaml:"paths"`
	Settings `yaml:",inline"`
}

// Settings are a zone's settings but its name and paths.
type Settings struct {
	Capacity       int       `yaml:"capacity"`
	AdmitPerSecond float64   `yaml:"admit_per_second"`
	Session        Duration  `yaml:"session"`
	ClaimWindow    Duration  `yaml:"claim_window"`
	AbandonAfter   Duration  `yaml:"abandon_after"`
	OpensAt        time.Time `yaml:"opens_at"`
	ClosesAt       time.Time `yaml:"closes_at"`
	DataTTL        Duration  `yaml:"data_ttl"`
	Mode           string    `yaml:"mode"`
	MaxWaiting     int64     `yaml:"max_waiting"`
}

// Events makes a zone per event, named from the request's path: for
// /events/42/checkout with path "/events/{event}/checkout" and name
// "event-{event}", the zone "event-42", with the template's settings.
type Events struct {
	Path     string   `yaml:"path"`
	Name     string   `yaml:"name"`
	Template Settings `yaml:"template"`
}

// Entry is the protection of the step that gives out places.
type Entry struct {
	TrustedProxies []string `yaml:"trusted_proxies"`
	PerMinute      float64  `yaml:"per_minute"`
	Burst          int      `yaml:"burst"`
}

// Admin is the operator's side: the admin API, the dashboard, /metrics,
// /healthz and /readyz.
type Admin struct {
	Listen   string `yaml:"listen"`
	TokenEnv string `yaml:"token_env"`
}

// Log sets the log's level and format.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Duration is a time.Duration written as Go writes one ("90s", "10m").
type Duration time.Duration

// UnmarshalYAML reads a duration such as "90s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 90s or 10m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// loadConfig reads and checks the file at path. Its errors name the file,
// the key and what is wrong.
func loadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("waitroom: config: %w", err)
	}
	c, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("waitroom: config %s: %w", path, err)
	}
	return c, nil
}

// parseConfig decodes b strictly (an unknown key is an error) and fills the
// defaults.
func parseConfig(b []byte) (*Config, error) {
	c := &Config{Listen: ":8080", Store: "memory", Fail: "closed", Upstream: Upstream{Timeout: Duration(30 * time.Second)},
		Log: Log{Level: "info", Format: "text"}}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return c, c.check()
}

// check reports the first setting that cannot work.
func (c *Config) check() error {
	if err := c.Upstream.check("upstream", false); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Timeout == 0 {
			u.Timeout = c.Upstream.Timeout
		}
		if err := u.check(fmt.Sprintf("upstreams[%d]", i), true); err != nil {
			return err
		}
		if seen[u.Path] {
			return fmt.Errorf("upstreams[%d].path: %q is given twice", i, u.Path)
		}
		seen[u.Path] = true
	}
	if c.Keys.SecretEnv != "" && c.Keys.SecretFile != "" {
		return fmt.Errorf("keys: give secret_env or secret_file, not both")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return fmt.Errorf("tls: give both cert_file and key_file, or neither")
	}
	for _, f := range []struct{ key, path string }{
		{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"keys.secret_file", c.Keys.SecretFile}, {"pages.waiting", c.Pages.Waiting}, {"pages.closed", c.Pages.Closed},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
	}
	if c.Pages.Assets != "" {
		if fi, err := os.Stat(c.Pages.Assets); err != nil {
			return fmt.Errorf("pages.assets: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("pages.assets: %s is not a directory", c.Pages.Assets)
		}
		if c.Pages.AssetsPath == "" {
			c.Pages.AssetsPath = "/waitroom-assets/"
		}
		p := c.Pages.AssetsPath
		if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || len(p) < 3 || waitroom.CanonicalPath(p) != p {
			return fmt.Errorf("pages.assets_path: %q must be a canonical path that starts and ends with /, such as /waitroom-assets/", p)
		}
	}
	if c.Fail != "closed" && c.Fail != "open" {
		return fmt.Errorf("fail_policy: %q must be closed or open", c.Fail)
	}
	if len(c.Zones) == 0 && c.Events.Path == "" {
		return fmt.Errorf("zones: give at least one zone (or event_zones)")
	}
	if c.Events.Path != "" {
		if _, err := c.Events.matcher(); err != nil {
			return fmt.Errorf("event_zones: %w", err)
		}
		t := Zone{Name: "template", Paths: []string{"/"}, Settings: c.Events.Template}
		if _, err := t.zone(); err != nil {
			return fmt.Errorf("event_zones.template: %w", err)
		}
	}
	for i, z := range c.Zones {
		if _, err := z.zone(); err != nil {
			return fmt.Errorf("zones[%d] (%s): %w", i, z.Name, err)
		}
	}
	for i, p := range c.Entry.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("entry.trusted_proxies[%d]: %q is not an address prefix such as 10.0.0.0/8", i, p)
		}
	}
	if c.Entry.PerMinute < 0 || c.Entry.Burst < 0 {
		return fmt.Errorf("entry: per_minute and burst must not be negative")
	}
	if c.Admin.Listen != "" && c.Admin.TokenEnv == "" {
		return fmt.Errorf("admin.token_env: name the environment variable that holds the admin token")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q must be debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return fmt.Errorf("log.format: %q must be text or json", c.Log.Format)
	}
	return nil
}

// zone is z as the Room takes it, checked as the Room checks it.
func (z Zone) zone() (waitroom.Zone, error) {
	mode := waitroom.ModeFIFO
	if z.Mode != "" {
		m, err := waitroom.ParseMode(z.Mode)
		if err != nil {
			return waitroom.Zone{}, fmt.Errorf("mode: %q must be fifo, passthrough, reject or random", z.Mode)
		}
		mode = m
	}
	wz := waitroom.Zone{
		Name: z.Name, Paths: z.Paths, Capacity: z.Capacity, AdmitPerSecond: z.AdmitPerSecond,
		Session: time.Duration(z.Session), ClaimWindow: time.Duration(z.ClaimWindow), AbandonAfter: time.Duration(z.AbandonAfter),
		OpensAt: z.OpensAt, ClosesAt: z.ClosesAt, DataTTL: time.Duration(z.DataTTL), Mode: mode, MaxWaiting: z.MaxWaiting,
	}
	if len(z.Paths) == 0 {
		return wz, errors.New("paths: give at least one path prefix")
	}
	if err := waitroom.CheckZone(wz); err != nil {
		return wz, errors.New(strings.TrimPrefix(err.Error(), "waitroom: invalid zone settings: "))
	}
	return wz, nil
}

// secret returns the signing secret and where it came from ("" with no
// secret configured).
func (k Keys) secret() ([]byte, string, error) {
	switch {
	case k.SecretEnv != "":
		return []byte(os.Getenv(k.SecretEnv)), "keys.secret_env: $" + k.SecretEnv, nil
	case k.SecretFile != "":
		b, err := os.ReadFile(k.SecretFile)
		if err != nil {
			return nil, "", fmt.Errorf("keys.secret_file: %w", err)
		}
		return bytes.TrimSpace(b), "keys.secret_file: " + k.SecretFile, nil
	}
	return nil, "", nil
}

// eventID is what an event's id may be: it goes into a zone name.
var eventID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// matcher returns the zone func of e: the zone an event's request path
// names, or false.
func (e Events) matcher() (func(path string) (string, bool), error) {
	if !strings.HasPrefix(e.Path, "/") || strings.Count(e.Path, "{event}") != 1 {
		return nil, fmt.Errorf("path: %q must start with '/' and hold {event} once", e.Path)
	}
	if strings.Count(e.Name, "{event}") != 1 {
		return nil, fmt.Errorf("name: %q must hold {event} once", e.Name)
	}
	want := strings.Split(strings.Trim(e.Path, "/"), "/")
	at := -1
	for i, seg := range want {
		if seg == "{event}" {
			at = i
		} else if strings.Contains(seg, "{event}") {
			return nil, fmt.Errorf("path: {event} must be a whole segment of %q", e.Path)
		}
	}
	return func(path string) (string, bool) {
		got := strings.Split(strings.Trim(path, "/"), "/")
		if len(got) < len(want) {
			return "", false
		}
		for i, seg := range want {
			if i != at && got[i] != seg {
				return "", false
			}
		}
		if !eventID.MatchString(got[at]) {
			return "", false
		}
		return strings.Replace(e.Name, "{event}", got[at], 1), true
	}, nil
}

// check reports what is wrong with u, named key; a routed upstream
// (withPath) needs a path, the default one has none.
func (u Upstream) check(key string, withPath bool) error {
	p, err := url.Parse(u.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("%s.url: %q must be an http:// or https:// URL", key, u.URL)
	}
	if u.Timeout <= 0 {
		return fmt.Errorf("%s.timeout: must be positive", key)
	}
	switch {
	case withPath && (!strings.HasPrefix(u.Path, "/") || waitroom.CanonicalPath(u.Path) != u.Path):
		return fmt.Errorf("%s.path: %q must be a canonical path starting with '/'", key, u.Path)
	case !withPath && u.Path != "":
		return fmt.Errorf("%s.path: the default upstream takes every path; give routed ones under upstreams", key)
	}
	return nil
}
