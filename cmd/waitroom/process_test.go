package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binary builds cmd/waitroom once per test run.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "waitroom-bin-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "waitroom")
	out, err := exec.Command("go", "build", "-o", path, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return path, nil
})

// process is the binary running with a configuration file.
type process struct {
	cmd    *exec.Cmd
	config string
	lines  chan string // its log, line by line
	mu     sync.Mutex
	log    strings.Builder
	public string // the waiting room's address
	admin  string // the admin address
}

const adminToken = "process-test-admin-token"

// startProcess writes config to a file and starts the binary on it, and
// waits until it listens.
func startProcess(t *testing.T, config string) *process {
	t.Helper()
	bin, err := binary()
	require.NoError(t, err)
	p := &process{config: filepath.Join(t.TempDir(), "waitroom.yaml"), lines: make(chan string, 1024)}
	require.NoError(t, os.WriteFile(p.config, []byte(config), 0o600))
	p.cmd = exec.Command(bin, "-config", p.config)
	p.cmd.Env = append(os.Environ(), "WAITROOM_ADMIN_TOKEN="+adminToken)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		close(p.lines)
	}()
	addr := regexp.MustCompile(`addr=(\S+) serves="([^"]+)"`)
	for p.public == "" || p.admin == "" {
		line := p.waitFor(t, "waitroom: listening")
		m := addr.FindStringSubmatch(line)
		require.NotNil(t, m, line)
		if strings.HasPrefix(m[2], "the waiting room") {
			p.public = "http://" + m[1]
		} else {
			p.admin = "http://" + m[1]
		}
	}
	return p
}

// waitFor returns the next log line that contains s.
func (p *process) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("the process ended before logging %q:\n%s", s, p.logText())
			}
			if strings.Contains(line, s) {
				return line
			}
		case <-deadline:
			t.Fatalf("no log line with %q:\n%s", s, p.logText())
		}
	}
}

func (p *process) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// zoneCapacity reads a zone's capacity through the admin API.
func (p *process) zoneCapacity(t *testing.T, zone string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.admin+"/api/zones/"+zone, nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var z struct {
		Capacity int `json:"capacity"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&z))
	return z.Capacity
}

func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func config(upstream string, capacity int) string {
	return fmt.Sprintf(`listen: "127.0.0.1:0"
upstream: {url: %q}
zones:
  - {name: checkout, paths: [/checkout], capacity: %d, admit_per_second: 100}
admin: {listen: "127.0.0.1:0", token_env: WAITROOM_ADMIN_TOKEN}
`, upstream, capacity)
}

// The binary, started as a process on the memory store: a crowd is queued
// and let in in order; SIGHUP applies a new capacity and keeps the old
// configuration when the file is broken; /healthz and /readyz answer;
// SIGTERM lets a request in flight finish.
func TestBinary(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	var slow sync.Once
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/checkout/done":
			w.Header().Set("Waitroom-Release", "1")
		case "/checkout/slow":
			slow.Do(func() {
				close(arrived)
				<-release
			})
		}
		io.WriteString(w, "shop "+r.URL.Path)
	}))
	defer upstream.Close()
	p := startProcess(t, config(upstream.URL, 1))

	for _, path := range []string{"/healthz", "/readyz"} {
		res, err := http.Get(p.admin + path)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusOK, res.StatusCode, path)
	}

	first, second, third := browser(t), browser(t), browser(t)
	get := func(c *http.Client, path string) int {
		res, err := c.Get(p.public + path)
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, get(first, "/checkout"), "the first goes in")
	require.Equal(t, http.StatusTooManyRequests, get(second, "/checkout"), "the second waits")
	require.Equal(t, http.StatusTooManyRequests, get(third, "/checkout"), "the third waits behind it")
	require.Equal(t, http.StatusOK, get(first, "/checkout/done"), "the first finishes: its slot is released")
	deadline := time.Now().Add(10 * time.Second)
	for get(second, "/checkout") != http.StatusOK {
		require.True(t, time.Now().Before(deadline), "the second is let in after the first leaves")
		require.Equal(t, http.StatusTooManyRequests, get(third, "/checkout"), "the third does not pass the second")
	}

	// SIGHUP: a new capacity, then a broken file.
	require.Equal(t, 1, p.zoneCapacity(t, "checkout"))
	require.NoError(t, os.WriteFile(p.config, []byte(config(upstream.URL, 5)), 0o600))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	p.waitFor(t, "configuration reloaded")
	assert.Equal(t, 5, p.zoneCapacity(t, "checkout"), "SIGHUP applies the new capacity")
	require.NoError(t, os.WriteFile(p.config, []byte("zones: [{name: checkout, capacity: nine}]"), 0o600))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
	line := p.waitFor(t, "reload refused")
	assert.Contains(t, line, p.config, "the message names the file")
	assert.Equal(t, 5, p.zoneCapacity(t, "checkout"), "a broken file keeps the running configuration")

	// SIGTERM while a request is in flight: it finishes.
	done := make(chan int, 1)
	go func() {
		res, err := second.Get(p.public + "/checkout/slow")
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		done <- res.StatusCode
	}()
	<-arrived // the request is at the upstream
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	p.waitFor(t, "finishing requests in flight")
	close(release)
	assert.Equal(t, http.StatusOK, <-done, "the request in flight is answered")
	p.waitFor(t, "waitroom: stopped")
	require.NoError(t, p.cmd.Wait(), "the process exits cleanly")
}

// The binary on real Redis ($WAITROOM_REDIS_URL): two processes share one
// line, and the second process's newcomer waits behind the first's.
func TestBinaryOnRedis(t *testing.T) {
	url := os.Getenv("WAITROOM_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("WAITROOM_REDIS_URL is not set: scripts/test.sh starts Redis and sets it")
		}
		t.Skip("WAITROOM_REDIS_URL is not set")
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "shop") }))
	defer upstream.Close()
	zone := fmt.Sprintf("bin-%d", time.Now().UnixNano())
	cfg := fmt.Sprintf(`listen: "127.0.0.1:0"
upstream: {url: %q}
store: %q
zones:
  - {name: %s, paths: [/checkout], capacity: 1, admit_per_second: 100, data_ttl: "10m"}
admin: {listen: "127.0.0.1:0", token_env: WAITROOM_ADMIN_TOKEN}
`, upstream.URL, url, zone)
	a, b := startProcess(t, cfg), startProcess(t, cfg)
	get := func(p *process, c *http.Client) int {
		res, err := c.Get(p.public + "/checkout")
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	require.Equal(t, http.StatusOK, get(a, browser(t)), "the first visitor, at A, goes in")
	assert.Equal(t, http.StatusTooManyRequests, get(b, browser(t)), "the second, at B, waits: the line is shared")
	assert.Equal(t, 1, b.zoneCapacity(t, zone))
}

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files,
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	require.NoError(t, err)
	kder, err := x509.MarshalECPrivateKey(priv)
	require.NoError(t, err)
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// The binary over HTTPS, with HTTP/2, and the app's own waiting page.
func TestBinaryTLSAndOwnPage(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "shop") }))
	defer upstream.Close()
	cert, key, pool := selfSigned(t)
	page := filepath.Join(t.TempDir(), "waiting.html")
	require.NoError(t, os.WriteFile(page, []byte(`<h1>Our line: you are number {{.Position}}</h1>`), 0o600))
	p := startProcess(t, config(upstream.URL, 1)+fmt.Sprintf("tls: {cert_file: %q, key_file: %q}\npages: {waiting: %q}\n", cert, key, page))
	require.True(t, strings.HasPrefix(p.public, "http://"))
	base := "https://" + strings.TrimPrefix(p.public, "http://")
	client := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	}
	first, second := client(), client()
	res, err := first.Get(base + "/checkout")
	require.NoError(t, err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "HTTP/2.0", res.Proto, "HTTP/2 over TLS")
	res, err = second.Get(base + "/checkout")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, res.StatusCode)
	assert.Equal(t, "<h1>Our line: you are number 1</h1>", string(body), "the app's own waiting page")
	for _, c := range res.Cookies() {
		assert.True(t, c.Secure, "cookie %s is Secure over HTTPS", c.Name)
	}
	for _, c := range []*http.Client{first, second} {
		c.CloseIdleConnections()
	}
}

// A configuration that cannot run stops the binary at start with one
// message that names the file or the key.
func TestBinaryRefusesBadConfigAtStart(t *testing.T) {
	bin, err := binary()
	require.NoError(t, err)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("too short\n"), 0o600))
	for _, c := range []struct{ config, want string }{
		{config("http://127.0.0.1:1", 1) + fmt.Sprintf("keys: {secret_file: %q}\n", secret), "keys.secret_file: " + secret + " must hold a secret of at least 32 bytes"},
		{config("http://127.0.0.1:1", 0), "zones[0] (checkout)"},
		{"{", "waitroom: config " + filepath.Join(dir, "waitroom.yaml")},
	} {
		path := filepath.Join(dir, "waitroom.yaml")
		require.NoError(t, os.WriteFile(path, []byte(c.config), 0o600))
		cmd := exec.Command(bin, "-config", path)
		cmd.Env = append(os.Environ(), "WAITROOM_ADMIN_TOKEN="+adminToken)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "the binary stops: %s", out)
		assert.Equal(t, 1, exit.ExitCode())
		assert.Contains(t, string(out), c.want)
	}
}

// event_zones: a zone per event, named from the path, each with the
// template's settings.
func TestBinaryEventZones(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "shop") }))
	defer upstream.Close()
	p := startProcess(t, fmt.Sprintf(`listen: "127.0.0.1:0"
upstream: {url: %q}
event_zones:
  path: "/events/{event}/checkout"
  name: "event-{event}"
  template: {capacity: 1, admit_per_second: 100}
admin: {listen: "127.0.0.1:0", token_env: WAITROOM_ADMIN_TOKEN}
`, upstream.URL))
	get := func(path string) int {
		res, err := browser(t).Get(p.public + path)
		require.NoError(t, err)
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/events/42/checkout"), "the first of event 42 goes in")
	assert.Equal(t, http.StatusTooManyRequests, get("/events/42/checkout/pay"), "the second waits")
	assert.Equal(t, http.StatusOK, get("/events/43/checkout"), "event 43 is a zone of its own")
	assert.Equal(t, http.StatusOK, get("/events/42"), "outside the pattern: not protected")
	assert.Equal(t, 1, p.zoneCapacity(t, "event-42"), "the template's settings")
}

// upstreams: a request goes to the upstream of the longest path prefix
// that covers it, else to the default one; the zones guard them all.
func TestBinaryRoutesToUpstreams(t *testing.T) {
	named := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name+" "+r.URL.Path) }))
	}
	shop, api, apiV2 := named("shop"), named("api"), named("api-v2")
	defer shop.Close()
	defer api.Close()
	defer apiV2.Close()
	p := startProcess(t, fmt.Sprintf(`listen: "127.0.0.1:0"
upstream: {url: %q}
upstreams:
  - {path: /api, url: %q}
  - {path: /api/v2, url: %q}
zones:
  - {name: checkout, paths: [/checkout, /api/v2/checkout], capacity: 1, admit_per_second: 100}
admin: {listen: "127.0.0.1:0", token_env: WAITROOM_ADMIN_TOKEN}
`, shop.URL, api.URL, apiV2.URL))
	get := func(c *http.Client, path string) (int, string) {
		res, err := c.Get(p.public + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	for path, want := range map[string]string{
		"/": "shop /", "/apis": "shop /apis", "/api": "api /api", "/api/items": "api /api/items",
		"/api/v2/items": "api-v2 /api/v2/items", "/api//v2/items": "api-v2 /api/v2/items",
	} {
		code, body := get(browser(t), path)
		assert.Equal(t, http.StatusOK, code, path)
		assert.Equal(t, want, body, path)
	}
	code, body := get(browser(t), "/api/v2/checkout")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "api-v2 /api/v2/checkout", body, "the first visitor of the zone reaches its upstream")
	code, _ = get(browser(t), "/checkout")
	assert.Equal(t, http.StatusTooManyRequests, code, "the zone spans upstreams: the second waits")
}
