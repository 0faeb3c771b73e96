// Command flashcrowd proves the waiting room's promises with numbers: it
// sends a crowd of virtual visitors, each a browser with its own cookie jar
// that follows the waiting page's protocol over HTTP, at a waiting room in
// front of an instrumented origin, and reports fairness (admission order
// against arrival order), smoothing (the admission rate) and safety (the
// origin's concurrency), with an SVG chart.
//
//	go run ./examples/flashcrowd -visitors 20000
//	go run ./examples/flashcrowd -visitors 100000 -window 10s -rate 2000 -capacity 6000 -timeout 10m
//	go run ./examples/flashcrowd -store redis://127.0.0.1:6379/0 -instances 3
//
// By default it starts everything in process on loopback: the origin, the
// store (memory; -store redis://… for Redis), and -instances waiting rooms,
// each an httputil.ReverseProxy wrapped by the middleware; the crowd spreads
// its requests over them like a load balancer without stickiness. With
// -url it drives a waiting room already running (the report then has only
// what the clients can see).
//
// Each visitor arrives at its time in the window (-profile spike: evenly;
// ramp: arrivals per second growing linearly), asks for the protected page,
// and when told to wait polls the status endpoint as the page's script
// does, every Retry-After seconds (-follow poll), or follows the page's event
// stream (-follow push, the default in process: HTTP/2 without TLS, so that
// 100,000 open streams share a few connections). When it is let in, it
// claims its slot (the claim endpoint sets the access cookie and sends it
// back to the page) and stays in checkout for its think time; then it
// releases its slot through the origin's release header, or (a share of
// them, -release) lets its access token expire.
//
// The crowd's browsers share a pool of sockets (-conns), as one process
// cannot hold a socket for each: a third for first requests and polls, two
// thirds for the visitors let in. A request that has no answer 30 s after
// it has a socket is an error; the time it waited for one is the
// simulator's, and the report gives it apart.
//
// With -sim the sale runs on a virtual clock, in process and without
// sockets: the Rooms over the real store (memory, Redis with the callers'
// clock, DynamoDB), stepped at every tick of the virtual clock, and each
// visitor calling the Room as its page would (a visit, heartbeats while
// it waits, its claim -claim-delay after its turn, its release). Virtual
// time does not pass while the calls run, so the figures are the
// library's, not the machine's: a million visitors cost only their calls.
// The report adds store calls per visitor, memory per place in line (heap
// growth on the memory store, used_memory on Redis), Redis CPU or DynamoDB
// capacity units per visitor, and whether the rate or the capacity bound
// the outflow. -sweep runs it over a grid of capacities and rates.
//
//	go run ./examples/flashcrowd -sim -visitors 1000000 -window 60s -capacity 20000 -rate 2000
//	go run ./examples/flashcrowd -sim -sweep -store redis://127.0.0.1:6379/0
//
// The report goes to stdout and to DIR/report.txt, the chart to
// DIR/chart.svg (-out DIR, default $TMPDIR/flashcrowd-report, so a run
// leaves nothing in the checkout); stderr names both files at the end,
// after the progress bar. Its last line is a
// summary of key=value pairs. FLASHCROWD_DEBUG=1 adds a trace line each
// second and, if any, the first line jumps with both visitors' timelines.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/waitroom/waitroom/internal/rlimit"
)

func main() {
	var cfg Config
	flag.IntVar(&cfg.Visitors, "visitors", 20000, "virtual visitors in the crowd")
	flag.DurationVar(&cfg.Window, "window", 10e9, "all visitors arrive within this window")
	flag.StringVar(&cfg.Profile, "profile", "spike", "arrival profile: spike (evenly over the window) or ramp (arrivals per second growing linearly)")
	flag.IntVar(&cfg.Capacity, "capacity", 6000, "zone capacity: visitors inside at once")
	flag.Float64Var(&cfg.Rate, "rate", 1000, "zone admission rate, per second")
	flag.DurationVar(&cfg.Think, "think", 5e8, "mean time a visitor stays in checkout (uniform within ±50%)")
	flag.DurationVar(&cfg.Session, "session", 20e9, "access token lifetime: a slot not released leaks after it")
	flag.Float64Var(&cfg.ReleaseShare, "release", 0.97, "share of visitors who release their slot when done (the rest let it expire)")
	flag.StringVar(&cfg.Store, "store", "memory", "store: memory, redis://host:port/db, redis+cluster://h1:p,h2:p or dynamodb://TABLE?endpoint=http://127.0.0.1:8000")
	flag.IntVar(&cfg.Instances, "instances", 1, "waiting-room instances (proxies) over the store")
	flag.StringVar(&cfg.URL, "url", "", "drive the waiting room running at this base URL instead of starting one")
	flag.StringVar(&cfg.Zone, "zone", "checkout", "zone name")
	flag.StringVar(&cfg.Path, "path", "/checkout", "protected path")
	flag.StringVar(&cfg.Follow, "follow", "", "how waiting visitors follow the line: push (the page's event stream, over HTTP/2) or poll (the status endpoint, every Retry-After); default push, poll with -url")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of arrival and think times")
	flag.DurationVar(&cfg.Timeout, "timeout", 0, "stop the run then (default: window + 2×visitors/rate + 1m)")
	flag.DurationVar(&cfg.Stall, "stall", 45e9, "stop when nobody was let in for this long while visitors wait")
	flag.IntVar(&cfg.Conns, "conns", 0, "connections per instance the crowd opens at most, a third for first requests and polls, two thirds for the visitors let in; the proxy opens half as many to the origin (default capacity + 1024, at most 4000 over all instances)")
	flag.DurationVar(&cfg.Tick, "tick", 0, "the exchanger's period (default 100ms)")
	flag.IntVar(&cfg.ExchangeLimit, "exchange-limit", 0, "visitors one exchange step admits at most (default 1000)")
	flag.BoolVar(&cfg.Sim, "sim", false, "simulate: a virtual clock, in process, no sockets; -timeout and -stall are then virtual time")
	flag.DurationVar(&cfg.ClaimDelay, "claim-delay", 0, "with -sim: mean time from a visitor's turn to its claim (uniform within ±50%; default 100ms)")
	flag.DurationVar(&cfg.Quantum, "quantum", 0, "with -sim: the virtual clock's step; the calls due in one step go together (default 10ms)")
	flag.IntVar(&cfg.Workers, "workers", 0, "with -sim: visitors' calls in flight at once (default 256)")
	sweep := flag.Bool("sweep", false, "with -sim: run the sweep of capacities (10, 1000, 20000) and rates (1, 100, 5000 per second) on -store, with a crowd that stays 1-3 s and releases, and print its table")
	out := flag.String("out", filepath.Join(os.TempDir(), "flashcrowd-report"), "directory for report.txt and chart.svg (outside the source tree by default)")
	quiet := flag.Bool("quiet", false, "no progress bar")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	// The crowd and the room share the machine: trade memory for less
	// garbage collection.
	debug.SetGCPercent(400)
	rlimit.RaiseFiles()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	run := run
	if *sweep {
		run = runSweep
	}
	if err := run(cfg, *out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(cfg Config, out string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		return err
	}
	return writeOutputs(res, out, os.Stdout)
}

// writeOutputs writes the report (to stdout and out/report.txt) and the
// chart (out/chart.svg).
func writeOutputs(res *Result, out string, stdout *os.File) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	chartPath := filepath.Join(out, "chart.svg")
	cf, err := os.Create(chartPath)
	if err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	if err := res.WriteChart(cf); err != nil {
		cf.Close()
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	if err := cf.Close(); err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	rf, err := os.Create(filepath.Join(out, "report.txt"))
	if err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	if err := res.WriteReport(rf, chartPath); err != nil {
		rf.Close()
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	if err := rf.Close(); err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	if stdout != nil {
		if err := res.WriteReport(stdout, chartPath); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "flashcrowd: report in %s, chart in %s\n", filepath.Join(out, "report.txt"), chartPath)
	}
	return nil
}
