package redisstore_test

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// sentCommands is a go-redis hook that records the name of every command
// the client sends.
type sentCommands struct {
	mu    sync.Mutex
	names []string
}

func (c *sentCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *sentCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.add(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *sentCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.add(cmd.Name())
		}
		return next(ctx, cmds)
	}
}

func (c *sentCommands) add(name string) {
	c.mu.Lock()
	c.names = append(c.names, strings.ToLower(name))
	c.mu.Unlock()
}

func (c *sentCommands) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.names
	c.names = nil
	return out
}

// commandStats returns the calls per command of INFO commandstats.
func commandStats(t *testing.T, admin *redis.Client) map[string]int {
	t.Helper()
	info, err := admin.Info(t.Context(), "commandstats").Result()
	require.NoError(t, err)
	calls := make(map[string]int)
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.Atoi(v)
				require.NoError(t, err)
				calls[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	for name := range calls { // the admin connection's own commands
		if strings.HasPrefix(name, "config") || name == "info" {
			delete(calls, name)
		}
	}
	return calls
}

// TestOneRoundTripPerOperation proves that every Store operation, and
// Batch, is one round trip: on a dedicated redis-server, each operation run n times
// makes the client send exactly n commands, all EVALSHA, and Redis count
// exactly n EVALSHA calls and no EVAL, SCRIPT or other top-level command
// (the other commands INFO commandstats lists are the ones the script ran
// inside that one call).
func TestOneRoundTripPerOperation(t *testing.T) {
	srv := startServer(t)
	sent := &sentCommands{}
	client := redis.NewClient(&redis.Options{Addr: srv.addr(), PoolSize: 1})
	client.AddHook(sent)
	t.Cleanup(func() { client.Close() })
	admin := redis.NewClient(&redis.Options{Addr: srv.addr()})
	t.Cleanup(func() { admin.Close() })
	store := newStore(t, client)
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	zone := waitroom.ZoneState{Name: "rt", Capacity: 1000, AdmitPerSecond: 1000, Session: time.Minute,
		ClaimWindow: time.Minute, AbandonAfter: time.Minute, DataTTL: time.Hour}

	const n = 10
	var i int
	visitor := func() string { return fmt.Sprintf("v%d", i) }
	ops := []struct {
		name string
		run  func() error
	}{
		{"PutZone", func() error {
			z := zone
			z.Capacity = 1000 + i // a change each time
			_, err := store.PutZone(ctx, z, t0)
			return err
		}},
		{"Zone", func() error { _, err := store.Zone(ctx, zone.Name); return err }},
		{"Register", func() error { _, err := store.Register(ctx, zone.Name, visitor(), t0); return err }},
		{"Position", func() error { _, err := store.Position(ctx, zone.Name, visitor(), t0); return err }},
		{"Heartbeat", func() error { return store.Heartbeat(ctx, zone.Name, visitor(), t0) }},
		{"Exchange", func() error { _, err := store.Exchange(ctx, zone.Name, t0.Add(time.Second), 1); return err }},
		{"Claim", func() error {
			_, err := store.Claim(ctx, zone.Name, fmt.Sprintf("v%d", i), t0.Add(time.Second))
			return err
		}},
		{"Release", func() error { _, err := store.Release(ctx, zone.Name, visitor(), t0.Add(time.Second)); return err }},
		{"Enter", func() error {
			_, _, err := store.Enter(ctx, zone.Name, "e"+visitor(), t0.Add(2*time.Second))
			return err
		}},
		{"Batch", func() error {
			calls := []waitroom.Call{
				{Op: waitroom.OpRegister, Visitor: "b" + visitor()},
				{Op: waitroom.OpPosition, Visitor: "b" + visitor()},
				{Op: waitroom.OpHeartbeat, Visitor: "b" + visitor()},
				{Op: waitroom.OpEnter, Visitor: "be" + visitor()},
				{Op: waitroom.OpPosition, Visitor: "nobody"},
			}
			return store.Batch(ctx, "rt-batch", t0.Add(2*time.Second), calls) // a zone of its own
		}},
		{"Stats", func() error { _, err := store.Stats(ctx, zone.Name, t0); return err }},
		{"ReadFeed", func() error { _, err := store.ReadFeed(ctx, zone.Name, uint64(i), 100, 0); return err }},
	}
	// Load every script once (the first EVALSHA meets NOSCRIPT and falls
	// back to EVAL).
	_, err := store.PutZone(ctx, zone, t0)
	require.NoError(t, err)
	batchZone := zone
	batchZone.Name = "rt-batch"
	_, err = store.PutZone(ctx, batchZone, t0)
	require.NoError(t, err)
	for _, op := range ops {
		require.NoError(t, op.run(), "%s (loading its script)", op.name)
	}
	sent.take()

	for _, op := range ops {
		require.NoError(t, admin.ConfigResetStat(ctx).Err())
		for i = 0; i < n; i++ {
			require.NoError(t, op.run(), op.name)
		}
		names := sent.take()
		calls := commandStats(t, admin)
		assert.Len(t, names, n, "%s: the client sends one command per operation: %v", op.name, names)
		for _, name := range names {
			assert.Equal(t, "evalsha", name, "%s: the client sends EVALSHA only", op.name)
		}
		assert.Equal(t, n, calls["evalsha"], "%s: Redis counts one EVALSHA per operation", op.name)
		for _, top := range []string{"eval", "script|load", "script", "multi", "exec", "xread"} {
			assert.Zero(t, calls[top], "%s: no %s", op.name, top)
		}
		inside := make([]string, 0, len(calls))
		for name, c := range calls {
			if name != "evalsha" {
				inside = append(inside, fmt.Sprintf("%s=%d", name, c))
			}
		}
		sort.Strings(inside)
		t.Logf("%-9s %d EVALSHA; inside the scripts: %s", op.name, calls["evalsha"], strings.Join(inside, " "))
	}
}
