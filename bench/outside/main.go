// Command outside measures what the waiting room costs as an operator
// sees it: CPU time per request of the server processes (proxy and
// origin, read from /proc/<pid>/stat), with the load generator in a
// process of its own, for a visitor with a valid access token. Each
// subject runs in front of the same origin, in alternating rounds, and
// the table gives the median CPU per request and its ratio to the bare
// httputil.ReverseProxy:
//
//	go run ./bench/outside -rounds 5 -requests 20000
//
// Subjects: bare (httputil.ReverseProxy), wrapped (the library:
// middleware.Wrap over the memory store, the proxy behind it), demo
// (examples/reverseproxy built as a binary) and binary (cmd/waitroom).
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
		case "origin", "bare", "wrapped":
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
	flag.Parse()
	if err := measure(*rounds, *requests, *workers); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// serve runs one of the in-harness servers on addr: the origin (a hello
// handler), the bare proxy, or the library-wrapped proxy, until killed.
func serve(kind, addr string, args []string) {
	var h http.Handler
	switch kind {
	case "origin":
		h = bench.Hello
	case "bare", "wrapped":
		u, _ := url.Parse(args[0])
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = middleware.ProxyTransport()
		rp.ErrorHandler = middleware.ProxyErrorHandler(nil)
		h = rp
		if kind == "wrapped" {
			room, err := waitroom.New(memstore.New(), waitroom.WithZone(waitroom.Zone{
				Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1_000_000, AdmitPerSecond: 1e6, Session: time.Hour,
			}))
			if err != nil {
				panic(err)
			}
			h = middleware.Wrap(room, rp)
		}
	}
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		panic(err)
	}
}

// load sends n GETs of target with the cookie, over c connections, and
// exits.
func load(args []string) {
	target, cookie := args[0], args[1]
	n, _ := strconv.Atoi(args[2])
	c, _ := strconv.Atoi(args[3])
	tr := middleware.ProxyTransport()
	client := &http.Client{Transport: tr}
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range c {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				req, _ := http.NewRequest("GET", target, nil)
				if cookie != "-" {
					req.Header.Set("Cookie", cookie)
				}
				res, err := client.Do(req)
				if err != nil || res.StatusCode != http.StatusOK {
					failed.Add(1)
					if res != nil {
						res.Body.Close()
					}
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d requests failed\n", f, n)
		os.Exit(1)
	}
}

// subject is a server measured in front of the origin.
type subject struct {
	name string
	cmd  *exec.Cmd
	url  string
	cpu  []float64 // µs per request, one per round
}

func measure(rounds, requests, workers int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "waitroom-outside-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	build := func(pkg, out string) (string, error) {
		path := filepath.Join(dir, out)
		if b, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %v: %s", pkg, err, b)
		}
		return path, nil
	}
	demo, err := build("./examples/reverseproxy", "demo")
	if err != nil {
		return err
	}
	bin, err := build("./cmd/waitroom", "waitroom")
	if err != nil {
		return err
	}
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
	ports := freePorts(6)
	origin, err := start(self, "origin", ports[0])
	if err != nil {
		return err
	}
	originURL := "http://" + ports[0]
	cfg := filepath.Join(dir, "waitroom.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %q\nupstream: {url: %q}\nzones: [{name: checkout, paths: [/checkout], capacity: 1000000, admit_per_second: 1000000, session: \"1h\"}]\nlog: {level: error}\n", ports[4], originURL)), 0o600)
	var subjects []*subject
	for _, s := range []struct {
		name string
		bin  string
		args []string
		port string
	}{
		{"bare", self, []string{"bare", ports[1], originURL}, ports[1]},
		{"wrapped", self, []string{"wrapped", ports[2], originURL}, ports[2]},
		{"demo", demo, []string{"-addr", ports[3], "-admin-addr", ports[5], "-origin", originURL, "-capacity", "1000000", "-rate", "1000000", "-session", "1h"}, ports[3]},
		{"binary", bin, []string{"-config", cfg}, ports[4]},
	} {
		cmd, err := start(s.bin, s.args...)
		if err != nil {
			return err
		}
		subjects = append(subjects, &subject{name: s.name, cmd: cmd, url: "http://" + s.port + "/checkout"})
	}
	for _, u := range append([]string{originURL}, subjectURLs(subjects)...) {
		if err := awaitUp(u); err != nil {
			return err
		}
	}
	for _, s := range subjects {
		cookie, err := accessCookie(s.url)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		// Warm up.
		if err := runLoad(self, s.url, cookie, requests/4, workers); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.cmd.Env = []string{cookie} // kept for the rounds
	}
	for range rounds {
		for _, s := range subjects {
			before := cpu(s.cmd.Process.Pid) + cpu(origin.Process.Pid)
			if err := runLoad(self, s.url, s.cmd.Env[0], requests, workers); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			after := cpu(s.cmd.Process.Pid) + cpu(origin.Process.Pid)
			s.cpu = append(s.cpu, float64(after-before)/float64(time.Microsecond)/float64(requests))
		}
	}
	base := median(subjects[0].cpu)
	fmt.Printf("CPU per request of proxy + origin, median of %d rounds of %d requests (%d connections)\n", rounds, requests, workers)
	fmt.Printf("%-8s %10s %16s %s\n", "subject", "µs/req", "bare/subject", "rounds (µs/req)")
	for _, s := range subjects {
		m := median(s.cpu)
		rs := make([]string, len(s.cpu))
		for i, v := range s.cpu {
			rs[i] = fmt.Sprintf("%.1f", v)
		}
		fmt.Printf("%-8s %10.1f %16.3f %s\n", s.name, m, base/m, strings.Join(rs, " "))
	}
	return nil
}

func subjectURLs(ss []*subject) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.url)
	}
	return out
}

// runLoad runs the load generator as a process of its own.
func runLoad(self, url, cookie string, n, workers int) error {
	if cookie == "" {
		cookie = "-"
	}
	out, err := exec.Command(self, "load", url, cookie, strconv.Itoa(n), strconv.Itoa(workers)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("load: %v: %s", err, out)
	}
	return nil
}

// accessCookie visits url once and returns the Cookie header that lets the
// visitor in again: its access cookie, or "" where none is needed.
func accessCookie(target string) (string, error) {
	res, err := http.Get(target)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the first visit got %d", res.StatusCode)
	}
	var parts []string
	for _, c := range res.Cookies() {
		if strings.HasPrefix(c.Name, "wr_") {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; "), nil
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
