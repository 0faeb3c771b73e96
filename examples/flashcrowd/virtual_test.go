package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// simSmall is the simulation of the test suite: the live run's defaults
// (capacity 6000, 1000 admissions per second) with 20,000 visitors
// arriving within 10 s, twice as fast as they are let in, so that a line
// lasts some 20 s of virtual time. It costs about 80,000 calls on the
// Room and no sleep.
func simSmall() Config {
	return Config{Sim: true, Visitors: 20000, Window: 10 * time.Second}
}

func TestSimMemory(t *testing.T) {
	res := runSimHeld(t, simSmall())
	f := res.Sim
	assert.Equal(t, "rate", f.Binds, "6000 slots hold a second's worth of visitors many times over")
	assert.GreaterOrEqual(t, f.SteadySecs, 15, "the line lasts long enough to measure")
	assert.Positive(t, res.Direct, "the first visitors of the spike go straight in")
	assert.Less(t, res.perVisitor(res.StoreCalls), 4.0, "store calls per visitor, overall: %s", res.StoreCallsByOp)
	assert.Positive(t, f.PeakWaiting)
	assert.Positive(t, f.HeapPerWaiting, "the heap's growth over the line is measured on the memory store")
	assert.Equal(t, -1.0, f.RedisCPUPerVisitor, "no Redis")

	// The report and the chart, as a live run writes them.
	dir := t.TempDir()
	require.NoError(t, writeOutputs(res, dir, nil))
	report, err := os.ReadFile(filepath.Join(dir, "report.txt"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(report)), "\n")
	last := lines[len(lines)-1]
	assert.Equal(t, res.SummaryLine(), last, "the report ends with the summary line")
	for _, k := range []string{"visitors=20000 ", "admitted=20000 ", "errors=0 ", "inversions=0 ", "sim=true ",
		"capacity=6000 ", "binds=rate ", "goal_error_pct=0.00 ", "store_calls_overall_per_visitor=", "heap_per_waiting_b="} {
		assert.Contains(t, last, k)
	}
	assert.Contains(t, string(report), "on a virtual clock")
	svg, err := os.ReadFile(filepath.Join(dir, "chart.svg"))
	require.NoError(t, err)
	assertWellFormedSVG(t, svg)
	for _, name := range []string{"arrivals/s", "admissions/s", "in line", "slots held", "in the origin", "virtual clock"} {
		assert.Contains(t, string(svg), name)
	}
}

// TestSimProgress checks that a simulation shows its progress as it
// runs, with the virtual time and the machine's.
func TestSimProgress(t *testing.T) {
	var out strings.Builder
	cfg := simSmall()
	cfg.Visitors, cfg.Window, cfg.Progress = 4000, time.Second, &out
	runSimHeld(t, cfg)
	assert.Contains(t, out.String(), "arrived 4000/4000")
	assert.Contains(t, out.String(), "s virtual, ")
	assert.True(t, strings.HasSuffix(out.String(), "\n"), "the bar ends its line")
}

// runSimHeld runs a simulation and checks the promises every run must
// keep: everyone let in exactly once, in queue order, no errors, the
// bucket and the origin within capacity, admissions within the rate, and
// the steady part's outflow within ±5% of its goal (the rate, or what the
// capacity allows).
func runSimHeld(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := RunSim(context.Background(), cfg)
	require.NoError(t, err)
	t.Log(res.SummaryLine())
	f := res.Sim
	require.NotNil(t, f)
	assert.Equal(t, "done", res.EndReason)
	assert.Equal(t, res.Config.Visitors, res.Admitted)
	assert.Equal(t, res.Config.Visitors, res.OriginVisitors, "every visitor let in came in")
	assert.Zero(t, res.Errors, "errors: %v", res.ErrorSamples)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.StillWaiting)
	assert.Zero(t, f.Abandoned, "the pages' heartbeats keep every place")
	assert.Zero(t, f.Requeued, "every claim within its window")
	assert.Zero(t, res.Order.Inversions, "admission order is queue order")
	assert.Equal(t, 1.0, res.Order.KendallTau)
	assert.Positive(t, res.MaxOriginConcurrency)
	assert.LessOrEqual(t, res.MaxOriginConcurrency, res.Config.Capacity, "the origin within capacity")
	assert.LessOrEqual(t, res.maxInside(), res.Config.Capacity, "the bucket within capacity")
	assert.LessOrEqual(t, float64(res.MaxAdmitted1s), res.RateBound1s, "no second beyond the rate and its burst")
	assert.Positive(t, f.SteadySecs)
	assert.InDelta(t, 0, f.GoalError, 5, "steady outflow %.2f/s, goal %.2f/s (%s binds)", f.SteadyRate, f.Goal, f.Binds)
	if f.Binds == "rate" {
		assert.InDelta(t, 0, f.WorstError, 5, "every window of %ds within ±5%%: %.2f-%.2f/s", f.WindowSecs, f.WorstLow, f.WorstHigh)
	} else {
		assert.Greater(t, f.Fill, 0.99, "the bucket stays full while visitors wait")
	}
	return res
}

// TestSimExchangeLimit pins the exchanger's repeated steps: a tick whose
// share of the rate is more than the exchange limit (2,000 per second is
// 200 a tick, the limit 50) is still let in at the rate, in queue order.
// With one step per tick the outflow was 500 per second, -75%.
func TestSimExchangeLimit(t *testing.T) {
	cfg := simSmall()
	cfg.Visitors, cfg.Window, cfg.Capacity, cfg.Rate, cfg.ExchangeLimit = 16000, 2*time.Second, 20000, 2000, 50
	res := runSimHeld(t, cfg)
	assert.Equal(t, "rate", res.Sim.Binds)
	assert.GreaterOrEqual(t, res.Sim.SteadySecs, 4)
	assert.InDelta(t, 2000, res.Sim.SteadyRate, 1)
}

// TestSimShortSteps pins the exchanger's repeated steps over a store that
// makes fewer admissions in one step than the tick's share, as DynamoDB
// does (one transaction: some 33 admissions): 2,000 per second is 200 a
// tick, and the store here makes 33 at most. With one step per tick the
// outflow was 330 per second, -83.5%.
func TestSimShortSteps(t *testing.T) {
	cfg := simSmall()
	cfg.Visitors, cfg.Window, cfg.Capacity, cfg.Rate = 16000, 2*time.Second, 20000, 2000
	cfg.wrapStore = func(s waitroom.Store) waitroom.Store { return shortSteps{s.(waitroom.BatchStore), 33} }
	res := runSimHeld(t, cfg)
	assert.GreaterOrEqual(t, res.Sim.SteadySecs, 4)
	assert.InDelta(t, 2000, res.Sim.SteadyRate, 1)
}

// shortSteps is a store whose exchange steps let in at most max visitors.
type shortSteps struct {
	waitroom.BatchStore
	max int
}

func (s shortSteps) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	return s.BatchStore.Exchange(ctx, zone, now, min(limit, s.max))
}

// TestSimSweepPoints runs a few points of the sweep (-sweep), smaller:
// where the rate binds, the outflow is the rate, every second; where the
// capacity binds (every visitor stays 1-3 s, so capacity/hold is below
// the rate), it is what the capacity allows, with the bucket full after
// every step while visitors wait.
func TestSimSweepPoints(t *testing.T) {
	for _, p := range []struct {
		capacity int
		rate     float64
		visitors int
		think    time.Duration
		binds    string
	}{
		{capacity: 20000, rate: 5000, visitors: 40000, binds: "rate"},
		{capacity: 1000, rate: 100, visitors: 2500, binds: "rate"},
		{capacity: 1000, rate: 5000, visitors: 8000, think: 2 * time.Second, binds: "capacity"},
		{capacity: 10, rate: 100, visitors: 150, think: 2 * time.Second, binds: "capacity"},
	} {
		cfg := simSmall()
		cfg.Visitors, cfg.Window, cfg.Capacity, cfg.Rate = p.visitors, 2*time.Second, p.capacity, p.rate
		if p.think > 0 {
			cfg.Think, cfg.ReleaseShare = p.think, 1
		}
		res := runSimHeld(t, cfg)
		assert.Equal(t, p.binds, res.Sim.Binds, "capacity %d, rate %g", p.capacity, p.rate)
		assert.GreaterOrEqual(t, res.Sim.SteadySecs, 4, "capacity %d, rate %g", p.capacity, p.rate)
	}
}
