package dynamostore

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/storetest"
	"github.com/waitroom/waitroom/waitroomtest"
)

// spikeResult is what a registration spike wrote.
type spikeResult struct {
	perShard   []int // queue entries per shard partition
	tailWrites int64 // updates of the tail counter
	used       Capacity
	took       time.Duration
}

func (r spikeResult) busiestOverFair(n int) float64 {
	return float64(slices.Max(r.perShard)) / (float64(n) / float64(len(r.perShard)))
}

// spike registers n newcomers at once, spread over the given Stores (one
// per instance, each behind a Room, which gathers its visitors' calls into
// batches) with workers goroutines each, and counts where the queue
// entries went. The zone opens an hour after the spike, so that everyone
// queues.
func spike(tb testing.TB, stores []*Store, zone string, n, workers int) spikeResult {
	tb.Helper()
	ctx := context.Background()
	st, err := stores[0].Zone(ctx, zone)
	require.NoError(tb, err)
	z := waitroom.Zone{
		Name: st.Name, Capacity: st.Capacity, AdmitPerSecond: st.AdmitPerSecond, Session: st.Session,
		ClaimWindow: st.ClaimWindow, AbandonAfter: st.AbandonAfter, DataTTL: st.DataTTL,
		OpensAt: storetest.T0.Add(time.Hour),
	}
	rooms := make([]*waitroom.Room, len(stores))
	for i, s := range stores {
		// Not closed: closing a Room closes its store, which the caller
		// goes on using. A Room with WithManualStep runs no goroutine.
		rooms[i], err = waitroom.New(s, slowStore, waitroom.WithZone(z), waitroom.WithManualStep(),
			waitroom.WithClock(func() time.Time { return storetest.T0 }))
		require.NoError(tb, err)
	}
	var before Capacity
	var tails0 int64
	for _, s := range stores {
		before = addCapacity(before, s.ConsumedCapacity())
		tails0 += s.tailWrites.Load()
	}
	start := time.Now()
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*workers)
	for _, room := range rooms {
		for range workers {
			wg.Go(func() {
				for range next {
					if _, err := room.Visit(ctx, zone, nil, true); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(tb, err)
	}
	r := spikeResult{took: time.Since(start)}
	var after Capacity
	for _, s := range stores {
		after = addCapacity(after, s.ConsumedCapacity())
		r.tailWrites += s.tailWrites.Load()
	}
	r.tailWrites -= tails0
	r.used = after.Sub(before)

	m, err := stores[0].readMeta(ctx, zone, 0)
	require.NoError(tb, err)
	k := m.keys()
	for shard := range m.shards {
		in := &dynamodb.QueryInput{
			TableName: &stores[0].table, KeyConditionExpression: aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(k.entryPK(shard))},
			Select:                    types.SelectCount,
		}
		count := 0
		for {
			out, err := stores[0].db.Query(ctx, in)
			require.NoError(tb, err)
			count += int(out.Count)
			if out.LastEvaluatedKey == nil {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
		r.perShard = append(r.perShard, count)
	}
	return r
}

func addCapacity(a, b Capacity) Capacity {
	return Capacity{ReadUnits: a.ReadUnits + b.ReadUnits, WriteUnits: a.WriteUnits + b.WriteUnits, Requests: a.Requests + b.Requests}
}

// TestSpikeSpreadsWrites: 2,000 visitors registering at once on three
// instances spread their queue entries evenly over the shards, number
// themselves 1..n, and update the one tail counter far less often than
// once per visitor: each Room batches its visitors' registrations.
func TestSpikeSpreadsWrites(t *testing.T) {
	const n = 2000
	db, _ := localClients(t)
	table := newTable(t, db)
	stores := []*Store{newStore(t, db, table), newStore(t, db, table), newStore(t, db, table)}
	st := storetest.Zone(storetest.ZoneName("spike"))
	_, err := stores[0].PutZone(t.Context(), st, storetest.T0)
	require.NoError(t, err)

	r := spike(t, stores, st.Name, n, 32)
	assert.Len(t, r.perShard, DefaultShards)
	total := 0
	for _, c := range r.perShard {
		total += c
	}
	assert.Equal(t, n, total, "one queue entry per visitor")
	assert.LessOrEqual(t, r.busiestOverFair(n), 2.0, "the busiest shard takes at most twice its fair share: %v", r.perShard)
	assert.Less(t, r.tailWrites, int64(n/4), "registrations are numbered in batches")
	stats, err := stores[1].Stats(t.Context(), st.Name, storetest.T0)
	require.NoError(t, err)
	assert.Equal(t, int64(n), stats.Waiting)
	assert.Equal(t, uint64(1), stats.HeadSeq)
	t.Logf("per shard %v, busiest/fair %.3f, %d tail writes (%.1f registrations each), %.2f WCU and %.2f RCU per registration",
		r.perShard, r.busiestOverFair(n), r.tailWrites, float64(n)/float64(r.tailWrites),
		r.used.WriteUnits/n, r.used.ReadUnits/n)
}

// BenchmarkSpike: 10,000 visitors registering at once on three instances
// (64 goroutines each). Run with -benchtime 1x.
func BenchmarkSpike(b *testing.B) {
	const n = 10000
	db, _ := localClients(b)
	table := newTable(b, db)
	stores := []*Store{newStore(b, db, table), newStore(b, db, table), newStore(b, db, table)}
	for b.Loop() {
		st := storetest.Zone(storetest.ZoneName("spike"))
		_, err := stores[0].PutZone(context.Background(), st, storetest.T0)
		require.NoError(b, err)
		r := spike(b, stores, st.Name, n, 64)
		b.ReportMetric(r.busiestOverFair(n), "busiest/fair")
		b.ReportMetric(float64(n)/float64(r.tailWrites), "regs/tail-write")
		b.ReportMetric(float64(r.tailWrites)/r.took.Seconds(), "tail-writes/s")
		b.ReportMetric(float64(n)/r.took.Seconds(), "regs/s")
		b.ReportMetric(r.used.WriteUnits/n, "WCU/reg")
		b.ReportMetric(r.used.ReadUnits/n, "RCU/reg")
	}
}

// BenchmarkPosition: the cost of Position with 100 and 10,000 visitors
// waiting, with this Store's copy of the zone item (default cache age) and
// reading it every time (cache age 0). Flat in the length of the line.
func BenchmarkPosition(b *testing.B) {
	db, _ := localClients(b)
	table := newTable(b, db)
	loader := newStore(b, db, table)
	for _, waiting := range []int{100, 10000} {
		st := storetest.Zone(storetest.ZoneName("pos"))
		_, err := loader.PutZone(context.Background(), st, storetest.T0)
		require.NoError(b, err)
		spike(b, []*Store{loader}, st.Name, waiting-1, 64)
		_, err = loader.Register(context.Background(), st.Name, "last", storetest.T0) // the back of the line
		require.NoError(b, err)
		for _, tc := range []struct {
			name string
			opts []Option
		}{
			{"cache=250ms", nil},
			{"cache=0", []Option{WithCacheAge(0)}},
			{"cache=250ms/eventual", []Option{WithEventuallyConsistentPositions()}},
		} {
			b.Run(fmt.Sprintf("waiting=%d/%s", waiting, tc.name), func(b *testing.B) {
				s := newStore(b, db, table, tc.opts...)
				visitor := "last"
				before := s.ConsumedCapacity()
				var p waitroom.Place
				for b.Loop() {
					p, err = s.Position(context.Background(), st.Name, visitor, storetest.T0)
					require.NoError(b, err)
				}
				require.Equal(b, int64(waiting-1), p.Ahead, "the last of %d has %d ahead", waiting, waiting-1)
				used := s.ConsumedCapacity().Sub(before)
				b.ReportMetric(used.ReadUnits/float64(b.N), "RCU/op")
				b.ReportMetric(float64(used.Requests)/float64(b.N), "requests/op")
			})
		}
	}
}

// BenchmarkWaitingVisitorMinute: what one waiting visitor costs per minute
// of waiting, refreshing the waiting page through the middleware every 2s
// or 5s (the edge cache answers within a second of the last store read;
// the Room writes a heartbeat every AbandonAfter/4 = 15s). 100 visitors
// wait behind a full zone for one simulated minute per iteration.
func BenchmarkWaitingVisitorMinute(b *testing.B) {
	const visitors = 100
	for _, every := range []time.Duration{2 * time.Second, 5 * time.Second} {
		b.Run(fmt.Sprintf("refresh=%v", every), func(b *testing.B) {
			db, _ := localClients(b)
			table := newTable(b, db)
			s := newStore(b, db, table)
			clock := waitroomtest.NewClock(storetest.T0)
			zone := waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AbandonAfter: time.Minute}
			room, err := waitroom.New(s, slowStore, waitroom.WithZone(zone), waitroom.WithClock(clock.Now), waitroom.WithManualStep())
			require.NoError(b, err)
			b.Cleanup(func() { room.Close() })
			h := middleware.Wrap(room, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), middleware.WithLogger(discardLogger()))
			b.Cleanup(func() { h.Close() })
			bs := make([]*browser, visitors+1)
			for i := range bs {
				jar, _ := cookiejar.New(nil)
				bs[i] = &browser{jar: jar}
				bs[i].get(h) // the first goes in; the rest wait
			}
			bs = bs[1:]
			before := s.ConsumedCapacity()
			minutes := 0
			for b.Loop() {
				for elapsed := time.Duration(0); elapsed < time.Minute; elapsed += every {
					clock.Advance(every)
					var wg sync.WaitGroup
					for _, br := range bs {
						wg.Go(func() {
							code, _ := br.get(h)
							assert.Equal(b, http.StatusTooManyRequests, code)
						})
					}
					wg.Wait()
				}
				minutes++
			}
			used := s.ConsumedCapacity().Sub(before)
			per := float64(visitors * minutes)
			b.ReportMetric(used.ReadUnits/per, "RCU/visitor-min")
			b.ReportMetric(used.WriteUnits/per, "WCU/visitor-min")
			b.ReportMetric(float64(used.Requests)/per, "requests/visitor-min")
		})
	}
}

// BenchmarkAdmission: the cost of one visitor's way through, end to end:
// Register (alone in its batch), the Exchange that admits it, Claim and
// Release.
func BenchmarkAdmission(b *testing.B) {
	db, _ := localClients(b)
	table := newTable(b, db)
	s := newStore(b, db, table)
	st := storetest.Zone(storetest.ZoneName("adm"))
	st.Capacity, st.AdmitPerSecond = 10, 1000
	ctx := context.Background()
	_, err := s.PutZone(ctx, st, storetest.T0)
	require.NoError(b, err)
	phases := []string{"register", "exchange", "claim", "release"}
	used := make([]Capacity, len(phases))
	now := storetest.T0
	i := 0
	for b.Loop() {
		now = now.Add(time.Second)
		v := fmt.Sprintf("v-%d", i)
		i++
		steps := []func() error{
			func() error { _, err := s.Register(ctx, st.Name, v, now); return err },
			func() error {
				x, err := s.Exchange(ctx, st.Name, now, 10)
				if err == nil && len(x.Admitted) != 1 {
					err = fmt.Errorf("admitted %d", len(x.Admitted))
				}
				return err
			},
			func() error { _, err := s.Claim(ctx, st.Name, v, now); return err },
			func() error { _, err := s.Release(ctx, st.Name, v, now); return err },
		}
		for k, step := range steps {
			c0 := s.ConsumedCapacity()
			require.NoError(b, step(), phases[k])
			used[k] = addCapacity(used[k], s.ConsumedCapacity().Sub(c0))
		}
	}
	var total Capacity
	for k, p := range phases {
		total = addCapacity(total, used[k])
		b.ReportMetric((used[k].ReadUnits+used[k].WriteUnits)/float64(b.N), p+"-CU/op")
	}
	b.ReportMetric(total.ReadUnits/float64(b.N), "RCU/op")
	b.ReportMetric(total.WriteUnits/float64(b.N), "WCU/op")
	b.ReportMetric(float64(total.Requests)/float64(b.N), "requests/op")
}

// TestIdleExchangeIsCheap: an exchange step with nothing to do reads
// nothing once this Store knows the line is empty and no slot's deadline
// has come; the slot query runs when a deadline passes, and not again
// until the next one.
func TestIdleExchangeIsCheap(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	s := newStore(t, db, table, WithCacheAge(time.Hour)) // this Store's view counts as fresh
	ctx := t.Context()
	st := storetest.Zone(storetest.ZoneName("idle"))
	st.Capacity = 2
	_, err := s.PutZone(ctx, st, storetest.T0)
	require.NoError(t, err)
	slot, ok, err := s.Enter(ctx, st.Name, "a", storetest.T0)
	require.NoError(t, err)
	require.True(t, ok)

	before := s.ConsumedCapacity()
	for i := range 20 {
		x, err := s.Exchange(ctx, st.Name, storetest.T0.Add(time.Duration(i+1)*time.Second), 10)
		require.NoError(t, err)
		require.Empty(t, x.Admitted)
	}
	used := s.ConsumedCapacity().Sub(before)
	assert.LessOrEqual(t, used.ReadUnits, 2.0, "20 idle steps: one look at the empty line, then nothing")
	assert.Zero(t, used.WriteUnits, "idle steps write nothing")

	x, err := s.Exchange(ctx, st.Name, slot.Until, 10)
	require.NoError(t, err)
	require.Equal(t, 1, x.Expired, "the slot leaks at its deadline")
	before = s.ConsumedCapacity()
	for i := range 20 {
		_, err := s.Exchange(ctx, st.Name, slot.Until.Add(time.Duration(i+1)*time.Second), 10)
		require.NoError(t, err)
	}
	used = s.ConsumedCapacity().Sub(before)
	assert.Zero(t, used.ReadUnits, "no slot left: no more slot queries")
}
