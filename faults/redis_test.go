package faults

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/redisserver"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// TestRedisRestartMidSale kills the Redis under a running sale (SIGKILL by
// PID) and starts it again on the same port, with and without AOF. It
// extends store/redisstore's TestOutage, which checks the same on a
// manual clock with a Room that steps by hand, to a running Room: its own
// exchanger, feed reader and breaker, on the real clock.
//
// During the outage, fail-closed: nobody without an access token reaches
// the origin, newcomers get 503 and, once the breaker is open, get it at
// once; the visitors inside keep coming in. Afterwards admission resumes
// without restarting the Room. With AOF (appendfsync always) no place is
// lost and the order is the same; the slots freed are given to the head
// of the line, in order. Without persistence the store comes back empty:
// the Room puts the zone back at the first visit, every waiting visitor
// takes a new place in the order it comes back, and the slots of the
// visitors inside are forgotten while their tokens stay valid, so until
// those sessions end up to twice the capacity can be inside.
func TestRedisRestartMidSale(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		aof  bool
	}{
		{"appendonly", []string{"--appendonly", "yes", "--appendfsync", "always"}, true},
		{"no persistence", []string{"--appendonly", "no"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			srv := redisserver.Start(t, tc.args...)
			storeLog := &waitroomtest.Log{}
			store := openRedis(t, srv.Addr(), redisstore.WithLogger(storeLog.Logger()))
			const capacity = 3
			s := newSale(t, store, saleZone(uniqueName("restart"), capacity))

			inside := s.visitors("inside", capacity)
			for _, v := range inside {
				code, _ := v.mustGet()
				require.Equal(t, http.StatusOK, code, "%s goes straight in", v.name)
			}
			waiting := s.visitors("waiting", 8)
			for _, v := range waiting {
				code, _ := v.mustGet()
				require.Equal(t, http.StatusTooManyRequests, code, "%s waits", v.name)
			}
			before := places(t, store, s, waiting)
			for i, p := range before {
				require.EqualValues(t, i, p.Ahead, "place %d", i)
			}
			insideIDs := ids(inside)

			srv.Kill()
			down := time.Now()
			for _, v := range s.visitors("outage", 4) {
				code, _, err := v.get()
				require.NoError(t, err)
				assert.Equal(t, http.StatusServiceUnavailable, code, "fail-closed: %s gets 503", v.name)
			}
			for _, v := range waiting {
				code, _, err := v.get()
				require.NoError(t, err)
				assert.Contains(t, []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}, code,
					"%s waits (from the edge cache) or gets 503", v.name)
			}
			for _, v := range inside {
				code, _ := v.mustGet()
				assert.Equal(t, http.StatusOK, code, "%s's access token keeps working", v.name)
			}
			waitFor(t, 10*time.Second, func() bool {
				return strings.Contains(s.logs.String(), "circuit breaker open")
			}, "the breaker opens")
			opened := time.Since(down)
			start := time.Now()
			code, _, err := s.visitor("fast").get()
			failFast := time.Since(start)
			require.NoError(t, err)
			assert.Equal(t, http.StatusServiceUnavailable, code)
			assert.Less(t, failFast, 300*time.Millisecond, "with the breaker open a newcomer's 503 does not wait for the store timeout")
			_, unprotected := s.reached()
			assert.Zero(t, unprotected, "nobody without an access token reached the origin")
			for _, v := range s.reachedBy() {
				assert.Contains(t, insideIDs, v, "only the visitors inside reached the origin")
			}

			srv.Restart()
			up := time.Now()
			newcomer := s.visitor("after")
			var after int
			resumed := waitFor(t, 15*time.Second, func() bool {
				after, _, err = newcomer.get()
				return err == nil && after != http.StatusServiceUnavailable
			}, "a newcomer is served again")
			t.Logf("outage %v; breaker open %v after the kill; a newcomer's 503 with it open took %v; served again %v after the restart (%d)",
				up.Sub(down).Round(time.Millisecond), opened.Round(time.Millisecond), failFast.Round(time.Microsecond),
				resumed.Round(time.Millisecond), after)

			if tc.aof {
				assert.Equal(t, http.StatusTooManyRequests, after, "the line survived: the newcomer queues behind it")
				again := places(t, store, s, waiting)
				for i := range before {
					assert.Equal(t, before[i].Visitor, again[i].Visitor)
					assert.Equal(t, before[i].Seq, again[i].Seq, "place %d: same Seq", i)
					assert.Equal(t, before[i].Ahead, again[i].Ahead, "place %d: same order", i)
				}
				// The visitors inside leave; the head of the line comes in,
				// in order, let in by the running exchanger.
				for _, id := range insideIDs {
					_, err := s.room.Release(ctx, s.zone, id)
					require.NoError(t, err)
				}
				for _, v := range waiting[:capacity] {
					waitFor(t, 10*time.Second, func() bool {
						code, _, err := v.get()
						return err == nil && code == http.StatusOK
					}, v.name+" is let in")
				}
				for i, v := range waiting[capacity:] {
					code, rep := v.mustGet()
					assert.Equal(t, http.StatusTooManyRequests, code, "%s still waits", v.name)
					assert.EqualValues(t, i+1, rep.Position, "%s keeps its turn", v.name)
				}
			} else {
				// Redis came back empty. Every waiting visitor takes a new
				// place, in the order it comes back (last first here).
				var back []*visitor
				for _, v := range slices.Backward(waiting) {
					code, _ := v.mustGet()
					if code == http.StatusTooManyRequests {
						back = append(back, v)
					}
				}
				again := places(t, store, s, back)
				for i := 1; i < len(again); i++ {
					assert.Less(t, again[i-1].Seq, again[i].Seq, "a new place, in the order of coming back")
				}
				st, err := s.room.Stats(ctx, s.zone)
				require.NoError(t, err)
				valid := capacity + int(st.Inside) // the tokens from before, and the slots given since
				t.Logf("no persistence: %d of %d waiting visitors queued again, in the order they came back; the store counts %d slots taken while %d visitors hold or are owed valid access (capacity %d)",
					len(back), len(waiting), st.Inside, valid, capacity)
				assert.LessOrEqual(t, valid, 2*capacity, "at most the slots from before on top of the capacity")
				assert.Equal(t, int64(len(back)+1), st.Waiting+int64(st.Inside),
					"one place (or slot) per visitor who came back and the newcomer, none twice")
			}
			_, unprotected = s.reached()
			assert.Zero(t, unprotected, "nobody without an access token reached the origin")
			for _, l := range append(append(s.logs.Lines("WARN"), s.logs.Lines("INFO")...), s.logs.Lines("ERROR")...) {
				t.Log("room:", l)
			}
			for _, l := range append(storeLog.Lines("WARN"), storeLog.Lines("ERROR")...) {
				t.Log("store:", l)
			}
			for _, l := range s.mwLog.Lines("WARN") {
				t.Log("middleware:", l)
			}
		})
	}
}

// places returns the places of vs in the store, in their order.
func places(t testing.TB, store waitroom.Store, s *sale, vs []*visitor) []waitroom.Place {
	t.Helper()
	out := make([]waitroom.Place, 0, len(vs))
	for _, v := range vs {
		p, err := store.Position(context.Background(), s.zone, v.id(), time.Now())
		require.NoError(t, err, "Position of %s", v.name)
		out = append(out, p)
	}
	return out
}

// ids returns the visitors' ids.
func ids(vs []*visitor) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.id()
	}
	return out
}
