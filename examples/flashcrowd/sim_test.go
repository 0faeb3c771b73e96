package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smallRun is the crowd of the test suite: 2,000 visitors within 10 s
// against a room that lets in 100 per second. They arrive twice as fast as
// they are let in, so a line forms at once and lasts until about 20 s: a
// rate-limited phase long enough for the ±5% on the rate to mean
// something. The flow stays modest (a few hundred requests per second),
// because the test runs under -race on a shared 2-core machine, where an
// overloaded simulator would measure itself rather than the room. The
// capacity leaves room for slow claims (an admitted visitor holds its slot
// until its next poll, up to seconds when the machine is busy), so that
// the rate, not the capacity, is what limits; the session outlasts a
// visitor's slowest way from its claim to the origin. Requests in the
// origin are then capped by the crowd's 64 connections, not by the room:
// max_inside, read from the store, is the test of the capacity.
func smallRun() Config {
	return Config{
		Visitors: 2000, Window: 10 * time.Second, Capacity: 1500, Rate: 100,
		Think: 100 * time.Millisecond, Session: 10 * time.Second, ReleaseShare: 0.9,
		// Few connections at once keep the scheduler's queues short under
		// -race, so that the exchanger runs on time.
		Conns: 64, Timeout: 2 * time.Minute,
	}
}

func TestFlashCrowdMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("a load simulation: skipped with -short")
	}
	res := runHeld(t, smallRun())
	assert.GreaterOrEqual(t, res.BusySpan, 5*time.Second, "the rate-limited phase must be long enough to measure")
	assert.InDelta(t, 0, res.AdmitRateErrorPct, 5, "measured %.1f/s for 100/s", res.AdmitRateMeasured)
	assert.LessOrEqual(t, float64(res.MaxAdmitted1s), res.RateBound1s)
	assert.Equal(t, followPush, res.Config.Follow)
	assert.Zero(t, res.Polls, "waiting visitors follow their event streams")
	assert.GreaterOrEqual(t, res.Streams, 2000-res.Direct, "every visitor told to wait opened its stream")
	assert.Greater(t, res.Frames, res.Streams, "reports pushed: a first one on each stream, then the line's moves and the turn")
	assert.Less(t, res.Frames, 2000*40, "reports paced, not a storm")
	// What a visitor costs the store: registering, its stream's first read,
	// its claim and its release. A direct-entry attempt per newcomer, or a
	// read before each claim, would show here.
	assert.Positive(t, res.StoreCalls)
	assert.Less(t, res.storeCallsPerVisitor(), 4.5, "store calls per visitor: %s", res.StoreCallsByOp)
	assert.Contains(t, res.SummaryLine(), " store_calls_per_visitor=")

	// The report and the chart.
	dir := t.TempDir()
	require.NoError(t, writeOutputs(res, dir, nil))
	report, err := os.ReadFile(filepath.Join(dir, "report.txt"))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(report)), "\n")
	last := lines[len(lines)-1]
	assert.Equal(t, res.SummaryLine(), last, "the report ends with the summary line")
	for _, k := range []string{"visitors=2000 ", "admitted=2000 ", "errors=0 ", "lost=0 ", "inversions=0 ",
		"kendall_tau=1.000000 ", "max_origin_concurrency=", "capacity=1500 ", "admit_rate_target=100 ",
		"admit_rate_measured=", "admit_rate_error_pct=", "wait_p50_s=", "wait_p99_s="} {
		assert.Contains(t, last, k)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "chart.svg"))
	require.NoError(t, err)
	assertWellFormedSVG(t, svg)
	for _, name := range []string{"arrivals/s", "admissions/s", "in line", "slots held", "in the origin"} {
		assert.Contains(t, string(svg), name)
	}
}

// TestFlashCrowdPolling runs a crowd whose pages poll the status endpoint,
// as pages do where no push channel gets through: the same order and
// safety, and polls paced by Retry-After.
func TestFlashCrowdPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("a load simulation: skipped with -short")
	}
	cfg := smallRun()
	cfg.Visitors, cfg.Window, cfg.Follow = 500, 2*time.Second, followPoll
	res := runHeld(t, cfg)
	assert.Zero(t, res.Streams)
	assert.Greater(t, res.Polls, 0, "waiting visitors polled the status endpoint")
	assert.Less(t, res.Polls, 500*10, "polls paced by Retry-After, not a storm")
	assert.Contains(t, res.SummaryLine(), " follow=poll ")
}

// runHeld runs cfg and checks the promises every run must keep: everyone
// let in, in order, nobody lost, no errors, the origin within capacity.
func runHeld(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	t.Log(res.SummaryLine())
	assert.Equal(t, "done", res.EndReason)
	assert.Equal(t, cfg.Visitors, res.Admitted)
	assert.Zero(t, res.Errors, "errors: %v", res.ErrorSamples)
	assert.Zero(t, res.Lost)
	assert.Zero(t, res.StillWaiting)
	assert.Zero(t, res.Order.Inversions)
	assert.Equal(t, 1.0, res.Order.KendallTau)
	assert.Zero(t, res.LineJumps)
	assert.Zero(t, res.Unmatched)
	assert.Equal(t, cfg.Visitors, res.OriginVisitors, "every visitor reached the origin once it was let in")
	assert.Greater(t, res.MaxOriginConcurrency, 0)
	assert.LessOrEqual(t, res.MaxOriginConcurrency, cfg.Capacity)
	assert.LessOrEqual(t, res.maxInside(), cfg.Capacity)
	return res
}

func assertWellFormedSVG(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	var root string
	for {
		tok, err := d.Token()
		if err != nil {
			require.ErrorContains(t, err, "EOF")
			break
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	assert.Equal(t, "svg", root)
}

func TestConfigRefusesBadSettings(t *testing.T) {
	for name, cfg := range map[string]Config{
		"visitors": {Visitors: -1},
		"window":   {Window: -time.Second},
		"profile":  {Profile: "flat"},
		"capacity": {Capacity: -1},
		"rate":     {Rate: -1},
		"think":    {Think: -time.Second},
		"conns":    {Conns: 2},
		"follow":   {Follow: "websocket"},
		"url":      {URL: "ftp://example.com"},
	} {
		_, err := cfg.withDefaults()
		assert.ErrorContains(t, err, "waitroom: flashcrowd: ", name)
		assert.ErrorContains(t, err, name, name)
	}
	cfg, err := Config{URL: "http://127.0.0.1:8080"}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, followPoll, cfg.Follow, "a room by URL may not speak HTTP/2 without TLS")
	cfg, err = Config{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, followPush, cfg.Follow)
}

func TestReadEvents(t *testing.T) {
	c := &client{counters: &counters{}}
	v := &virtualVisitor{}
	stream := "retry: 1500\n\n" +
		"data: {\"state\":\"waiting\",\"zone\":\"checkout\",\"position\":3}\n\n" +
		": a comment\n\n" +
		"data: {\"state\":\"unavailable\",\"zone\":\"checkout\"}\n\n" +
		"data: {\"state\":\"admitted\",\"zone\":\"checkout\",\"claim_url\":\"/.waitroom/claim\"}\n\n" +
		"data: {\"state\":\"waiting\"}\n\n"
	rep, retry, err := c.readEvents(strings.NewReader(stream), v, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "admitted", rep.State, "it stops at the turn")
	assert.Equal(t, 1500*time.Millisecond, retry, "the server's retry")
	assert.Equal(t, 3, v.frames)
	assert.Equal(t, 1, v.errors, "the outage report counts as an error")

	// The stream's end (its lifetime): the last report, no error.
	rep, retry, err = c.readEvents(strings.NewReader("data: {\"state\":\"waiting\",\"position\":2}\n\n"), v, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "waiting", rep.State)
	assert.Equal(t, time.Second, retry)

	_, _, err = c.readEvents(strings.NewReader("data: {\"state\":\n\n"), v, time.Second)
	assert.Error(t, err, "a malformed report")
}
