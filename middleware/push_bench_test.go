package middleware_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

// gatedStore holds back every exchange until opened, then notes when each
// visitor's admission began: the instant just before the Exchange call
// that let it in.
type gatedStore struct {
	waitroom.Store
	open       atomic.Bool
	mu         sync.Mutex
	admittedAt map[string]time.Time
}

func (s *gatedStore) Exchange(ctx context.Context, zone string, now time.Time, limit int) (waitroom.Exchange, error) {
	if !s.open.Load() {
		return waitroom.Exchange{}, nil
	}
	start := time.Now()
	x, err := s.Store.Exchange(ctx, zone, now, limit)
	s.mu.Lock()
	for _, a := range x.Admitted {
		s.admittedAt[a.Visitor] = start
	}
	s.mu.Unlock()
	return x, err
}

// BenchmarkPushLatency measures how long a waiting page takes to hear of
// its turn: 1000 visitors wait, each with a websocket open to one
// instance (in-process clients over loopback), and one exchanger tick lets
// all 1000 in at once. The latency of a visitor runs from the start of the
// Exchange call that admitted it to the arrival of its "admitted" message
// at its client, through the change feed, the notifier and the socket. It
// reports the 50th and 99th percentiles and the maximum over all rounds,
// the frames each client received in all (its first report, its turn, and
// the line's coalesced moves), and the CPU time the process spent per
// admission during the bursts, server and clients together: on a shared
// machine the latencies follow its load, the CPU time much less. Each
// iteration is one round with a new Room; run it with -benchtime=Nx.
func BenchmarkPushLatency(b *testing.B) {
	const clients = 1000
	var latencies []time.Duration
	var frames int64
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		lat, f, c := pushRound(b, clients)
		latencies = append(latencies, lat...)
		frames += f
		cpu += c
	}
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(frames)/float64(b.N*clients), "frames/client")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N*clients), "cpu-µs/admission")
}

// pushRound runs one round; the benchmark's timer runs from the opening of
// the gate until every client has heard of its turn.
func pushRound(b *testing.B, clients int) ([]time.Duration, int64, time.Duration) {
	store := &gatedStore{Store: memstore.New(), admittedAt: make(map[string]time.Time)}
	z := waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: clients, AdmitPerSecond: 100 * float64(clients)}
	room, err := waitroom.New(store, waitroom.WithZone(z), waitroom.WithTick(10*time.Millisecond),
		waitroom.WithKeys(testRing(b)), waitroom.WithLogger(discardLogger()))
	require.NoError(b, err)
	defer room.Close()
	h := middleware.Wrap(room, http.NotFoundHandler(), middleware.WithMaxConnectionsPerIP(2*clients),
		middleware.WithLogger(discardLogger()))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	type arrival struct {
		visitor string
		at      time.Time
		err     error
	}
	arrivals := make(chan arrival, clients)
	ready := make(chan struct{}, clients)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	roundOver := make(chan struct{}) // clients close after the round, as pages leave
	defer close(roundOver)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/.waitroom/ws?zone=checkout"
	for range clients {
		out, err := room.Visit(ctx, "checkout", nil, false)
		require.NoError(b, err)
		require.Equal(b, waitroom.StateWaiting, out.State)
		conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc,
			HTTPHeader: http.Header{"Cookie": {"wr_v_checkout=" + out.VisitorToken}}})
		require.NoError(b, err)
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			defer conn.CloseNow()
			first := true
			for {
				_, msg, err := conn.Read(ctx)
				at := time.Now()
				if err != nil {
					arrivals <- arrival{visitor: id, err: err}
					return
				}
				if first {
					first = false
					ready <- struct{}{}
				}
				if bytes.Contains(msg, []byte(`"state":"admitted"`)) {
					arrivals <- arrival{visitor: id, at: at}
					<-roundOver
					return
				}
			}
		}(out.Visitor.ID)
	}
	for range clients {
		<-ready
	}
	frames0 := middleware.FramesSent(h)

	cpu0 := processCPU()
	b.StartTimer()
	store.open.Store(true)
	got := make([]arrival, 0, clients)
	for range clients {
		got = append(got, <-arrivals)
	}
	b.StopTimer()
	cpu := processCPU() - cpu0

	lat := make([]time.Duration, 0, clients)
	store.mu.Lock()
	defer store.mu.Unlock()
	for _, a := range got {
		require.NoError(b, a.err)
		start, ok := store.admittedAt[a.visitor]
		require.True(b, ok, "a client heard of a turn the exchanger never gave")
		lat = append(lat, a.at.Sub(start))
	}
	return lat, int64(clients) + middleware.FramesSent(h) - frames0, cpu
}
