// Command pages measures what open waiting pages cost one instance while
// the line does not move: the server process's resident memory per open
// page and its CPU, read from /proc/<pid>/status and /proc/<pid>/stat,
// with the pages (websocket or event-stream clients) in processes of
// their own:
//
//	go run ./bench/pages -pages 19500
//
// The server is the middleware over the memory store, in front of a hello
// origin, with one zone of capacity 1: the first visitor goes in and
// stays, everyone after waits. Each page first asks for the protected
// path (which gives it its visitor cookie and place), then holds the push
// channel open as the built-in page does. The harness raises the limit of
// open files as far as the system lets it (its processes inherit it); the
// server holds a socket per page, so a hard limit of 20,000 (ulimit -Hn)
// allows some 19,500 pages (each clients process keeps a few sockets of
// its first requests open while it opens its pages).
// Linux only (/proc).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	_ "net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/bench"
	"github.com/waitroom/waitroom/internal/rlimit"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "server":
			n, _ := strconv.Atoi(os.Args[3])
			serve(os.Args[2], n)
			return
		case "clients":
			n, _ := strconv.Atoi(os.Args[3])
			if err := clients(os.Args[2], n, os.Args[4]); err != nil {
				fmt.Fprintln(os.Stderr, "pages: clients:", err)
				os.Exit(1)
			}
			return
		}
	}
	pages := flag.Int("pages", 19500, "open pages")
	modes := flag.String("modes", "ws,sse", "push channels to measure, in order")
	window := flag.Duration("window", time.Minute, "how long CPU is measured with the pages open: longer than a ping interval (20s) and an event stream's lifetime (30s)")
	flag.Parse()
	rlimit.RaiseFiles()
	fmt.Printf("%d pages, CPU over %v, load average %s\n\n", *pages, *window, loadAverage())
	fmt.Println("| channel | pages | memory per page (RSS) | CPU, pages open, line still | CPU, no page |")
	fmt.Println("|---|---|---|---|---|")
	for _, mode := range strings.Split(*modes, ",") {
		if err := measure(mode, *pages, *window); err != nil {
			fmt.Fprintln(os.Stderr, "pages:", err)
			os.Exit(1)
		}
	}
}

// serve runs the waiting room on addr for n pages, until killed.
func serve(addr string, n int) {
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AdmitPerSecond: 1,
		Session: time.Hour, AbandonAfter: time.Hour,
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pages: server:", err)
		os.Exit(1)
	}
	h := middleware.Wrap(room, bench.Hello,
		middleware.WithMaxConnections(n+100), middleware.WithMaxConnectionsPerIP(n+100),
		middleware.WithLogger(slog.New(slog.DiscardHandler)))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pages: server:", err)
		os.Exit(1)
	}
	if a := os.Getenv("PAGES_PPROF"); a != "" { // to look at where a page's memory goes
		go http.ListenAndServe(a, nil)
	}
	fmt.Println("ready")
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	_ = srv.Serve(ln)
}

// clients opens n pages of the server at addr, holding their push
// channel (mode ws or sse) open; it prints "open" when all are, and then
// holds them until killed.
func clients(addr string, n int, mode string) error {
	base := "http://" + addr
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}
	var opened atomic.Int64
	errs := make(chan error, 1)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range work {
				if err := openPage(base, mode, tr); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				opened.Add(1)
			}
		})
	}
	for i := range n {
		select {
		case err := <-errs:
			close(work)
			return fmt.Errorf("page %d: %w", i, err)
		case work <- i:
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	tr.CloseIdleConnections() // the pages' first requests: only the push channels stay
	fmt.Println("open", opened.Load())
	select {} // hold the pages until killed
}

// openPage asks for the protected path with a jar of its own, then opens
// the push channel and reads it in the background for as long as the
// process lives.
func openPage(base, mode string, tr *http.Transport) error {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
	res, err := c.Get(base + "/checkout")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("GET /checkout: %s", res.Status)
	}
	u, _ := url.Parse(base)
	cookies := jar.Cookies(u)
	header := http.Header{"Origin": {base}}
	for _, ck := range cookies {
		header.Add("Cookie", ck.Name+"="+ck.Value)
	}
	switch mode {
	case "ws":
		conn, _, err := websocket.Dial(context.Background(), "ws://"+u.Host+"/.waitroom/ws?zone=checkout",
			&websocket.DialOptions{HTTPHeader: header})
		if err != nil {
			return fmt.Errorf("websocket: %w", err)
		}
		conn.SetReadLimit(1 << 16)
		go func() {
			for {
				if _, _, err := conn.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	case "sse":
		// Its own connection: an event stream holds it.
		sc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		open := func() (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodGet, base+"/.waitroom/events?zone=checkout", nil)
			req.Header = header.Clone()
			req.Header.Set("Accept", "text/event-stream")
			res, err := sc.Do(req)
			if err != nil {
				return nil, fmt.Errorf("event stream: %w", err)
			}
			if res.StatusCode != http.StatusOK {
				res.Body.Close()
				return nil, fmt.Errorf("event stream: %s", res.Status)
			}
			return res, nil
		}
		res, err := open()
		if err != nil {
			return err
		}
		// As an EventSource does: when the server ends the stream (its
		// lifetime), open it again after the retry time it gave.
		go func() {
			for {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				time.Sleep(time.Second) // the stream's "retry: 1000"
				if res, err = open(); err != nil {
					return
				}
			}
		}()
	default:
		return fmt.Errorf("unknown channel %q: want ws or sse", mode)
	}
	return nil
}

// clientsPerProcess is the most pages one clients process opens.
const clientsPerProcess = 10000

// measure starts a server, reads its memory and CPU with no page open,
// opens the pages from a clients process, and reads them again.
func measure(mode string, pages int, window time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	server, lines, err := start(self, "server", addr, strconv.Itoa(pages))
	if err != nil {
		return err
	}
	defer stop(server)
	if err := expect(lines, "ready", 10*time.Second); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	pid := server.Process.Pid
	// The first visitor goes in and stays: the line never moves.
	if res, err := http.Get("http://" + addr + "/checkout"); err != nil {
		return err
	} else {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	idleCPU := cpuShare(pid, window)
	rss0 := rss(pid)

	// Pages in processes of at most 10,000 each: a process may hold only
	// so many sockets (ulimit -Hn), and a page holds one.
	for left := pages; left > 0; left -= clientsPerProcess {
		cl, clLines, err := start(self, "clients", addr, strconv.Itoa(min(left, clientsPerProcess)), mode)
		if err != nil {
			return err
		}
		defer stop(cl)
		if err := expect(clLines, "open", 10*time.Minute); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
	}
	// Let the openings' garbage go before the memory is read.
	cpuShare(pid, 2*time.Second)
	openCPU := cpuShare(pid, window)
	rss1 := rss(pid)
	fmt.Printf("| %s | %d | %.1f KB | %.2f%% of one core | %.2f%% |\n", mode, pages,
		float64(rss1-rss0)/float64(pages)/1024, 100*openCPU, 100*idleCPU)
	return nil
}

// start runs the harness's own binary with args and returns its standard
// output, line by line.
func start(self string, args ...string) (*exec.Cmd, <-chan string, error) {
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines, nil
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Kill()
	cmd.Wait()
}

// expect waits for a line that starts with prefix.
func expect(lines <-chan string, prefix string, within time.Duration) error {
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return errors.New("exited before saying " + prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("did not say %s within %v", prefix, within)
		}
	}
}

// cpuShare returns the share of one core the process used over window.
func cpuShare(pid int, window time.Duration) float64 {
	c0, t0 := cpu(pid), time.Now()
	time.Sleep(window) // the measurement's window, not a synchronisation
	return float64(cpu(pid)-c0) / float64(time.Since(t0))
}

// cpu is the process's user and system time (/proc/<pid>/stat).
func cpu(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ
}

// rss is the process's resident memory in bytes (/proc/<pid>/status).
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
