package redisstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/redisstore"
)

// benchZone returns settings for a benchmark zone whose data expires ten
// minutes after the run.
func benchZone(name string) waitroom.ZoneState {
	return waitroom.ZoneState{
		Name: name, Capacity: 100, AdmitPerSecond: 100, Session: 10 * time.Minute,
		ClaimWindow: time.Minute, AbandonAfter: time.Hour, DataTTL: 10 * time.Minute,
	}
}

// benchClient returns a client of its own to the shared Redis with
// poolSize connections, closed when b ends; it skips without Redis.
func benchClient(b *testing.B, poolSize int) *redis.Client {
	sharedClient(b)
	opts, err := redis.ParseURL(redisURL())
	require.NoError(b, err)
	opts.PoolSize = poolSize
	client := redis.NewClient(opts)
	b.Cleanup(func() { client.Close() })
	return client
}

// BenchmarkRegister enqueues new visitors from 50 goroutines at once, each
// Register one EVALSHA, against the shared Redis with the store's default
// clock (Redis TIME): over a plain client (one connection per command in
// flight, as redis-benchmark) and over the client's AutoPipeline (the
// commands of concurrent callers share writes). scripts/bench-redis.sh
// compares both with redis-benchmark -t incr -c 50 on the same server.
func BenchmarkRegister(b *testing.B) {
	client := benchClient(b, 50)
	ap, err := client.AutoPipeline()
	require.NoError(b, err)
	for _, c := range []struct {
		name   string
		client redis.UniversalClient
	}{{"client", client}, {"autopipeline", ap}} {
		b.Run(c.name, func(b *testing.B) { benchRegister(b, c.client) })
	}
}

func benchRegister(b *testing.B, client redis.UniversalClient) {
	store, err := redisstore.New(client)
	require.NoError(b, err)
	defer store.Close()
	ctx := context.Background()
	zone := uniqueZone("bench-reg")
	_, err = store.PutZone(ctx, benchZone(zone), time.Now())
	require.NoError(b, err)
	_, err = store.Register(ctx, zone, "warm-up", time.Time{}) // loads the script
	require.NoError(b, err)

	var next atomic.Int64
	b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0))) // 50 goroutines
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := "v" + strconv.FormatInt(next.Add(1), 10)
			if _, err := store.Register(ctx, zone, id, time.Time{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "registers/s")
}

// BenchmarkPosition looks up random waiting visitors' places in a line of
// 1e3 and of 1e6 (on a dedicated redis-server, filled by a loader script).
// The two must cost the same: two hash lookups and the head of a sorted
// set.
func BenchmarkPosition(b *testing.B) {
	srv := startServer(b)
	client := redis.NewClient(&redis.Options{Addr: srv.addr()})
	defer client.Close()
	store, err := redisstore.New(client)
	require.NoError(b, err)
	defer store.Close()
	ctx := context.Background()
	for _, n := range []int{1_000, 1_000_000} {
		zone := fmt.Sprintf("bench-pos-%d", n)
		_, err := store.PutZone(ctx, benchZone(zone), time.Now())
		require.NoError(b, err)
		fillLine(b, client, zone, n)
		st, err := store.Stats(ctx, zone, time.Time{})
		require.NoError(b, err)
		require.EqualValues(b, n, st.Waiting)

		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				i := 1 + rng.IntN(n)
				p, err := store.Position(ctx, zone, "v"+strconv.Itoa(i), time.Time{})
				if err != nil || p.Ahead != int64(i-1) {
					b.Fatalf("Position of v%d: %+v, %v", i, p, err)
				}
			}
		})
	}
}

// fillLine puts n waiting visitors v1..vn in zone's line, 50,000 per
// script, with the records Register writes (see the package doc).
func fillLine(tb testing.TB, client *redis.Client, zone string, n int) {
	tb.Helper()
	loader := redis.NewScript(`
local from, to, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
for i = from, to do
  local v = 'v' .. i
  redis.call('ZADD', KEYS[1], i, v)
  redis.call('HSET', KEYS[2], v, 'w ' .. i .. ' ' .. now .. ' ' .. now)
end
redis.call('HSET', KEYS[3], 'qseq', to)
if tonumber(redis.call('HGET', KEYS[3], 'head')) == 0 then redis.call('HSET', KEYS[3], 'head', from) end
local ttl = redis.call('PTTL', KEYS[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return to`)
	keys := []string{"waitroom:{" + zone + "}:line", "waitroom:{" + zone + "}:visitors", "waitroom:{" + zone + "}:zone"}
	now := strconv.FormatInt(time.Now().UnixMicro(), 10)
	for from := 1; from <= n; from += 50_000 {
		to := min(n, from+50_000-1)
		require.NoError(tb, loader.Run(context.Background(), client, keys, from, to, now).Err())
	}
}

// BenchmarkFeedStaleness measures the time from a release on instance A to
// the moment instance B's change-feed reader hands the event to its
// subscribers: the middleware's edge cache drops its "zone full" mark in
// that same call. Both Rooms run their own feed readers (XREAD BLOCK) on
// their own clients, over the shared Redis. Reported: p50, p99 and max.
func BenchmarkFeedStaleness(b *testing.B) {
	sharedClient(b)
	ctx := context.Background()
	zone := waitroom.Zone{Name: uniqueZone("bench-stale"), Capacity: 1, AdmitPerSecond: 1e6, DataTTL: 10 * time.Minute}
	quiet := slog.New(slog.DiscardHandler)
	var rooms [2]*waitroom.Room
	for i := range rooms {
		opts, err := redis.ParseURL(redisURL())
		require.NoError(b, err)
		client := redis.NewClient(opts)
		store, err := redisstore.New(client, redisstore.WithCloseClient())
		require.NoError(b, err)
		rooms[i], err = waitroom.New(store, waitroom.WithZone(zone), waitroom.WithLogger(quiet),
			waitroom.WithTick(time.Hour)) // no exchange steps: only the feed
		require.NoError(b, err)
		defer rooms[i].Close()
	}
	a, bRoom := rooms[0], rooms[1]
	seen := make(chan string, 1)
	cancel := bRoom.Subscribe(func(ev waitroom.Event) {
		if ev.Kind == waitroom.EventReleased && ev.Zone == zone.Name {
			seen <- ev.Visitor
		}
	})
	defer cancel()

	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		v := "v" + strconv.Itoa(i)
		b.StopTimer()
		_, ok, err := a.Store().Enter(ctx, zone.Name, v, time.Time{})
		if err != nil || !ok {
			b.Fatalf("Enter(%s): %v %v", v, ok, err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := a.Release(ctx, zone.Name, v); err != nil {
			b.Fatal(err)
		}
		select {
		case got := <-seen:
			if got != v {
				b.Fatalf("B saw the release of %s, want %s", got, v)
			}
		case <-time.After(10 * time.Second):
			b.Fatalf("B did not see the release of %s within 10s", v)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkCrowdArrives is a crowd's arrival as a Room sees it: 256
// goroutines at once each bring a newcomer to a full zone (Room.Visit,
// which queues it), over the Store as it is, whose calls the Room gathers
// into batches, and over the same Store with Batch hidden, one call per
// visitor. Compare the arrivals/s of the two.
func BenchmarkCrowdArrives(b *testing.B) {
	client := benchClient(b, 64)
	for _, c := range []struct {
		name  string
		store func(*redisstore.Store) waitroom.Store
	}{
		{"batched", func(s *redisstore.Store) waitroom.Store { return s }},
		{"single", func(s *redisstore.Store) waitroom.Store { return struct{ waitroom.Store }{s} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, err := redisstore.New(client)
			require.NoError(b, err)
			zone := uniqueZone("crowd")
			room, err := waitroom.New(c.store(s), waitroom.WithManualStep(), waitroom.WithLogger(slog.New(slog.DiscardHandler)),
				waitroom.WithZone(waitroom.Zone{Name: zone, Capacity: 1, AdmitPerSecond: 1, DataTTL: 10 * time.Minute}))
			require.NoError(b, err)
			defer room.Close()
			ctx := context.Background()
			_, err = room.Visit(ctx, zone, nil, true) // takes the one slot
			require.NoError(b, err)
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					out, err := room.Visit(ctx, zone, nil, true)
					if err != nil || out.State != waitroom.StateWaiting {
						b.Errorf("Visit: %v, state %v", err, out.State)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "arrivals/s")
		})
	}
}
