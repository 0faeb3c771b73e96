package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/ident"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/store/storetest"
)

// TestBytesPerWaitingVisitor: what a place in line costs Redis, measured
// with MEMORY USAGE over every key of a zone that holds 20,480 places of
// visitors with ids as the Room makes them. It bounds what a flood costs
// (Zone.MaxWaiting caps the places): 246 bytes a place on Redis 7, with
// room to 300 before the test fails.
func TestBytesPerWaitingVisitor(t *testing.T) {
	ctx := context.Background()
	client := sharedClient(t)
	prefix := fmt.Sprintf("memtest-%08x", rand.Uint32())
	s, err := redisstore.New(client, redisstore.WithPrefix(prefix), redisstore.WithCallerClock())
	require.NoError(t, err)
	defer s.Close()
	st := storetest.Zone("bytes")
	_, err = s.PutZone(ctx, st, storetest.T0)
	require.NoError(t, err)

	usage := func() int64 {
		var total int64
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			n, err := client.MemoryUsage(ctx, iter.Val(), 0).Result()
			require.NoError(t, err)
			total += n
		}
		require.NoError(t, iter.Err())
		return total
	}
	const batch = 256
	const n = 80 * batch
	for i := 0; i < n; i += batch {
		calls := make([]waitroom.Call, batch)
		for j := range calls {
			calls[j] = waitroom.Call{Op: waitroom.OpRegister, Visitor: ident.New()}
		}
		require.NoError(t, s.Batch(ctx, st.Name, storetest.T0, calls))
	}
	used := usage()
	t.Cleanup(func() {
		iter := client.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	stats, err := s.Stats(ctx, st.Name, storetest.T0)
	require.NoError(t, err)
	require.Equal(t, int64(n), stats.Waiting)
	per := float64(used) / n
	t.Logf("Redis: %d bytes for %d places in line: %.0f bytes a place", used, n, per)
	assert.LessOrEqual(t, per, 300.0, "bytes a place in line")
}
