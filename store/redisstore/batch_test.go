package redisstore_test

import (
	"context"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/store/storetest"
)

// TestBatchAsSingles runs the same calls on two zones with the same
// history: as Batches on one, as single operations on the other. Every
// outcome, and then every record, event and key TTL of the two zones, must
// be the same (slot ids aside: they are random). Each Batch is one EVALSHA.
// A batched Release's state given up is what Position told before the
// single Release.
func TestBatchAsSingles(t *testing.T) {
	sent := &sentCommands{}
	client := sharedClient(t)
	client.AddHook(sent)
	store := newStore(t, client)
	ctx := t.Context()

	// Loads the batch script (NOSCRIPT, then EVAL) on a zone that does not
	// exist: the batch as a whole is refused.
	err := store.Batch(ctx, uniqueZone("nozone"), t0, []waitroom.Call{{Op: waitroom.OpRegister, Visitor: "a"}})
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	require.NoError(t, store.Batch(ctx, "", t0, nil), "an empty batch")
	sent.take()
	require.ErrorIs(t, store.Batch(ctx, "", t0, []waitroom.Call{{Op: waitroom.OpHeartbeat, Visitor: "a"}}),
		waitroom.ErrZoneNotFound)
	assert.Empty(t, sent.take(), "an empty batch, or one without a zone, makes no round trip")

	st := storetest.Zone("")
	st.Name = uniqueZone("batch")
	batched := st.Name
	st.Name = uniqueZone("single")
	single := st.Name
	for _, name := range []string{batched, single} {
		st.Name = name
		_, err := store.PutZone(ctx, st, t0)
		require.NoError(t, err)
	}

	// run makes calls as one Batch on the batched zone and as single
	// operations on the other, and compares the outcomes.
	run := func(step string, now time.Time, calls []waitroom.Call) {
		t.Helper()
		sent.take()
		require.NoError(t, store.Batch(ctx, batched, now, calls), step)
		assert.Equal(t, []string{"evalsha"}, sent.take(), "%s: one Batch, one EVALSHA", step)
		for i, c := range calls {
			var want waitroom.Call
			var err error
			want.Op, want.Visitor = c.Op, c.Visitor
			switch c.Op {
			case waitroom.OpRegister:
				want.Place, err = store.Register(ctx, single, c.Visitor, now)
			case waitroom.OpPosition:
				want.Place, want.Err = store.Position(ctx, single, c.Visitor, now)
			case waitroom.OpHeartbeat:
				want.Err = store.Heartbeat(ctx, single, c.Visitor, now)
			case waitroom.OpEnter:
				var slot waitroom.Slot
				var in bool
				slot, in, err = store.Enter(ctx, single, c.Visitor, now)
				if in {
					p, perr := store.Position(ctx, single, c.Visitor, now)
					require.NoError(t, perr)
					want.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Arrived: p.Arrived, Slot: slot}
				}
			case waitroom.OpClaim:
				var slot waitroom.Slot
				if slot, want.Err = store.Claim(ctx, single, c.Visitor, now); want.Err == nil {
					want.Place = waitroom.Place{Visitor: c.Visitor, State: waitroom.StateInside, Slot: slot}
				}
			case waitroom.OpRelease:
				// Position (read only) tells what Release gives up.
				p, perr := store.Position(ctx, single, c.Visitor, now)
				var held bool
				if held, err = store.Release(ctx, single, c.Visitor, now); held {
					require.NoError(t, perr, "%s: call %d: a visitor that holds something has a place", step, i)
					want.Place = waitroom.Place{Visitor: c.Visitor, State: p.State}
				}
			}
			require.NoError(t, err, "%s: call %d: single %v", step, i, c.Op)
			what := step + ": call " + strconv.Itoa(i) + ": " + c.Op.String() + " " + c.Visitor
			if want.Err != nil {
				matched := false
				for _, sentinel := range []error{waitroom.ErrNotQueued, waitroom.ErrNotAdmitted, waitroom.ErrClaimExpired} {
					if errors.Is(want.Err, sentinel) {
						matched = true
						assert.ErrorIs(t, c.Err, sentinel, what)
					}
				}
				require.True(t, matched, "%s: single call's error %v", what, want.Err)
			} else {
				assert.NoError(t, c.Err, what)
			}
			assert.Equal(t, want.Place.Slot.TokenID == "", c.Place.Slot.TokenID == "", "%s: holds a slot", what)
			want.Place.Slot.TokenID, c.Place.Slot.TokenID = "", ""
			assert.Equal(t, want.Place, c.Place, what)
		}
	}

	// A fresh zone: entry into an empty line and an empty bucket, then
	// three newcomers, reads and heartbeats of known and unknown visitors,
	// an entry refused because somebody now waits, and an entry of a
	// visitor inside.
	now := t0.Add(time.Second)
	calls := []waitroom.Call{
		{Op: waitroom.OpEnter, Visitor: "x"},
		{Op: waitroom.OpRegister, Visitor: "a"},
		{Op: waitroom.OpRegister, Visitor: "b"},
		{Op: waitroom.OpRegister, Visitor: "c"},
		{Op: waitroom.OpRegister, Visitor: "a"},
		{Op: waitroom.OpPosition, Visitor: "b"},
		{Op: waitroom.OpPosition, Visitor: "nobody"},
		{Op: waitroom.OpHeartbeat, Visitor: "nobody"},
		{Op: waitroom.OpHeartbeat, Visitor: "c"},
		{Op: waitroom.OpEnter, Visitor: "y"},
		{Op: waitroom.OpEnter, Visitor: "x"},
		{Op: waitroom.OpPosition, Visitor: "x"},
	}
	for i := range calls { // outcomes the batch must overwrite
		calls[i].Place, calls[i].Err = waitroom.Place{Visitor: "stale", Seq: 99}, errors.New("stale")
	}
	run("first batch", now, calls)
	assert.Equal(t, waitroom.StateInside, calls[0].Place.State, "x went in")
	assert.Equal(t, []uint64{1, 2, 3, 1}, []uint64{calls[1].Place.Seq, calls[2].Place.Seq, calls[3].Place.Seq, calls[4].Place.Seq})
	assert.ErrorIs(t, calls[6].Err, waitroom.ErrNotQueued)
	assert.ErrorIs(t, calls[7].Err, waitroom.ErrNotQueued)
	assert.Zero(t, calls[9].Place, "y is refused: somebody waits")
	assert.Equal(t, calls[0].Place.Slot, calls[10].Place.Slot, "x gets its slot back")

	// a is let in and lets its claim window pass: it holds no place, and
	// its Register finds the slot past its deadline (EventExpired) and
	// queues it anew. Somebody waits: z's entry is refused.
	for _, name := range []string{batched, single} {
		x, err := store.Exchange(ctx, name, now.Add(time.Second), 1)
		require.NoError(t, err)
		require.Len(t, x.Admitted, 1)
	}
	now = now.Add(time.Second + st.ClaimWindow + time.Second)
	run("second batch", now, []waitroom.Call{
		{Op: waitroom.OpPosition, Visitor: "a"},
		{Op: waitroom.OpRegister, Visitor: "a"},
		{Op: waitroom.OpPosition, Visitor: "a"},
		{Op: waitroom.OpHeartbeat, Visitor: "b"},
		{Op: waitroom.OpEnter, Visitor: "z"},
		{Op: waitroom.OpHeartbeat, Visitor: "x"},
		{Op: waitroom.OpRegister, Visitor: "d"},
	})

	// b gives up its place. Claims of visitors who wait (a, c) and of one
	// who left (b): ErrNotAdmitted; c gives up its place, then holds
	// nothing, like nobody.
	for _, name := range []string{batched, single} {
		_, err := store.Release(ctx, name, "b", now)
		require.NoError(t, err)
	}
	run("claims and releases", now, []waitroom.Call{
		{Op: waitroom.OpClaim, Visitor: "a"},
		{Op: waitroom.OpClaim, Visitor: "c"},
		{Op: waitroom.OpClaim, Visitor: "b"},
		{Op: waitroom.OpRelease, Visitor: "c"},
		{Op: waitroom.OpRelease, Visitor: "c"},
		{Op: waitroom.OpRelease, Visitor: "nobody"},
	})
	// The line empties (a and d let in; x is inside): a claims (twice:
	// the same slot), x gives up its inside slot and can no longer claim,
	// f queues and gives up its place.
	for _, name := range []string{batched, single} {
		x, err := store.Exchange(ctx, name, now, 10)
		require.NoError(t, err)
		require.Len(t, x.Admitted, 2)
	}
	calls = []waitroom.Call{
		{Op: waitroom.OpClaim, Visitor: "a"},
		{Op: waitroom.OpClaim, Visitor: "a"},
		{Op: waitroom.OpRelease, Visitor: "x"},
		{Op: waitroom.OpClaim, Visitor: "x"},
		{Op: waitroom.OpRegister, Visitor: "f"},
		{Op: waitroom.OpRelease, Visitor: "f"},
	}
	run("more claims and releases", now, calls)
	assert.Equal(t, waitroom.StateInside, calls[0].Place.State, "a came in")
	assert.Equal(t, calls[0].Place.Slot, calls[1].Place.Slot, "a claims again: the same slot")
	assert.Equal(t, waitroom.StateInside, calls[2].Place.State, "x gave up its inside slot")
	assert.ErrorIs(t, calls[3].Err, waitroom.ErrNotAdmitted)
	assert.Equal(t, waitroom.StateWaiting, calls[5].Place.State, "f gave up its place in line")

	// d lets its claim window pass: its claim leaks the slot
	// (EventExpired), then it holds nothing.
	now = now.Add(st.ClaimWindow + time.Second)
	calls = []waitroom.Call{
		{Op: waitroom.OpClaim, Visitor: "d"},
		{Op: waitroom.OpRelease, Visitor: "d"},
		{Op: waitroom.OpClaim, Visitor: "d"},
		{Op: waitroom.OpPosition, Visitor: "a"},
	}
	run("late claim", now, calls)
	assert.ErrorIs(t, calls[0].Err, waitroom.ErrClaimExpired)
	assert.Zero(t, calls[1].Place, "d's slot has leaked: nothing to release")
	assert.ErrorIs(t, calls[2].Err, waitroom.ErrNotAdmitted)

	// After the session ends, the first Enter leaks every slot
	// (EventExpired) into an empty bucket and goes in, two more fill the
	// bucket, the fourth is refused.
	now = now.Add(st.Session + time.Second)
	run("third batch", now, []waitroom.Call{
		{Op: waitroom.OpEnter, Visitor: "e1"},
		{Op: waitroom.OpEnter, Visitor: "e2"},
		{Op: waitroom.OpEnter, Visitor: "e3"},
		{Op: waitroom.OpEnter, Visitor: "e4"},
		{Op: waitroom.OpPosition, Visitor: "a"},
		{Op: waitroom.OpRegister, Visitor: "e5"},
	})

	// The two zones hold the same data.
	a, b := zoneDump(t, client, batched), zoneDump(t, client, single)
	assert.Equal(t, b.hash, a.hash, "zone hash")
	assert.Equal(t, b.visitors, a.visitors, "visitor records")
	assert.Equal(t, b.line, a.line, "line")
	assert.Equal(t, b.slots, a.slots, "slots")
	assert.Equal(t, b.feed, a.feed, "feed")
	require.Len(t, a.ttls, len(b.ttls))
	for i := range a.ttls {
		assert.Positive(t, a.ttls[i], "key %d expires", i)
		assert.InDelta(t, b.ttls[i], a.ttls[i], float64(5*time.Second), "key %d's TTL", i)
	}
	var kinds []string
	for _, e := range a.feed {
		kinds = append(kinds, e["k"])
	}
	t.Logf("feed kinds: %v", kinds)
	assert.Contains(t, kinds, "3", "EventEntered")
	assert.Contains(t, kinds, "6", "EventExpired")
	assert.Contains(t, kinds, "4", "EventClaimed")
	assert.Contains(t, kinds, "5", "EventReleased")
}

// dump is a zone's data as stored, slot ids replaced by "T".
type dump struct {
	hash, visitors map[string]string
	line, slots    []redis.Z
	feed           []map[string]string
	ttls           []time.Duration
}

var tokenField = regexp.MustCompile(`^([ai] \d+ -?\d+ -?\d+) \S+ (-?\d+)$`)

func zoneDump(t *testing.T, client *redis.Client, zone string) dump {
	t.Helper()
	ctx := t.Context()
	keys := zoneKeys(zone)
	var d dump
	var err error
	d.hash, err = client.HGetAll(ctx, keys[0]).Result()
	require.NoError(t, err)
	delete(d.hash, "name")
	d.line, err = client.ZRangeWithScores(ctx, keys[1], 0, -1).Result()
	require.NoError(t, err)
	d.visitors, err = client.HGetAll(ctx, keys[2]).Result()
	require.NoError(t, err)
	for v, rec := range d.visitors {
		d.visitors[v] = tokenField.ReplaceAllString(rec, "$1 T $2")
	}
	d.slots, err = client.ZRangeWithScores(ctx, keys[3], 0, -1).Result()
	require.NoError(t, err)
	msgs, err := client.XRange(ctx, keys[4], "-", "+").Result()
	require.NoError(t, err)
	for _, m := range msgs {
		e := map[string]string{"seq": m.ID}
		for k, v := range m.Values {
			e[k], _ = v.(string)
		}
		if _, ok := e["id"]; ok {
			e["id"] = "T"
		}
		d.feed = append(d.feed, e)
	}
	for _, k := range keys {
		ttl, err := client.PTTL(ctx, k).Result()
		require.NoError(t, err)
		d.ttls = append(d.ttls, ttl)
	}
	return d
}

// BenchmarkBatch registers new visitors 256 at a time, against the shared
// Redis with the store's default clock (Redis TIME): as 256 Register calls
// (256 EVALSHA) or as one Batch of 256 Registers (one EVALSHA), from one
// goroutine (serial) and from 50 at once (parallel).
func BenchmarkBatch(b *testing.B) {
	client := benchClient(b, 50)
	store, err := redisstore.New(client)
	require.NoError(b, err)
	defer store.Close()
	const size = 256

	singles := func(ctx context.Context, zone string, ids []string) error {
		for _, id := range ids {
			if _, err := store.Register(ctx, zone, id, time.Time{}); err != nil {
				return err
			}
		}
		return nil
	}
	batch := func(ctx context.Context, zone string, ids []string) error {
		calls := make([]waitroom.Call, len(ids))
		for i, id := range ids {
			calls[i] = waitroom.Call{Op: waitroom.OpRegister, Visitor: id}
		}
		if err := store.Batch(ctx, zone, time.Time{}, calls); err != nil {
			return err
		}
		for _, c := range calls {
			if c.Err != nil || c.Place.Seq == 0 {
				return errors.New("batch: no place for " + c.Visitor)
			}
		}
		return nil
	}
	for _, mode := range []struct {
		name     string
		parallel bool
	}{{"serial", false}, {"parallel", true}} {
		for _, how := range []struct {
			name string
			reg  func(ctx context.Context, zone string, ids []string) error
		}{{"single", singles}, {"batch", batch}} {
			b.Run(mode.name+"/"+how.name, func(b *testing.B) {
				ctx := context.Background()
				zone := uniqueZone("bench-batch")
				_, err := store.PutZone(ctx, benchZone(zone), time.Now())
				require.NoError(b, err)
				require.NoError(b, how.reg(ctx, zone, []string{"warm-up"})) // loads the script

				var next atomic.Int64
				ids := func() []string {
					first := next.Add(size) - size
					out := make([]string, size)
					for i := range out {
						out[i] = "v" + strconv.FormatInt(first+int64(i), 10)
					}
					return out
				}
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				if mode.parallel {
					b.SetParallelism(max(1, 50/runtime.GOMAXPROCS(0))) // 50 goroutines
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := how.reg(ctx, zone, ids()); err != nil {
								b.Error(err)
								return
							}
						}
					})
				} else {
					for i := 0; i < b.N; i++ {
						if err := how.reg(ctx, zone, ids()); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(b.N*size)/time.Since(start).Seconds(), "registers/s")
			})
		}
	}
}
