package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/waitroomtest"
)

// TestDemoWarnsOfRedisWithoutPersistence starts the demo against a real
// redis-server run without appendonly: the demo's log carries one warning
// naming the setting.
func TestDemoWarnsOfRedisWithoutPersistence(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed; scripts/test.sh installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	srv := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction")
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })

	logs := &waitroomtest.Log{}
	prev := slog.Default() // the demo logs there, and so does the store by default
	slog.SetDefault(logs.Logger())
	t.Cleanup(func() { slog.SetDefault(prev) })

	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	var d *demo
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The server needs a moment to listen: Open fails at once until then.
		d, err = build(context.Background(), options{store: url, capacity: 1, rate: 1, session: time.Minute})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, err)
	defer d.close()

	warnings := logs.Lines("WARN")
	require.Len(t, warnings, 1, logs.String())
	assert.Contains(t, warnings[0], `appendonly is \"no\"`)
	assert.NotContains(t, warnings[0], "maxmemory-policy")
}
