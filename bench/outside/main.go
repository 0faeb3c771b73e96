// Command outside measures what the waiting room costs as an operator
// sees it: CPU time per request of the server processes, read from
// /proc/<pid>/stat, with the load generator in a process of its own. Its
// subjects run in alternating rounds, and the table gives each one's
// median CPU per request, its ratio to its scenario's baseline (the
// medians' ratio, and "paired": the median of the rounds' ratios, each
// round's subject against the baseline of the same round) and the share
// of its requests answered 304 Not Modified:
//
//	go run ./bench/outside -rounds 5 -requests 10000
//
// Two scenarios, both run unless -scenario names one:
//
//   - access: a visitor with a valid access token, through a proxy in front
//     of one origin (a hello handler). Baseline bare (httputil.ReverseProxy);
//     subjects wrapped (the library: middleware.Wrap over the memory store,
//     the proxy behind it), demo (examples/reverseproxy built as a binary)
//     and binary (cmd/waitroom). The CPU counted is the proxy's and the
//     origin's.
//   - waiting: a queued visitor refreshing the waiting page of a full zone
//     (capacity 1, held for an hour), each connection a visitor of its own.
//     Baseline hello (the origin's hello handler, asked directly); subjects
//     page (the waiting page as the library serves it by default: status
//     429, which a browser refreshes without a validator), page-200 (the
//     page with middleware.WithStatus(http.StatusOK), refreshed with
//     If-None-Match, as a browser does a 200) and shell (the
//     middleware.WithShellPage page, refreshed with If-None-Match at its
//     address). The CPU counted is the waiting room's and the origin's.
//
// $OUTSIDE_ENV, if set, is added to every server process's environment
// (OUTSIDE_ENV=GOGC=400 compares the subjects at one GC setting). Linux
// only (/proc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/bench"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "origin", "bare", "wrapped", "waiting":
			serve(os.Args[1], os.Args[2], os.Args[3:])
			return
		case "load":
			load(os.Args[2:])
			return
		}
	}
	rounds := flag.Int("rounds", 5, "rounds per subject")
	requests := flag.Int("requests", 20000, "requests per round")
	workers := flag.Int("workers", 16, "concurrent connections of the load generator")
	scenario := flag.String("scenario", "", "access or waiting; empty: both")
	flag.Parse()
	if err := measure(*scenario, *rounds, *requests, *workers); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// serve runs one of the in-harness servers on addr until killed: the
// origin (a hello handler), the bare proxy, the library-wrapped proxy, or
// the waiting room of a full zone in front of the proxy (args: the
// origin's URL, then the page: page, page-200 or shell).
func serve(kind, addr string, args []string) {
	var h http.Handler
	switch kind {
	case "origin":
		h = bench.Hello
	case "bare", "wrapped", "waiting":
		u, _ := url.Parse(args[0])
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = middleware.ProxyTransport()
		rp.ErrorHandler = middleware.ProxyErrorHandler(nil)
		h = rp
		switch kind {
		case "wrapped":
			h = middleware.Wrap(newRoom(1_000_000), rp)
		case "waiting":
			var opts []middleware.Option
			switch args[1] {
			case "page-200":
				opts = append(opts, middleware.WithStatus(http.StatusOK))
			case "shell":
				opts = append(opts, middleware.WithShellPage(time.Minute))
			}
			h = middleware.Wrap(newRoom(1), rp, opts...)
		}
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}

// newRoom returns a Room over the memory store whose zone, checkout
// (/checkout), holds capacity visitors for an hour each.
func newRoom(capacity int) *waitroom.Room {
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: capacity, AdmitPerSecond: 1e6, Session: time.Hour,
	}))
	if err != nil {
		panic(err)
	}
	return room
}

// load sends GETs of a URL over connections of its own and exits; a
// request that fails or gets a status it was not told to expect fails the
// run. Its flags say what a visitor of the scenario sends.
func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("url", "", "the URL asked for")
	n := fs.Int("n", 0, "requests in all")
	c := fs.Int("c", 16, "connections, each a visitor of its own")
	cookies := fs.String("cookies", "", "a file of Cookie headers, one a line: connection i sends line i modulo their number")
	want := fs.String("status", "200", "the statuses expected, comma-separated")
	conditional := fs.Bool("conditional", false, "send If-None-Match with the last ETag received, as a browser's refresh does")
	fs.Parse(args)
	var headers []string
	if *cookies != "" {
		b, err := os.ReadFile(*cookies)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		headers = strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
	}
	ok := map[int]bool{}
	for _, f := range strings.Split(*want, ",") {
		code, _ := strconv.Atoi(f)
		ok[code] = true
	}
	client := &http.Client{Transport: middleware.ProxyTransport()}
	var left, failed, notModified atomic.Int64
	left.Store(int64(*n))
	var wg sync.WaitGroup
	for i := range *c {
		wg.Go(func() {
			var cookie, etag string
			if len(headers) > 0 {
				cookie = headers[i%len(headers)]
			}
			for left.Add(-1) >= 0 {
				req, _ := http.NewRequest("GET", *target, nil)
				req.Header.Set("Accept", "text/html")
				if cookie != "" {
					req.Header.Set("Cookie", cookie)
				}
				if *conditional && etag != "" {
					req.Header.Set("If-None-Match", etag)
				}
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if !ok[res.StatusCode] {
					failed.Add(1)
				}
				if res.StatusCode == http.StatusNotModified {
					notModified.Add(1)
				}
				if t := res.Header.Get("ETag"); t != "" {
					etag = t
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d requests failed or got another status than %s\n", f, *n, *want)
		os.Exit(1)
	}
	fmt.Println(notModified.Load()) // for the table
}

// subject is a server measured, and what its load sends.
type subject struct {
	name  string
	procs []*exec.Cmd // the processes whose CPU counts
	url   string      // what the load asks for
	// The load's flags: a file of Cookie headers ("" for none), the
	// statuses it expects, and whether it refreshes with If-None-Match.
	cookies, status string
	conditional     bool
	cpu             []float64 // µs per request, one per round
	requests        int       // requests of the rounds
	notModified     int       // how many of them were answered 304
}

// scenario is a baseline and the subjects compared with it.
type scenario struct {
	name     string
	subjects []*subject // the first is the baseline
}

func measure(only string, rounds, requests, workers int) error {
	if only != "" && only != "access" && only != "waiting" {
		return fmt.Errorf("-scenario: %q is neither access nor waiting", only)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "waitroom-outside-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	start := func(name string, args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(name, args...)
		if env := os.Getenv("OUTSIDE_ENV"); env != "" {
			cmd.Env = append(os.Environ(), env) // for example GOGC=400, for every subject alike
		}
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		procs = append(procs, cmd)
		return cmd, nil
	}
	originAddr := freePorts(1)[0]
	origin, err := start(self, "origin", originAddr)
	if err != nil {
		return err
	}
	originURL := "http://" + originAddr
	if err := awaitUp(originURL); err != nil {
		return err
	}
	var scenarios []*scenario
	if only == "" || only == "waiting" {
		sc, err := waitingScenario(self, dir, start, origin, originURL, workers)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, sc)
	}
	if only == "" || only == "access" {
		sc, err := accessScenario(self, dir, start, origin, originURL)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, sc)
	}
	var all []*subject
	for _, sc := range scenarios {
		all = append(all, sc.subjects...)
	}
	for _, s := range all { // warm up
		if _, err := runLoad(self, s, requests/4, workers); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	for range rounds {
		for _, s := range all {
			before := cpuOf(s.procs)
			n304, err := runLoad(self, s, requests, workers)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			s.cpu = append(s.cpu, float64(cpuOf(s.procs)-before)/float64(time.Microsecond)/float64(requests))
			s.requests += requests
			s.notModified += n304
		}
	}
	fmt.Printf("CPU per request of the server processes, median of %d rounds of %d requests (%d connections)\n", rounds, requests, workers)
	for _, sc := range scenarios {
		base := sc.subjects[0]
		fmt.Printf("\n%s\n%-9s %10s %16s %8s %6s  %s\n", sc.name, "subject", "µs/req", base.name+"/subject", "paired", "304s", "rounds (µs/req)")
		for _, s := range sc.subjects {
			m := median(s.cpu)
			rs := make([]string, len(s.cpu))
			paired := make([]float64, len(s.cpu))
			for i, v := range s.cpu {
				rs[i] = fmt.Sprintf("%.1f", v)
				paired[i] = base.cpu[i] / v
			}
			share := 100 * float64(s.notModified) / float64(max(s.requests, 1))
			fmt.Printf("%-9s %10.1f %16.3f %8.3f %5.1f%%  %s\n", s.name, m, median(base.cpu)/m, median(paired), share, strings.Join(rs, " "))
		}
	}
	return nil
}

// accessScenario starts the proxies of the access scenario in front of
// the origin, each with a visitor let in: the bare proxy, the library, the
// demo and cmd/waitroom.
func accessScenario(self, dir string, start func(string, ...string) (*exec.Cmd, error), origin *exec.Cmd, originURL string) (*scenario, error) {
	build := func(pkg, out string) (string, error) {
		path := filepath.Join(dir, out)
		if b, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v: %s", pkg, err, b)
		}
		return path, nil
	}
	demo, err := build("./examples/reverseproxy", "demo")
	if err != nil {
		return nil, err
	}
	bin, err := build("./cmd/waitroom", "waitroom")
	if err != nil {
		return nil, err
	}
	ports := freePorts(5)
	cfg := filepath.Join(dir, "waitroom.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %q\nupstream: {url: %q}\nzones: [{name: checkout, paths: [/checkout], capacity: 1000000, admit_per_second: 1000000, session: \"1h\"}]\nlog: {level: error}\n", ports[3], originURL)), 0o600)
	sc := &scenario{name: "access: a visitor with a valid access token, through the proxy to the origin"}
	for _, s := range []struct {
		name string
		bin  string
		args []string
		port string
	}{
		{"bare", self, []string{"bare", ports[0], originURL}, ports[0]},
		{"wrapped", self, []string{"wrapped", ports[1], originURL}, ports[1]},
		{"demo", demo, []string{"-addr", ports[2], "-admin-addr", ports[4], "-origin", originURL, "-capacity", "1000000", "-rate", "1000000", "-session", "1h"}, ports[2]},
		{"binary", bin, []string{"-config", cfg}, ports[3]},
	} {
		cmd, err := start(s.bin, s.args...)
		if err != nil {
			return nil, err
		}
		sc.subjects = append(sc.subjects, &subject{name: s.name, procs: []*exec.Cmd{cmd, origin}, url: "http://" + s.port + "/checkout", status: "200"})
	}
	for _, s := range sc.subjects {
		if err := awaitUp(s.url); err != nil {
			return nil, err
		}
		res, err := http.Get(s.url)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: the first visit got %d", s.name, res.StatusCode)
		}
		if s.cookies, err = cookieFile(dir, s.name, [][]*http.Cookie{res.Cookies()}); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

// waitingScenario starts the waiting rooms of the waiting scenario, each
// with its zone full and workers visitors in line: one visitor per
// connection of the load, refreshing its page. The baseline is the
// origin's hello, asked directly.
func waitingScenario(self, dir string, start func(string, ...string) (*exec.Cmd, error), origin *exec.Cmd, originURL string, workers int) (*scenario, error) {
	sc := &scenario{name: "waiting: a queued visitor refreshing the waiting page of a full zone",
		subjects: []*subject{{name: "hello", procs: []*exec.Cmd{origin}, url: originURL + "/checkout", status: "200"}}}
	ports := freePorts(3)
	for i, v := range []struct {
		name, status string
		conditional  bool
	}{
		{"page", "429", false},
		{"page-200", "200,304", true},
		{"shell", "200,304", true},
	} {
		cmd, err := start(self, "waiting", ports[i], originURL, v.name)
		if err != nil {
			return nil, err
		}
		base := "http://" + ports[i]
		if err := awaitUp(base); err != nil {
			return nil, err
		}
		jars, err := queue(base+"/checkout", workers)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
		s := &subject{name: v.name, procs: []*exec.Cmd{cmd, origin}, url: base + "/checkout", status: v.status, conditional: v.conditional}
		if v.name == "shell" {
			// The page's script moves the browser to the shell's address,
			// which its refreshes then ask for.
			s.url = base + "/.waitroom/wait?return=%2Fcheckout&zone=checkout"
		}
		if s.cookies, err = cookieFile(dir, v.name, jars); err != nil {
			return nil, err
		}
		sc.subjects = append(sc.subjects, s)
	}
	return sc, nil
}

// queue lets one visitor into the zone of target, which then is full, and
// queues n more; it returns the cookies of those in line.
func queue(target string, n int) ([][]*http.Cookie, error) {
	var out [][]*http.Cookie
	for i := range n + 1 {
		res, err := http.Get(target)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		inLine := true // a visitor cookie and no access cookie
		for _, c := range res.Cookies() {
			inLine = inLine && c.Name != "wr_a_checkout"
		}
		inLine = inLine && len(res.Cookies()) > 0
		switch {
		case i == 0 && (res.StatusCode != http.StatusOK || inLine):
			return nil, fmt.Errorf("the first visitor was not let in: status %d", res.StatusCode)
		case i > 0 && !inLine:
			return nil, fmt.Errorf("a visitor was not queued: status %d", res.StatusCode)
		case i > 0:
			out = append(out, res.Cookies())
		}
	}
	return out, nil
}

// cookieFile writes the Cookie header of each visitor's waitroom cookies
// to a file for the load, one a line, and returns its path.
func cookieFile(dir, name string, visitors [][]*http.Cookie) (string, error) {
	var b strings.Builder
	for _, cs := range visitors {
		var parts []string
		for _, c := range cs {
			if strings.HasPrefix(c.Name, "wr_") {
				parts = append(parts, c.Name+"="+c.Value)
			}
		}
		if len(parts) > 0 {
			b.WriteString(strings.Join(parts, "; ") + "\n")
		}
	}
	path := filepath.Join(dir, name+".cookies")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// runLoad runs the load generator as a process of its own and returns
// how many of its requests were answered 304 Not Modified.
func runLoad(self string, s *subject, n, workers int) (int, error) {
	args := []string{"load", "-url", s.url, "-n", strconv.Itoa(n), "-c", strconv.Itoa(workers), "-status", s.status, "-cookies", s.cookies}
	if s.conditional {
		args = append(args, "-conditional")
	}
	cmd := exec.Command(self, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("load: %v: %s", err, stderr.String())
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// cpuOf is the CPU time the processes have used, together.
func cpuOf(procs []*exec.Cmd) time.Duration {
	var d time.Duration
	for _, p := range procs {
		d += cpu(p.Process.Pid)
	}
	return d
}

// cpu is the user and system time a process has used (/proc/<pid>/stat,
// in clock ticks of 10ms).
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// awaitUp waits until something answers at target's host.
func awaitUp(target string) error {
	u, _ := url.Parse(target)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
		if err == nil {
			conn.Close()
			return nil
		}
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("nothing listens at %s", u.Host)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePorts returns n loopback addresses with free ports.
func freePorts(n int) []string {
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
