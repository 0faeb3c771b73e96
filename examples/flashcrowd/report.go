package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// maxInside returns the most slots held at once in the samples (-1:
// unknown).
func (res *Result) maxInside() int {
	m := -1
	for _, s := range res.Samples {
		m = max(m, s.Inside)
	}
	if res.Sim != nil {
		m = max(m, res.MaxInsideFeed)
	}
	return m
}

// SummaryLine is the report's last line: key=value pairs separated by
// spaces, for scripts and for BENCHMARKS.md.
func (res *Result) SummaryLine() string {
	cfg := res.Config
	store := cfg.Store
	if cfg.URL != "" {
		store = "url"
	}
	pairs := []struct {
		k string
		v any
	}{
		{"visitors", cfg.Visitors},
		{"admitted", res.Admitted},
		{"errors", res.Errors},
		{"lost", res.Lost},
		{"inversions", res.Order.Inversions},
		{"kendall_tau", fmt.Sprintf("%.6f", res.Order.KendallTau)},
		{"line_jumps", res.LineJumps},
		{"max_origin_concurrency", res.MaxOriginConcurrency},
		{"max_inside", res.maxInside()},
		{"capacity", cfg.Capacity},
		{"admit_rate_target", fmt.Sprintf("%g", cfg.Rate)},
		{"admit_rate_measured", fmt.Sprintf("%.2f", res.AdmitRateMeasured)},
		{"admit_rate_error_pct", fmt.Sprintf("%.2f", res.AdmitRateErrorPct)},
		{"admit_rate_raw", fmt.Sprintf("%.2f", res.AdmitRateRaw)},
		{"stalled_s", fmt.Sprintf("%.2f", res.Stalled.Seconds())},
		{"wait_p50_s", fmt.Sprintf("%.2f", res.WaitP50.Seconds())},
		{"wait_p99_s", fmt.Sprintf("%.2f", res.WaitP99.Seconds())},
		{"first_p99_s", fmt.Sprintf("%.2f", res.FirstP99.Seconds())},
		{"socket_wait_p99_s", fmt.Sprintf("%.2f", res.SocketWaitP99.Seconds())},
		{"still_waiting", res.StillWaiting},
		{"direct", res.Direct},
		{"store_calls_per_visitor", fmt.Sprintf("%.2f", res.storeCallsPerVisitor())},
		{"follow", cfg.Follow},
		{"polls", res.Polls},
		{"streams", res.Streams},
		{"window_s", fmt.Sprintf("%g", cfg.Window.Seconds())},
		{"duration_s", fmt.Sprintf("%.1f", res.Duration.Seconds())},
		{"end", res.EndReason},
		{"store", storeLabel(store)},
		{"instances", cfg.Instances},
	}
	if f := res.Sim; f != nil {
		pairs = append(pairs, []struct {
			k string
			v any
		}{
			{"sim", true},
			{"claim_delay_s", fmt.Sprintf("%g", cfg.ClaimDelay.Seconds())},
			{"store_calls_overall_per_visitor", fmt.Sprintf("%.2f", res.perVisitor(res.StoreCalls))},
			{"store_ops_per_visitor", fmt.Sprintf("%.2f", res.perVisitor(f.StoreOperations))},
			{"peak_waiting", f.PeakWaiting},
			{"heap_per_waiting_b", fmt.Sprintf("%.1f", f.HeapPerWaiting)},
			{"redis_memory_per_waiting_b", fmt.Sprintf("%.1f", f.RedisMemoryPerWaiting)},
			{"redis_cpu_per_visitor_us", fmt.Sprintf("%.1f", f.RedisCPUPerVisitor)},
			{"dynamo_rcu_per_visitor", fmt.Sprintf("%.2f", f.DynamoReadPerVisitor)},
			{"dynamo_wcu_per_visitor", fmt.Sprintf("%.2f", f.DynamoWritePerVisitor)},
			{"binds", f.Binds},
			{"goal_per_s", fmt.Sprintf("%.2f", f.Goal)},
			{"steady_s", f.SteadySecs},
			{"goal_error_pct", fmt.Sprintf("%.2f", f.GoalError)},
			{"worst_window_s", f.WindowSecs},
			{"worst_window_error_pct", fmt.Sprintf("%.2f", f.WorstError)},
			{"mean_hold_s", fmt.Sprintf("%.3f", f.MeanHold.Seconds())},
			{"fill_pct", fmt.Sprintf("%.1f", 100*f.Fill)},
			{"abandoned", f.Abandoned},
			{"wall_s", fmt.Sprintf("%.1f", f.WallDuration.Seconds())},
		}...)
	}
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%v", p.k, p.v)
	}
	return b.String()
}

// storeLabel names the store without credentials or addresses.
func storeLabel(s string) string {
	scheme, _, _ := strings.Cut(s, "://")
	return scheme
}

// WriteReport writes the human-readable report, ending with the summary
// line. chartPath, if not empty, is mentioned as the chart's file.
func (res *Result) WriteReport(w io.Writer, chartPath string) error {
	cfg := res.Config
	secs := func(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	where := fmt.Sprintf("%d waiting-room instance(s) over the %s store, in process", cfg.Instances, storeLabel(cfg.Store))
	if cfg.URL != "" {
		where = "the waiting room at " + cfg.URL
	}
	if res.Sim != nil {
		where += ", on a virtual clock (no sockets)"
	}
	p("flashcrowd: %d visitors, %s over %v, against %s", cfg.Visitors, cfg.Profile, cfg.Window, where)
	p("zone %q (%s): capacity %d, %g admissions/s, think %v (±50%%), session %v, %.0f%% release their slot",
		cfg.Zone, cfg.Path, cfg.Capacity, cfg.Rate, cfg.Think, cfg.Session, 100*cfg.ReleaseShare)
	if res.Sim != nil {
		p("visitors claim %v (±50%%) after their turn; calls in steps of %v, %d at once; exchange every %v, at most %d a step",
			cfg.ClaimDelay, cfg.Quantum, cfg.Workers, cfg.Tick, cfg.ExchangeLimit)
	}
	p("")
	p("run        %s, ended: %s", secs(res.Duration), res.EndReason)
	if res.Sim != nil {
		p("           virtual time; %s on the machine's clock", secs(res.Sim.WallDuration))
	}
	p("visitors   %d arrived, %d let in (%d by direct entry), %d saw the sale closed, %d gave up after errors",
		res.Arrived, res.Admitted, res.Direct, res.Closed, res.Failed)
	p("           %d still waiting at the end, %d of them lost (the room had free slots; %s held at the end)",
		res.StillWaiting, res.Lost, unknownIfNegative(res.InsideAtEnd))
	if res.Sim != nil {
		p("calls      %d on the Room (visits, heartbeats, claims, releases); %d queued again (claim window passed); %d errors",
			res.Requests, res.Requeued, res.Errors)
	} else {
		p("requests   %d, of which %d status polls paced by Retry-After and %d event streams opened (%d reports pushed);",
			res.Requests, res.Polls, res.Streams, res.Frames)
		p("           %d re-queued by the status endpoint or the stream; %d errors", res.Requeued, res.Errors)
	}
	for _, e := range res.ErrorSamples {
		p("           error: %s", e)
	}
	if res.StoreCalls >= 0 {
		p("store      %d calls, %.2f per visitor for its requests and page; in all: %s",
			res.StoreCalls, res.storeCallsPerVisitor(), res.StoreCallsByOp)
	}
	if f := res.Sim; f != nil {
		p("           overall %.2f calls per visitor (a batch one call), %.2f operations (each call in a batch one)",
			res.perVisitor(res.StoreCalls), res.perVisitor(f.StoreOperations))
		if f.PeakWaiting > 0 {
			p("memory     %d in line once all had arrived (%s);%s%s", f.PeakWaiting, secs(f.PeakAt),
				optional(f.HeapPerWaiting, " heap %.1f B per place in line"), optional(f.RedisMemoryPerWaiting, " Redis used_memory %.1f B per place in line"))
		}
		if f.RedisCPUPerVisitor >= 0 {
			p("server     Redis CPU %.1f µs per visitor (used_cpu_sys + used_cpu_user)", f.RedisCPUPerVisitor)
		}
		if f.DynamoReadPerVisitor >= 0 {
			p("server     DynamoDB %.2f read and %.2f write units per visitor", f.DynamoReadPerVisitor, f.DynamoWritePerVisitor)
		}
	}
	p("")
	p("fairness   %d inversions, Kendall tau %.6f (%s)", res.Order.Inversions, res.Order.KendallTau, res.OrderSource)
	if cfg.URL != "" {
		p("           (URL mode: a visitor is let in when it sees its turn, at its next poll: order and rate carry")
		p("           the polls' Retry-After granularity; -capacity and -rate must be the room's own settings)")
	}
	p("           %d line jumps: pairs where one had its answer before the other asked, yet went in second", res.LineJumps)
	if res.Readmitted > 0 || res.Unmatched > 0 || res.FeedResyncs > 0 {
		p("           %d let in twice (claim window passed), %d in the origin with no admission in the feed, %d feed resyncs",
			res.Readmitted, res.Unmatched, res.FeedResyncs)
	}
	p("smoothing  admissions %.2f/s measured over %s with visitors in line, target %g/s: error %+.2f%%",
		res.AdmitRateMeasured, secs(res.BusySpan), cfg.Rate, res.AdmitRateErrorPct)
	if res.Stalled > 0 {
		p("           the process did not run on time for %s in all (a busy machine), left out with the bursts", secs(res.Stalled))
		p("           after them; counting it, %.2f/s", res.AdmitRateRaw)
	}
	if f := res.Sim; f != nil {
		p("           %d steady seconds (a line at every tick of the second and of its neighbours): %.2f/s", f.SteadySecs, f.SteadyRate)
		p("           a slot held %.3fs on average: the capacity allows %.2f/s (capacity/session %.2f/s); %s binds,",
			f.MeanHold.Seconds(), f.SlotBound, float64(cfg.Capacity)/cfg.Session.Seconds(), f.Binds)
		p("           goal %.2f/s: error %+.2f%%; windows of %ds from %.2f/s to %.2f/s (worst %+.2f%%)",
			f.Goal, f.GoalError, f.WindowSecs, f.WorstLow, f.WorstHigh, f.WorstError)
		p("           the bucket %.1f%% full after the steps of the steady part", 100*f.Fill)
		if f.Abandoned > 0 || f.Requeued > 0 {
			p("           %d skipped as abandoned, %d queued again (claim window passed)", f.Abandoned, f.Requeued)
		}
	}
	p("           busiest second: %d admissions (the room allows %g: the rate plus its burst)", res.MaxAdmitted1s, res.RateBound1s)
	p("safety     the origin served at most %s requests at once, %s visitors held slots at once; capacity %d",
		unknownIfNegative(res.MaxOriginConcurrency), unknownIfNegative(res.maxInside()), cfg.Capacity)
	if cfg.Conns/2 <= cfg.Capacity && res.MaxOriginConcurrency >= cfg.Conns/2*cfg.Instances {
		p("           (the proxy's %d connections per instance to the origin may have capped the origin's concurrency)", cfg.Conns/2)
	}
	if res.OriginVisitors >= 0 {
		p("           %d distinct visitors reached the origin", res.OriginVisitors)
	}
	p("waits      p50 %s, p90 %s, p99 %s, max %s (first request to the request let in)",
		secs(res.WaitP50), secs(res.WaitP90), secs(res.WaitP99), secs(res.WaitMax))
	if res.Sim == nil {
		p("           first answers p99 %s, max %s, of which waiting for one of the crowd's sockets p99 %s, max %s",
			secs(res.FirstP99), secs(res.FirstMax), secs(res.SocketWaitP99), secs(res.SocketWaitMax))
	}
	if res.Warnings > 0 {
		p("warnings   %d logged by the room, middleware or proxy; first:", res.Warnings)
		for _, w := range res.FirstWarnings {
			p("           %s", strings.TrimSpace(w))
		}
	}
	if chartPath != "" {
		p("chart      %s", chartPath)
	}
	p("")
	b.WriteString(res.SummaryLine())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// optional formats v, or nothing when it is negative (not measured).
func optional(v float64, format string) string {
	if v < 0 {
		return ""
	}
	return fmt.Sprintf(format, v)
}

// perVisitor is n over the visitors who arrived; -1 when unknown.
func (res *Result) perVisitor(n int64) float64 {
	if n < 0 || res.Arrived == 0 {
		return -1
	}
	return float64(n) / float64(res.Arrived)
}

func unknownIfNegative(n int) string {
	if n < 0 {
		return "?"
	}
	return fmt.Sprint(n)
}

// storeCallsPerVisitor is the store calls made for visitors' requests and
// pages over the visitors who arrived; -1 when unknown.
func (res *Result) storeCallsPerVisitor() float64 {
	if res.StoreCalls < 0 || res.Arrived == 0 {
		return -1
	}
	return float64(res.VisitorStoreCalls) / float64(res.Arrived)
}
