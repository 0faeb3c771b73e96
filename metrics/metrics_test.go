package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/metrics"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// scrape returns the metric families m serves, and the text itself.
func scrape(t *testing.T, m *metrics.Metrics) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	text := rec.Body.Bytes()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err)
	return mfs, text
}

// value returns the value of the sample of family name whose labels are
// labels (name=value pairs), and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, mt := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range mt.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if got[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case mt.Gauge != nil:
			return mt.GetGauge().GetValue(), true
		case mt.Counter != nil:
			return mt.GetCounter().GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// After a scripted crowd on a fixed clock, the scrape tells what happened.
func TestScrapeAfterACrowd(t *testing.T) {
	ctx := context.Background()
	m := metrics.New()
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(memstore.New(), waitroom.WithObserver(m), waitroom.WithClock(clock.Now), waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 2, AdmitPerSecond: 100}))
	require.NoError(t, err)
	defer room.Close()
	m.Watch(room)

	var out []waitroom.Outcome
	for range 5 {
		o, err := room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
		out = append(out, o)
	}
	_, err = room.Release(ctx, "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	clock.Advance(time.Second)
	require.NoError(t, room.Step(ctx)) // lets one in, reads the feed
	require.NoError(t, room.Pause(ctx, "checkout"))
	m.CacheLookup(true)
	m.CacheLookup(true)
	m.CacheLookup(false)
	m.PushConnections("websocket", 3)
	m.PushConnections("websocket", -1)
	m.FailPolicy("checkout", waitroom.FailClosed)
	m.EntryRefused("checkout", "limit")

	mfs, text := scrape(t, m)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"waitroom_visitors_waiting", []string{"zone", "checkout"}, 2},
		{"waitroom_visitors_inside", []string{"zone", "checkout"}, 2},
		{"waitroom_zone_capacity", []string{"zone", "checkout"}, 2},
		{"waitroom_zone_paused", []string{"zone", "checkout"}, 1},
		{"waitroom_events_total", []string{"zone", "checkout", "kind", "entered"}, 2},
		{"waitroom_events_total", []string{"zone", "checkout", "kind", "released"}, 1},
		{"waitroom_events_total", []string{"zone", "checkout", "kind", "admitted"}, 1},
		{"waitroom_edge_cache_lookups_total", []string{"result", "hit"}, 2},
		{"waitroom_edge_cache_lookups_total", []string{"result", "miss"}, 1},
		{"waitroom_push_connections", []string{"channel", "websocket"}, 2},
		{"waitroom_fail_policy_total", []string{"zone", "checkout", "policy", "fail-closed"}, 1},
		{"waitroom_entry_refusals_total", []string{"zone", "checkout", "reason", "limit"}, 1},
	} {
		got, ok := value(mfs, c.name, c.labels...)
		require.True(t, ok, "%s%v is scraped", c.name, c.labels)
		assert.Equal(t, c.want, got, "%s%v", c.name, c.labels)
	}
	calls, ok := value(mfs, "waitroom_store_operation_duration_seconds", "op", "Exchange")
	require.True(t, ok)
	assert.Equal(t, 1.0, calls, "one Exchange, timed")
	_, ok = value(mfs, "waitroom_store_operation_duration_seconds", "op", "Batch")
	assert.True(t, ok, "the newcomers' calls went in batches, timed")

	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "metric names and help follow Prometheus conventions")
}

// A failing store call is counted as an error of its operation; a
// sentinel of the contract is not.
func TestStoreErrors(t *testing.T) {
	m := metrics.New()
	m.StoreCall("Register", time.Millisecond, errors.Join(waitroom.ErrStoreUnavailable, io.EOF))
	m.StoreCall("Position", time.Millisecond, waitroom.ErrNotQueued)
	mfs, _ := scrape(t, m)
	n, ok := value(mfs, "waitroom_store_errors_total", "op", "Register")
	require.True(t, ok)
	assert.Equal(t, 1.0, n)
	_, ok = value(mfs, "waitroom_store_errors_total", "op", "Position")
	assert.False(t, ok, "not queued is an answer, not a failure")
}

// Zones past the limit share one label.
func TestZoneLabelsAreBounded(t *testing.T) {
	m := metrics.New(metrics.WithMaxZones(2))
	for _, z := range []string{"a", "b", "c", "d"} {
		m.Event(waitroom.Event{Zone: z, Kind: waitroom.EventAdmitted})
	}
	mfs, _ := scrape(t, m)
	assert.Len(t, mfs["waitroom_events_total"].GetMetric(), 3, "a, b and other")
	other, ok := value(mfs, "waitroom_events_total", "zone", "other")
	require.True(t, ok)
	assert.Equal(t, 2.0, other)
}

// Metrics is the middleware's Observer too: a proxy with a cached access
// token counts a miss, then hits.
func TestMiddlewareObserver(t *testing.T) {
	m := metrics.New()
	room, err := waitroom.New(memstore.New(), waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1}))
	require.NoError(t, err)
	defer room.Close()
	h := middleware.Wrap(room, http.NotFoundHandler(), middleware.WithObserver(m))
	defer h.Close()
	first := httptest.NewRecorder()
	h.ServeHTTP(first, httptest.NewRequest("GET", "/checkout", nil))
	var cookie string
	for _, c := range first.Result().Cookies() {
		if strings.HasPrefix(c.Name, "wr_a_") {
			cookie = c.Name + "=" + c.Value
		}
	}
	require.NotEmpty(t, cookie, "the first visitor is let in")
	for range 3 {
		req := httptest.NewRequest("GET", "/checkout", nil)
		req.Header.Set("Cookie", cookie)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	mfs, _ := scrape(t, m)
	hits, _ := value(mfs, "waitroom_edge_cache_lookups_total", "result", "hit")
	assert.Equal(t, 3.0, hits, "the token is verified once and then found in the cache")

	// A newcomer past its entry limit is counted.
	limited := middleware.Wrap(room, http.NotFoundHandler(), middleware.WithObserver(m), middleware.WithEntryLimit(1, 1))
	defer limited.Close()
	for range 3 {
		limited.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/checkout", nil))
	}
	mfs, _ = scrape(t, m)
	refused, _ := value(mfs, "waitroom_entry_refusals_total", "zone", "checkout", "reason", "limit")
	assert.Equal(t, 2.0, refused, "a burst of 1, then refused")
}
