package bench

import (
	"flag"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	workers = flag.Int("workers", 32, "concurrent load clients in the benchmarks")
	rounds  = flag.Int("rounds", 8, "rounds of baseline and subject in the benchmarks")
)

func newClient(t testing.TB) *http.Client {
	tr := NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestFixtures runs each comparison briefly: every response is the one
// expected, and neither the access-token path nor the cached waiting page
// calls the store. It checks no speed: the benchmarks measure that.
func TestFixtures(t *testing.T) {
	c := newClient(t)
	for _, tc := range []struct {
		name string
		make func() (*Fixture, error)
	}{
		{"access token", func() (*Fixture, error) { return AccessTokenFixture(c, 4) }},
		{"waiting page html", func() (*Fixture, error) { return WaitingPageFixture(c, 4, "text/html") }},
		{"waiting page json", func() (*Fixture, error) { return WaitingPageFixture(c, 4, "application/json") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tc.make()
			require.NoError(t, err)
			defer f.Close()
			before := f.Room.Store.RequestCalls()
			cmp, err := Compare(c, f.Base, f.Subject, 2, 100, 4)
			require.NoError(t, err)
			assert.Equal(t, before, f.Room.Store.RequestCalls(), "store calls on the request path")
			assert.Positive(t, cmp.BaseRate)
			assert.Positive(t, cmp.SubjectRate)
			assert.Equal(t, 2, cmp.Rounds)
		})
	}
}

func TestCompareRejectsBadArguments(t *testing.T) {
	_, err := Compare(http.DefaultClient, Side{}, Side{}, 0, 1, 1)
	assert.ErrorContains(t, err, "waitroom: bench:")
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 0.0, median(nil))
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
}

// benchCompare runs the comparison of make's fixture over b.N requests in
// all (half to each side) and reports the median ratio of throughputs
// (subject/baseline), both throughputs, and the subject's store calls per
// request.
func benchCompare(b *testing.B, make func(*http.Client, int) (*Fixture, error)) {
	c := newClient(b)
	f, err := make(c, *workers)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// Warm up both sides: connections, caches.
	if _, err := Compare(c, f.Base, f.Subject, 2, 4**workers, *workers); err != nil {
		b.Fatal(err)
	}
	perRound := max(b.N/(2**rounds), *workers)
	before := f.Room.Store.RequestCalls()
	b.ResetTimer()
	cmp, err := Compare(c, f.Base, f.Subject, *rounds, perRound, *workers)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	calls := f.Room.Store.RequestCalls() - before
	b.ReportMetric(cmp.MedianRatio, "ratio")
	b.ReportMetric(cmp.MinRatio, "min-ratio")
	b.ReportMetric(cmp.BaseRate, "base-req/s")
	b.ReportMetric(cmp.SubjectRate, "subject-req/s")
	b.ReportMetric(float64(calls)/float64(*rounds*perRound), "store-calls/req")
	b.Logf("%s vs %s: median ratio %.3f (min %.3f, max %.3f) over %d rounds of %d requests each, %d workers; %d store calls",
		f.Subject.Name, f.Base.Name, cmp.MedianRatio, cmp.MinRatio, cmp.MaxRatio, cmp.Rounds, perRound, *workers, calls)
}

// BenchmarkAccessToken: a valid access token through the wrapped proxy vs
// the bare proxy. Target: ratio >= 0.97.
func BenchmarkAccessToken(b *testing.B) {
	benchCompare(b, AccessTokenFixture)
}

// BenchmarkWaitingPageHTML: the cached waiting page of a full zone vs a
// bare hello handler. Target: ratio >= 0.8, 0 store calls per request.
func BenchmarkWaitingPageHTML(b *testing.B) {
	benchCompare(b, func(c *http.Client, w int) (*Fixture, error) { return WaitingPageFixture(c, w, "text/html") })
}

// BenchmarkWaitingPageJSON: the same page in its JSON form.
func BenchmarkWaitingPageJSON(b *testing.B) {
	benchCompare(b, func(c *http.Client, w int) (*Fixture, error) {
		return WaitingPageFixture(c, w, "application/json")
	})
}
