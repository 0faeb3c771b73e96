package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
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
	out, err := srv.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	// The server says when it listens: wait for that line, not for a while.
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("redis-server did not get ready in 10s")
	}

	logs := &waitroomtest.Log{}
	prev := slog.Default() // the demo logs there, and so does the store by default
	slog.SetDefault(logs.Logger())
	t.Cleanup(func() { slog.SetDefault(prev) })

	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	d, err := build(context.Background(), options{store: url, capacity: 1, rate: 1, session: time.Minute})
	require.NoError(t, err)
	defer d.close()

	warnings := logs.Lines("WARN")
	require.Len(t, warnings, 1, logs.String())
	assert.Contains(t, warnings[0], `appendonly is \"no\"`)
	assert.NotContains(t, warnings[0], "maxmemory-policy")
}
