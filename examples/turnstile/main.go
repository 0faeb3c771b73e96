// Command turnstile puts a bot check in front of the waiting room's line:
// a newcomer proves it is a person with a Cloudflare Turnstile challenge
// before it is given a place (middleware.WithEntryCheck), and no client
// takes more than 30 places a minute (middleware.WithEntryLimit).
//
//	go run ./examples/turnstile
//
// then open http://127.0.0.1:8080/checkout. The first visit shows the
// challenge; once Turnstile has given the page a token, the page sends it
// back in the cf-turnstile-response header, the server checks it with
// Turnstile's siteverify endpoint, and the visitor gets its place (or,
// with room in the checkout, goes straight in). From then on its visitor
// cookie carries it: the check runs once per visitor, not per request.
//
// The defaults are Cloudflare's test keys, which pass every visitor; give
// your own with -sitekey and the TURNSTILE_SECRET environment variable.
// The check fails closed: if siteverify cannot be reached, newcomers get
// 503 and visitors who have a place keep it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

// DefaultSiteverifyURL is Cloudflare Turnstile's verification endpoint.
const DefaultSiteverifyURL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"

// Cloudflare's test keys: a widget that always passes and a secret whose
// every token verifies. For the demo only.
const (
	testSiteKey = "1x00000000000000000000AA"
	testSecret  = "1x0000000000000000000000000000000AA"
)

// TokenField is the form field, and the header, that carries a Turnstile
// token: the widget adds the field to its form, the demo's page sends the
// header.
const TokenField = "cf-turnstile-response"

// maxToken is the longest token Turnstile issues; a longer one is refused
// without asking siteverify.
const maxToken = 2048

// A Verifier asks Turnstile's siteverify endpoint whether a token is good.
// It is safe for concurrent use.
type Verifier struct {
	// Client makes the calls; nil uses a client with a 5 s timeout. The
	// call is the newcomer's wait, so keep the timeout short.
	Client *http.Client
	// URL is the endpoint; "" is DefaultSiteverifyURL. Tests point it at
	// a fake.
	URL string
	// Secret is the site's secret key.
	Secret string
}

var defaultClient = &http.Client{Timeout: 5 * time.Second}

// Errors siteverify reports for the site's own setup rather than for the
// token: they are the operator's to fix, so they fail closed (503) rather
// than refuse every visitor as a bot.
var setupErrors = []string{"missing-input-secret", "invalid-input-secret", "internal-error"}

// Verify reports whether token is a good Turnstile token. A token that is
// bad, expired or already used is (false, nil); err is for a call that
// failed or a site secret siteverify does not accept.
func (v *Verifier) Verify(ctx context.Context, token string) (bool, error) {
	u, c := v.URL, v.Client
	if u == "" {
		u = DefaultSiteverifyURL
	}
	if c == nil {
		c = defaultClient
	}
	form := url.Values{"secret": {v.Secret}, "response": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return false, fmt.Errorf("waitroom: turnstile: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return false, fmt.Errorf("waitroom: turnstile: siteverify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("waitroom: turnstile: siteverify answered %s", resp.Status)
	}
	var out struct {
		Success    bool     `json:"success"`
		ErrorCodes []string `json:"error-codes"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return false, fmt.Errorf("waitroom: turnstile: siteverify's answer: %w", err)
	}
	for _, code := range out.ErrorCodes {
		if slices.Contains(setupErrors, code) {
			return false, fmt.Errorf("waitroom: turnstile: siteverify refused the site's request: %s", code)
		}
	}
	return out.Success, nil
}

// A Check is the waiting room's entry check: a newcomer without a token
// is shown the challenge, one with a good token is given its place, one
// with a bad token is refused (403). It implements middleware.EntryCheck.
type Check struct {
	Verifier *Verifier
	SiteKey  string // the widget's site key
}

// CheckEntry verifies the newcomer's token: the cf-turnstile-response
// header, else the form field of a POSTed form (which reads the body).
func (c *Check) CheckEntry(r *http.Request, zone string) (middleware.EntryDecision, error) {
	token := r.Header.Get(TokenField)
	if token == "" && r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
		token = r.PostFormValue(TokenField)
	}
	if token == "" {
		return middleware.ChallengeEntry(c.challenge()), nil
	}
	if len(token) > maxToken {
		return middleware.DenyEntry(), nil
	}
	ok, err := c.Verifier.Verify(r.Context(), token)
	if err != nil {
		return middleware.EntryDecision{}, err
	}
	if !ok {
		return middleware.DenyEntry(), nil
	}
	return middleware.AllowEntry(), nil
}

// challenge answers with the challenge: the page with the widget, or for
// a client that asks for JSON, what it needs to show one.
func (c *Check) challenge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "application/json") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]string{"challenge": "turnstile", "sitekey": c.SiteKey, "field": TokenField})
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden) // as Cloudflare answers its own challenges
		challengePage.Execute(w, c.SiteKey)
	})
}

// challengePage shows the widget. When Turnstile has a token, the page
// asks for itself again with the token in the header: the answer sets the
// visitor cookie, and the reload shows the waiting page (or the page
// itself, with room inside). The form is the fallback: Turnstile puts
// the token in it, and the button posts it.
var challengePage = template.Must(template.New("challenge").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>One moment</title>
<script src="https://challenges.cloudflare.com/turnstile/v0/api.js" async defer></script>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style></head><body>
<h1>One moment</h1><p>Before you join the line, please confirm you are a person.</p>
<form method="post"><div class="cf-turnstile" data-sitekey="{{.}}" data-callback="entered"></div>
<p><button>Join the line</button></p></form><p id="msg" role="status"></p>
<script>
function entered(token) {
  fetch(location.href, {headers: {"cf-turnstile-response": token}, credentials: "same-origin"}).then(function (r) {
    if (r.status === 403) { document.getElementById("msg").textContent = "That did not work; please try again."; turnstile.reset(); return; }
    location.reload();
  }, function () { document.getElementById("msg").textContent = "Network error; please try again."; turnstile.reset(); });
}
</script></body></html>`))

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	siteKey := flag.String("sitekey", testSiteKey, "Turnstile site key (default: Cloudflare's test key, which passes everyone)")
	capacity := flag.Int("capacity", 1, "visitors inside /checkout at once")
	flag.Parse()
	secret := os.Getenv("TURNSTILE_SECRET")
	if secret == "" {
		secret = testSecret
	}
	if err := run(*addr, options{siteKey: *siteKey, capacity: *capacity, verifier: &Verifier{Secret: secret}}); err != nil {
		log.Fatal(err)
	}
}

// options are what build needs: the demo's flags and the verifier.
type options struct {
	siteKey  string
	capacity int
	verifier *Verifier
	clock    func() time.Time // nil: the wall clock
}

func run(addr string, o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, cleanup, err := build(o)
	if err != nil {
		return err
	}
	defer cleanup()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("waitroom turnstile demo", "open", "http://"+ln.Addr().String()+"/checkout")
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// build returns the shop behind the waiting room, with the entry limit and
// the Turnstile check, and a func that stops it.
func build(o options) (http.Handler, func(), error) {
	ropts := []waitroom.Option{waitroom.WithZone(waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: o.capacity, AdmitPerSecond: 1,
		Session: 5 * time.Minute, AbandonAfter: 30 * time.Second, ClaimWindow: 30 * time.Second,
	})}
	if o.clock != nil {
		ropts = append(ropts, waitroom.WithClock(o.clock))
	}
	room, err := waitroom.New(memstore.New(), ropts...)
	if err != nil {
		return nil, nil, err
	}
	shop := http.NewServeMux()
	shop.HandleFunc("/checkout", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Checkout: you are in.\n")
	})
	h := middleware.Wrap(room, shop,
		middleware.WithEntryLimit(30, 10),
		middleware.WithEntryCheck(&Check{Verifier: o.verifier, SiteKey: o.siteKey}))
	return h, func() { h.Close(); room.Close() }, nil
}
