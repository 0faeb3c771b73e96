package redisserver

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outcome is a testing.TB that records how Missing or Start ended the
// test.
type outcome struct {
	testing.TB
	fatal, skip string
}

func (o *outcome) Helper() {}

func (o *outcome) Fatal(args ...any) { o.fatal = fmt.Sprint(args...); runtime.Goexit() }

func (o *outcome) Fatalf(format string, args ...any) {
	o.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (o *outcome) Skip(args ...any) { o.skip = fmt.Sprint(args...); runtime.Goexit() }

// missingUnder runs Missing with the environment variable CI set to ci.
func missingUnder(t *testing.T, ci string) *outcome {
	t.Setenv("CI", ci)
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Missing(o, "%s not found", "redis-server")
	}()
	<-done
	return o
}

func TestMissing(t *testing.T) {
	t.Run("CI fails", func(t *testing.T) {
		o := missingUnder(t, "true")
		assert.Equal(t, "redis-server not found", o.fatal)
		assert.Empty(t, o.skip)
	})
	for _, ci := range []string{"", "false", "1"} {
		t.Run("CI="+ci+" skips", func(t *testing.T) {
			o := missingUnder(t, ci)
			assert.Equal(t, "redis-server not found", o.skip)
			assert.Empty(t, o.fatal)
		})
	}
}

func TestSharedClient(t *testing.T) {
	c := SharedClient(t)
	require.NoError(t, c.Ping(t.Context()).Err())
	assert.Equal(t, SharedOptions(t).Addr, c.Options().Addr)
}

// A server started with an fsync per write keeps its data across a kill
// and a restart on the same port, and a killed server does not answer.
func TestStartKillRestart(t *testing.T) {
	s := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := s.Client()
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	s.Kill()
	s.Kill() // a second kill does nothing
	down := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer down.Close()
	require.Error(t, down.Ping(ctx).Err(), "a killed server does not answer")

	s.Restart()
	got, err := c.Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", got)
	assert.Contains(t, s.Log(), "Ready to accept connections")
}

// A server that rejects its arguments and exits fails the start at once,
// not at the deadline.
func TestStartExited(t *testing.T) {
	o := &outcome{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(o, "--no-such-option", "yes")
	}()
	<-done
	assert.Contains(t, o.fatal, "exited")
	assert.Empty(t, o.skip)
}

func TestStartCluster(t *testing.T) {
	addrs := StartCluster(t)
	require.Len(t, addrs, 3)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	ctx := t.Context()
	for i := range 10 {
		require.NoError(t, c.Set(ctx, fmt.Sprint("k", i), i, 0).Err())
	}
}
