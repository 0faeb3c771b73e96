// Package redisserver gives tests the real Redis they run against: the
// shared test Redis, redis-server processes of their own on spare ports
// (killed by PID and restarted on the same port), and a three-master
// Cluster. In CI (CI=true) a missing Redis fails the test; elsewhere it
// skips it, saying what to install or start.
package redisserver

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

// How long a server has to answer after it starts, and a Cluster to report
// cluster_state:ok on every node.
const (
	readyWithin   = 10 * time.Second
	clusterWithin = 20 * time.Second
)

// Missing fails the test when the environment variable CI is "true" and
// skips it elsewhere, with the message, which should say what to install
// or start.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// FreePort returns a TCP port of 127.0.0.1 nobody listens on at the moment.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SharedURL returns the URL of the shared test Redis: WAITROOM_REDIS_URL,
// by default redis://127.0.0.1:6379/0.
func SharedURL() string {
	if u := os.Getenv("WAITROOM_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

var (
	reachOnce sync.Once
	reachErr  error
)

// SharedOptions returns the client options of the shared test Redis
// (SharedURL), once it has answered a PING: asked once per test binary,
// within 2s. Without it the test is Missing.
func SharedOptions(t testing.TB) *redis.Options {
	t.Helper()
	opts, err := redis.ParseURL(SharedURL())
	require.NoError(t, err, "WAITROOM_REDIS_URL")
	reachOnce.Do(func() {
		c := redis.NewClient(opts)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		reachErr = c.Ping(ctx).Err()
	})
	if reachErr != nil {
		Missing(t, "no Redis at %s (%v): start one with `redis-server --port 6379` or set WAITROOM_REDIS_URL; scripts/test.sh does both", SharedURL(), reachErr)
	}
	return opts
}

// SharedClient returns a client of the shared test Redis (SharedOptions),
// closed at the end of the test.
func SharedClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(SharedOptions(t))
	t.Cleanup(func() { c.Close() })
	return c
}

// binaries checks that the programs are installed.
func binaries(t testing.TB, names ...string) {
	t.Helper()
	for _, bin := range names {
		if _, err := exec.LookPath(bin); err != nil {
			Missing(t, "%s not found: install Redis (apt-get install redis-server redis-tools); scripts/test.sh does", bin)
		}
	}
}

// Server is a redis-server process a test started. Its methods are for
// the test's goroutine.
type Server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd     // nil once killed
	done chan struct{} // closed when cmd has exited
}

// Start starts redis-server on a spare port of 127.0.0.1, in a temporary
// directory, without snapshots (--save ""), with the extra arguments
// after its own; it returns once the server answers PING, and kills it at
// the end of the test. Without redis-server the test is Missing.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	binaries(t, "redis-server")
	s := &Server{t: t, port: FreePort(t), dir: t.TempDir()}
	s.args = append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--logfile", s.logFile()}, extra...)
	t.Cleanup(s.Kill) // first: a server that does not answer is killed too
	s.start()
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Client returns a client of the server that does not retry a failed
// command, closed at the end of the test.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Log returns what the server has written to its log file so far ("" if
// it cannot be read).
func (s *Server) Log() string {
	out, _ := os.ReadFile(s.logFile())
	return string(out)
}

func (s *Server) logFile() string { return filepath.Join(s.dir, "redis.log") }

// Kill sends SIGKILL to the server's PID (a crash: no final write) and
// waits for it to exit. Killing a killed server does nothing.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart kills the server and starts it again on the same port and
// directory, with the same arguments; it returns once the server answers
// PING.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	s.start()
}

// start runs redis-server and waits until it answers PING.
func (s *Server) start() {
	s.t.Helper()
	cmd := exec.Command("redis-server", s.args...)
	require.NoError(s.t, cmd.Start(), "start redis-server")
	s.cmd, s.done = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	s.waitReady()
}

// waitReady polls PING until the server answers, failing the test if the
// server exits first or does not answer within readyWithin.
func (s *Server) waitReady() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyWithin)
	defer cancel()
	// ContextTimeoutEnabled: a server that takes the connection and says
	// nothing cannot hold a PING past the deadline.
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond,
		ContextTimeoutEnabled: true})
	defer c.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// A server loading its AOF answers LOADING: not ready yet.
		err := c.Ping(ctx).Err()
		if err == nil {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("redis-server on port %d exited: %s", s.port, s.Log())
		case <-ctx.Done():
			s.t.Fatalf("redis-server on port %d does not answer within %v: %v", s.port, readyWithin, err)
		case <-tick.C:
		}
	}
}

// StartCluster starts three redis-server masters with cluster mode on,
// joins them with redis-cli --cluster create, waits until every node
// reports cluster_state:ok (failing the test after clusterWithin) and
// returns their addresses. The servers are killed at the end of the test.
// Without redis-server or redis-cli the test is Missing.
func StartCluster(t testing.TB) []string {
	t.Helper()
	binaries(t, "redis-server", "redis-cli")
	var addrs []string
	for range 3 {
		dir := t.TempDir()
		s := Start(t, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--appendonly", "no")
		addrs = append(addrs, s.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	require.NoError(t, err, "redis-cli --cluster create: %s", out)
	ctx, cancel := context.WithTimeout(context.Background(), clusterWithin)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for _, addr := range addrs {
		if err := clusterOK(ctx, addr, tick.C); err != nil {
			t.Fatalf("cluster node %s not ok within %v: %v", addr, clusterWithin, err)
		}
	}
	return addrs
}

// clusterOK polls CLUSTER INFO on the node at addr at every tick until it
// reports cluster_state:ok, or ctx ends.
func clusterOK(ctx context.Context, addr string, tick <-chan time.Time) error {
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	defer c.Close()
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("%s", strings.TrimSpace(info))
			}
			return err
		case <-tick:
		}
	}
}
