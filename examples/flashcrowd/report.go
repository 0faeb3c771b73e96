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
	p("flashcrowd: %d visitors, %s over %v, against %s", cfg.Visitors, cfg.Profile, cfg.Window, where)
	p("zone %q (%s): capacity %d, %g admissions/s, think %v (±50%%), session %v, %.0f%% release their slot",
		cfg.Zone, cfg.Path, cfg.Capacity, cfg.Rate, cfg.Think, cfg.Session, 100*cfg.ReleaseShare)
	p("")
	p("run        %s, ended: %s", secs(res.Duration), res.EndReason)
	p("visitors   %d arrived, %d let in (%d by direct entry), %d saw the sale closed, %d gave up after errors",
		res.Arrived, res.Admitted, res.Direct, res.Closed, res.Failed)
	p("           %d still waiting at the end, %d of them lost (the room had free slots; %s held at the end)",
		res.StillWaiting, res.Lost, unknownIfNegative(res.InsideAtEnd))
	p("requests   %d, of which %d status polls paced by Retry-After and %d event streams opened (%d reports pushed);",
		res.Requests, res.Polls, res.Streams, res.Frames)
	p("           %d re-queued by the status endpoint or the stream; %d errors", res.Requeued, res.Errors)
	for _, e := range res.ErrorSamples {
		p("           error: %s", e)
	}
	if res.StoreCalls >= 0 {
		p("store      %d calls, %.2f per visitor for its requests and page; in all: %s",
			res.StoreCalls, res.storeCallsPerVisitor(), res.StoreCallsByOp)
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
	p("           first answers p99 %s, max %s, of which waiting for one of the crowd's sockets p99 %s, max %s",
		secs(res.FirstP99), secs(res.FirstMax), secs(res.SocketWaitP99), secs(res.SocketWaitMax))
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
