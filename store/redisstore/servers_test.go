package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// This file starts the real Redis servers the tests need: the shared one
// (WAITROOM_REDIS_URL, default redis://127.0.0.1:6379/0), dedicated
// servers on spare ports, and a three-master Cluster.

// missing fails the test in CI and skips it elsewhere, saying what to
// start.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// redisURL returns the URL of the shared test Redis.
func redisURL() string {
	if u := os.Getenv("WAITROOM_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// sharedClient returns a client of the shared test Redis, closed at the
// end of the test.
func sharedClient(t testing.TB) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(redisURL())
	require.NoError(t, err, "WAITROOM_REDIS_URL")
	reachOnce.Do(func() {
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		reachErr = c.Ping(ctx).Err()
	})
	if reachErr != nil {
		missing(t, "no Redis at %s (%v): start one with `redis-server --port 6379` or set WAITROOM_REDIS_URL; scripts/test.sh does both", redisURL(), reachErr)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// redisBinaries checks that redis-server and redis-cli are installed.
func redisBinaries(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing(t, "%s not found: install Redis (apt-get install redis-server redis-tools)", bin)
		}
	}
}

// freePort returns a TCP port nobody listens on at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// server is a redis-server process the test started.
type server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// startServer starts redis-server on a spare port in a temporary directory
// with the extra arguments, waits until it answers, and stops it at the
// end of the test.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	redisBinaries(t)
	s := &server{t: t, port: freePort(t), dir: t.TempDir()}
	s.args = append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--logfile", filepath.Join(s.dir, "redis.log")}, extra...)
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// start runs redis-server and waits until it answers PING.
func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	require.NoError(s.t, s.cmd.Start(), "start redis-server")
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	s.waitReady()
}

// waitReady polls PING until the server answers, for at most 10s.
func (s *server) waitReady() {
	s.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on port %d exited: %s", s.port, log)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on port %d does not answer: %v", s.port, err)
		}
	}
}

// stop kills the server (as a crash would: no final save) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// restart starts the server again on the same port and directory.
func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// startCluster starts three redis-server masters with cluster mode on,
// joins them with redis-cli --cluster create, waits for cluster_state:ok
// on every node and returns their addresses. The servers stop at the end
// of the test.
func startCluster(t testing.TB) []string {
	t.Helper()
	redisBinaries(t)
	var addrs []string
	for range 3 {
		dir := t.TempDir()
		s := startServer(t, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--appendonly", "no")
		addrs = append(addrs, s.addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				t.Fatalf("cluster node %s not ok: %v %s", addr, err, info)
			}
			<-tick.C
		}
		c.Close()
	}
	return addrs
}
