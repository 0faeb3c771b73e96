package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom/internal/redisserver"
)

// This file names, for the package's tests, the real Redis servers that
// internal/redisserver starts: the shared one (WAITROOM_REDIS_URL, default
// redis://127.0.0.1:6379/0), dedicated servers on spare ports, and a
// three-master Cluster. In CI a missing Redis fails the test; elsewhere
// it skips it.

// redisURL returns the URL of the shared test Redis.
func redisURL() string { return redisserver.SharedURL() }

// sharedClient returns a client of the shared test Redis, closed at the
// end of the test.
func sharedClient(t testing.TB) *redis.Client {
	t.Helper()
	return redisserver.SharedClient(t)
}

// freePort returns a TCP port nobody listens on at the moment.
func freePort(t testing.TB) int {
	t.Helper()
	return redisserver.FreePort(t)
}

// server is a redis-server process the test started.
type server struct {
	*redisserver.Server
	t testing.TB
}

// startServer starts redis-server on a spare port in a temporary directory
// with the extra arguments, waits until it answers, and stops it at the
// end of the test.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	return &server{redisserver.Start(t, extra...), t}
}

func (s *server) addr() string { return s.Addr() }

// stop kills the server (as a crash would: no final save) and waits for it
// to exit. Stopping a stopped server does nothing.
func (s *server) stop() { s.Kill() }

// restart starts the server again on the same port and directory.
func (s *server) restart() {
	s.t.Helper()
	s.Restart()
}

// startCluster starts three redis-server masters joined in a Cluster,
// waits for cluster_state:ok on every node and returns their addresses.
// The servers stop at the end of the test.
func startCluster(t testing.TB) []string {
	t.Helper()
	return redisserver.StartCluster(t)
}
