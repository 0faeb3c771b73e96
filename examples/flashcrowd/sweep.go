package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// This file holds the sweep (-sim -sweep): the simulated sale at each
// capacity and rate of a grid, to show that the outflow keeps to the rate,
// or, where the capacity cannot hold the rate, to what the capacity
// allows, at every setting.

// The sweep's grid.
var (
	sweepCapacities = []int{10, 1000, 20000}
	sweepRates      = []float64{1, 100, 5000}
)

// sweepSteady is how long a sweep point's line lasts, at the outflow it
// expects: long enough for windows of 20 admissions at the slowest point.
const sweepSteady = 40 * time.Second

// The sweep's crowd: every visitor stays 1-3 s (uniform) and releases its
// slot, so that a slot's hold, and with it what the capacity allows
// (capacity / mean hold), is known to within a percent from a few hundred
// visitors. A crowd whose few visitors keep their slots for the whole
// session would make the capacity's bound a matter of how many of them
// the line happens to hold.
const (
	sweepThink   = 2 * time.Second
	sweepRelease = 1.0
)

// sweepPoint is the sale of one sweep point: base's store, claim delay,
// tick and exchange limit, the sweep's crowd, at capacity and rate, with
// visitors who arrive within 10 s and keep a line for about sweepSteady at
// the outflow expected (the rate, or what the capacity allows).
func sweepPoint(base Config, capacity int, rate float64) Config {
	c := base
	c.Sim, c.Capacity, c.Rate, c.Window = true, capacity, rate, 10*time.Second
	c.Think, c.ReleaseShare = sweepThink, sweepRelease
	c.Visitors, c.Timeout, c.Progress = 0, 0, nil
	d, err := c.withDefaults()
	if err != nil {
		return c // Run reports it
	}
	expected := min(rate, d.slotBound(d.expectedHold()))
	c.Visitors = max(60, int(math.Ceil(expected*sweepSteady.Seconds())))
	return c
}

// runSweep runs the sweep on cfg's store and settings and prints its
// table; out gets the table (sweep.txt) and each point's chart.
func runSweep(cfg Config, out string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	var results []*Result
	for _, capacity := range sweepCapacities {
		for _, rate := range sweepRates {
			pc := sweepPoint(cfg, capacity, rate)
			fmt.Fprintf(os.Stderr, "flashcrowd: sweep: capacity %d, rate %g/s, %d visitors ...", capacity, rate, pc.Visitors)
			res, err := RunSim(ctx, pc)
			if err != nil {
				fmt.Fprintln(os.Stderr)
				return err
			}
			fmt.Fprintf(os.Stderr, " %.1fs\n", res.Sim.WallDuration.Seconds())
			results = append(results, res)
			f, err := os.Create(filepath.Join(out, fmt.Sprintf("sweep-c%d-r%g.svg", capacity, rate)))
			if err != nil {
				return fmt.Errorf("waitroom: flashcrowd: %w", err)
			}
			err = res.WriteChart(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("waitroom: flashcrowd: %w", err)
			}
		}
	}
	var b strings.Builder
	writeSweep(&b, results)
	path := filepath.Join(out, "sweep.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("waitroom: flashcrowd: %w", err)
	}
	io.WriteString(os.Stdout, b.String())
	fmt.Fprintf(os.Stderr, "flashcrowd: sweep table in %s\n", path)
	return nil
}

// writeSweep writes the sweep's table (Markdown) and each point's summary
// line.
func writeSweep(w io.Writer, results []*Result) {
	if len(results) == 0 {
		return
	}
	c := results[0].Config
	fmt.Fprintf(w, "sweep on the %s store: think %v (±50%%), session %v, %.0f%% release, claim %v after the turn, tick %v, exchange limit %d\n\n",
		storeLabel(c.Store), c.Think, c.Session, 100*c.ReleaseShare, c.ClaimDelay, c.Tick, c.ExchangeLimit)
	fmt.Fprintln(w, "| capacity | rate/s | visitors | capacity/hold | binds | goal/s | steady/s | error | worst window | bucket full | max inside | max in origin | inversions | calls/visitor |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		f, c := r.Sim, r.Config
		fmt.Fprintf(w, "| %d | %g | %d | %.2f | %s | %.2f | %.2f | %+.2f%% | %+.2f%% (%ds) | %.1f%% | %d | %d | %d | %.2f |\n",
			c.Capacity, c.Rate, c.Visitors, f.SlotBound, f.Binds, f.Goal,
			f.SteadyRate, f.GoalError, f.WorstError, f.WindowSecs, 100*f.Fill, r.maxInside(), r.MaxOriginConcurrency,
			r.Order.Inversions, r.perVisitor(r.StoreCalls))
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintln(w, r.SummaryLine())
	}
}
