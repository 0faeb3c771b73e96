// Command reverseproxy is the waitroom demo: a waiting room in front of an
// origin, as an httputil.ReverseProxy. By default it starts a small demo
// origin of its own and keeps the room in memory:
//
//	go run ./examples/reverseproxy
//
// then open http://127.0.0.1:8080/ in a few browser windows (or private
// tabs): the first -capacity visitors reach /checkout, the rest wait in line
// and are let in, in order, as the others finish or their session ends.
//
// Flags: -addr (listen address), -origin (proxy a real origin instead of the
// demo one), -capacity, -rate (admissions per second), -session (access
// lifetime), -store (memory; redis://host:6379/0, redis+cluster://h1,h2 and
// dynamodb://TABLE?endpoint=… share one room between several instances).
//
// The operator's side listens on -admin-addr (default 127.0.0.1:8081): the
// dashboard at /, the admin API at /api/ (package admin) and Prometheus
// metrics at /metrics. It takes the token of -admin-token, else of
// $WAITROOM_ADMIN_TOKEN, else one made at start and printed in the log.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
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
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	origin := flag.String("origin", "", "origin URL to protect (default: a built-in demo origin)")
	capacity := flag.Int("capacity", 3, "visitors inside /checkout at once")
	rate := flag.Float64("rate", 3, "admissions per second (with the default capacity, the fourth visitor waits for a slot, not the second)")
	session := flag.Duration("session", time.Minute, "access lifetime (a slot leaks when it ends)")
	storeURL := flag.String("store", "memory", "store: memory, redis://host:port/db, rediss://…, redis+cluster://h1:p,h2:p, dynamodb://TABLE?endpoint=…&region=…")
	adminAddr := flag.String("admin-addr", "127.0.0.1:8081", "listen address of the dashboard, the admin API and /metrics")
	adminToken := flag.String("admin-token", os.Getenv("WAITROOM_ADMIN_TOKEN"), "admin API token (default $WAITROOM_ADMIN_TOKEN, else one made at start)")
	flag.Parse()
	o := options{addr: *addr, origin: *origin, store: *storeURL, capacity: *capacity, rate: *rate, session: *session,
		adminAddr: *adminAddr, adminToken: *adminToken}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// options are the demo's flags.
type options struct {
	addr, origin, store   string
	capacity              int
	rate                  float64
	session               time.Duration
	adminAddr, adminToken string
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, err := build(ctx, o)
	if err != nil {
		return err
	}
	defer d.close()

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	aln, err := net.Listen("tcp", o.adminAddr)
	if err != nil {
		ln.Close()
		return err
	}
	slog.Info("waitroom demo", "open", "http://"+ln.Addr().String()+"/", "protects", "/checkout",
		"origin", d.target, "capacity", o.capacity, "rate", o.rate, "session", o.session, "store", o.store)
	slog.Info("waitroom operator", "dashboard", "http://"+aln.Addr().String()+"/", "metrics", "http://"+aln.Addr().String()+"/metrics",
		"token", d.shownToken)
	servers := []*http.Server{
		{Handler: d.public, ReadHeaderTimeout: 10 * time.Second},
		{Handler: d.admin, ReadHeaderTimeout: 10 * time.Second},
	}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range servers {
			s.Shutdown(shut)
		}
	}()
	errs := make(chan error, 2)
	for i, l := range []net.Listener{ln, aln} {
		go func() { errs <- servers[i].Serve(l) }()
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, http.ErrServerClosed) {
			stop()
			return err
		}
	}
	return nil
}

// demo is the waiting room in front of its origin, and the operator's
// side of it.
type demo struct {
	public     http.Handler // the waiting room in front of the origin
	admin      http.Handler // the dashboard, the admin API and /metrics
	target     string       // the origin's URL
	shownToken string       // the admin token if the demo made it, to print; else "(as given)"
	close      func()       // stops it all
}

// build returns the waiting room in front of the origin (the demo's own if
// o.origin is empty) and its operator's side.
func build(ctx context.Context, o options) (*demo, error) {
	var closers []func() error
	d := &demo{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	fail := func(err error) (*demo, error) {
		d.close()
		return nil, err
	}
	d.target = o.origin
	if d.target == "" {
		origin, err := startDemoOrigin()
		if err != nil {
			return fail(err)
		}
		closers = append(closers, origin.Close)
		d.target = "http://" + origin.Addr
	}
	u, err := url.Parse(d.target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fail(fmt.Errorf("waitroom: -origin %q is not an absolute URL", d.target))
	}
	store, keys, err := storeurl.Open(ctx, o.store)
	if err != nil {
		return fail(err)
	}
	m := metrics.New()
	opts := []waitroom.Option{waitroom.WithObserver(m), waitroom.WithZone(waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"},
		Capacity: o.capacity, AdmitPerSecond: o.rate, Session: o.session,
		AbandonAfter: 30 * time.Second, ClaimWindow: 30 * time.Second,
	})}
	if keys != nil {
		opts = append(opts, waitroom.WithKeys(keys))
	}
	room, err := waitroom.New(store, opts...)
	if err != nil {
		store.Close()
		return fail(err)
	}
	closers = append(closers, room.Close)
	m.Watch(room)

	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = middleware.ProxyTransport()
	proxy.ErrorHandler = middleware.ProxyErrorHandler(nil)
	h := middleware.Wrap(room, proxy, middleware.WithObserver(m))
	closers = append(closers, h.Close)
	d.public = h

	token := o.adminToken
	d.shownToken = "(as given)"
	if token == "" {
		token = waitroom.NewVisitorID() // 128 random bits
		d.shownToken = token
	}
	ah, err := admin.New(room, admin.WithToken(token))
	if err != nil {
		return fail(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", ah)
	d.admin = mux
	return d, nil
}

// demoOrigin is the shop behind the waiting room.
type demoOrigin struct {
	Addr string
	srv  *http.Server
}

func (o *demoOrigin) Close() error { return o.srv.Close() }

func startDemoOrigin() (*demoOrigin, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		render(w, homePage, nil)
	})
	mux.HandleFunc("GET /checkout", func(w http.ResponseWriter, r *http.Request) {
		render(w, checkoutPage, map[string]string{"Time": time.Now().Format("15:04:05")})
	})
	mux.HandleFunc("POST /checkout/done", func(w http.ResponseWriter, r *http.Request) {
		// Tell the waiting room this visitor is done: its slot goes to the
		// next in line. The middleware strips the header.
		w.Header().Set(middleware.DefaultReleaseHeader, "1")
		render(w, donePage, nil)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &demoOrigin{Addr: ln.Addr().String(), srv: srv}, nil
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	t.Execute(w, data)
}

const style = `<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
a.button,button{display:inline-block;padding:.6rem 1.2rem;border:2px solid #222;border-radius:.4rem;background:#fff;color:#222;text-decoration:none;font-size:1rem;cursor:pointer}</style>`

var (
	homePage = template.Must(template.New("home").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Demo shop</title>` + style + `</head><body>
<h1>Demo shop</h1><p>Tickets go on sale now. Only a few visitors fit in the checkout at once; the others wait in line.</p>
<p><a class="button" href="/checkout">Buy tickets</a></p></body></html>`))
	checkoutPage = template.Must(template.New("checkout").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Checkout</title>` + style + `</head><body>
<h1>Checkout</h1><p>You are in (page served at {{.Time}}). Your place is held for your session.</p>
<form method="post" action="/checkout/done"><button>Finish checkout</button></form></body></html>`))
	donePage = template.Must(template.New("done").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Thank you</title>` + style + `</head><body>
<h1>Thank you</h1><p>Your order is placed; your place has gone to the next visitor in line.</p>
<p><a class="button" href="/">Back to the shop</a></p></body></html>`))
)
