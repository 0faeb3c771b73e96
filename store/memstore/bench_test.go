package memstore_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/storetest"
)

// Run with:
//
//	go test -run '^$' -bench 'Register|Position' -benchtime=1000000x -benchmem ./store/memstore/
//	go test -run '^$' -bench Memory -benchtime=1000000x ./store/memstore/
//
// Targets: Register and Position cost per op flat (within ±20%) from 1e3 to
// 1e6 waiting visitors; at most 200 bytes per waiting visitor.

var sizes = []int{1_000, 1_000_000}

// visitorIDs returns n ids shaped like waitroom.NewVisitorID's (22
// characters of base64), from a fixed seed.
func visitorIDs(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 7))
	ids := make([]string, n)
	var b [16]byte
	for i := range ids {
		for k := 0; k < len(b); k += 8 {
			v := rng.Uint64()
			for j := range 8 {
				b[k+j] = byte(v >> (8 * j))
			}
		}
		ids[i] = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return ids
}

// filled returns a store whose zone has the visitors ids waiting.
func filled(b *testing.B, ids []string) (*memstore.Store, string) {
	b.Helper()
	s := memstore.New()
	st := storetest.Zone("bench")
	st.AbandonAfter = 24 * time.Hour
	ctx := context.Background()
	if _, err := s.PutZone(ctx, st, storetest.T0); err != nil {
		b.Fatal(err)
	}
	for i, id := range ids {
		if _, err := s.Register(ctx, st.Name, id, storetest.T0.Add(time.Duration(i))); err != nil {
			b.Fatal(err)
		}
	}
	return s, st.Name
}

// BenchmarkRegister registers newcomers at the back of a line of n waiting
// visitors. The line is kept near n: after each batch the oldest places
// leave (untimed). Each newcomer is looked up and inserted in the line's
// index of visitors: at 1e6 that index is far larger than the CPU caches,
// so the figures include a cache miss per op that 1e3 does not pay.
func BenchmarkRegister(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			line := visitorIDs(n, 1)
			s, zone := filled(b, line)
			batch := min(1024, n/4)
			newcomers := visitorIDs(batch, 2)
			ctx := context.Background()
			now := storetest.T0.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i, k := 0, 0; i < b.N; i, k = i+1, k+1 {
				if k == batch {
					// Keep the line near n: the oldest places leave.
					b.StopTimer()
					for _, v := range line[:batch] {
						if _, err := s.Release(ctx, zone, v, now); err != nil {
							b.Fatal(err)
						}
					}
					line = append(line[batch:], newcomers...)
					newcomers, k = visitorIDs(batch, uint64(i)+2), 0
					b.StartTimer()
				}
				if _, err := s.Register(ctx, zone, newcomers[k], now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRegisterAgain registers again, round robin, 64 visitors spread
// evenly along a line of n: the idempotent path (the place is found and
// its heartbeat recorded), with the same memory touched at every n.
func BenchmarkRegisterAgain(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			line := visitorIDs(n, 1)
			s, zone := filled(b, line)
			sample := make([]string, 64)
			for i := range sample {
				sample[i] = line[i*n/len(sample)]
			}
			ctx := context.Background()
			now := storetest.T0.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Register(ctx, zone, sample[i%len(sample)], now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPosition reads the places of 64 visitors spread evenly along a
// line of n, round robin: the same memory touched at every n (it stays in
// the CPU caches), so the figures show what the line's length costs the
// operation itself. BenchmarkPositionRandom shows the cost of memory.
func BenchmarkPosition(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			line := visitorIDs(n, 1)
			s, zone := filled(b, line)
			sample := make([]string, 64)
			for i := range sample {
				sample[i] = line[i*n/len(sample)]
			}
			ctx := context.Background()
			now := storetest.T0.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := s.Position(ctx, zone, sample[i%len(sample)], now)
				if err != nil || p.State != waitroom.StateWaiting {
					b.Fatal(p, err)
				}
			}
		})
	}
}

// BenchmarkPositionRandom reads the places of visitors picked at random
// along the whole line: at 1e6 it adds the cost of cache misses in a heap
// far larger than the CPU caches.
func BenchmarkPositionRandom(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			line := visitorIDs(n, 1)
			s, zone := filled(b, line)
			rng := rand.New(rand.NewPCG(3, 3))
			picks := make([]string, 1<<16)
			for i := range picks {
				picks[i] = line[rng.IntN(n)]
			}
			ctx := context.Background()
			now := storetest.T0.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Position(ctx, zone, picks[i&(len(picks)-1)], now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemory registers b.N visitors with 22-character ids in one
// zone and reports the heap held per waiting visitor, ids included
// ("B/visitor"). -benchtime=1000000x measures a line of 1e6.
func BenchmarkMemory(b *testing.B) {
	ids := visitorIDs(b.N, 1)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	s, _ := filled(b, ids)
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	runtime.KeepAlive(ids)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "B/visitor")
}

// BenchmarkCrowdArrives is a crowd's arrival as a Room sees it: 256
// goroutines at once each bring a newcomer to a full zone (Room.Visit,
// which signs its token and queues it), over the Store as it is, whose
// calls the Room gathers into batches, and over the same Store with Batch
// hidden, one call per visitor. Compare the ns/op of the two.
func BenchmarkCrowdArrives(b *testing.B) {
	for _, c := range []struct {
		name  string
		store func(*memstore.Store) waitroom.Store
	}{
		{"batched", func(s *memstore.Store) waitroom.Store { return s }},
		{"single", func(s *memstore.Store) waitroom.Store { return struct{ waitroom.Store }{s} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			room, err := waitroom.New(c.store(memstore.New()), waitroom.WithManualStep(),
				waitroom.WithZone(waitroom.Zone{Name: "crowd", Capacity: 1, AdmitPerSecond: 1}))
			require.NoError(b, err)
			defer room.Close()
			ctx := context.Background()
			_, err = room.Visit(ctx, "crowd", nil, true) // takes the one slot
			require.NoError(b, err)
			b.SetParallelism(max(1, 256/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					out, err := room.Visit(ctx, "crowd", nil, true)
					if err != nil || out.State != waitroom.StateWaiting {
						b.Errorf("Visit: %v, state %v", err, out.State)
						return
					}
				}
			})
		})
	}
}
