package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers each line with prefix and the line, until the test
// ends.
func echoServer(t *testing.T, prefix string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, prefix+line); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// client is a connection through the proxy that sends lines and reads the
// answers.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// ask sends line and returns the answer, or the error of reading it within
// limit.
func (c *client) ask(line string, limit time.Duration) (string, error) {
	c.t.Helper()
	_, err := io.WriteString(c.c, line+"\n")
	require.NoError(c.t, err, "write")
	c.c.SetReadDeadline(time.Now().Add(limit))
	got, err := c.r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s: not yet", what)
		}
		<-tick.C
	}
}

func TestForwards(t *testing.T) {
	p := newProxy(t, echoServer(t, "a:"))
	c := dial(t, p)
	got, err := c.ask("hello", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a:hello", got)
	// The reply can reach the client before the proxy has counted its
	// bytes: wait for the counts, do not read them once.
	waitFor(t, func() bool {
		st := p.Stats()
		return st.Up == int64(len("hello\n")) && st.Down == int64(len("a:hello\n"))
	}, "the bytes each way are counted")
	st := p.Stats()
	assert.EqualValues(t, 1, st.Accepted)
	assert.Equal(t, 1, st.Open)
	c.c.Close()
	waitFor(t, func() bool { return p.Stats().Open == 0 }, "the closed connection is forgotten")
}

// A latency delays each direction, keeps the order of what was sent, and
// does not serialise round trips: lines sent together come back together.
func TestLatency(t *testing.T) {
	p := newProxy(t, echoServer(t, ""))
	c := dial(t, p)
	const d = 50 * time.Millisecond
	p.SetLatency(d)
	start := time.Now()
	got, err := c.ask("one", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "one", got)
	assert.GreaterOrEqual(t, time.Since(start), 2*d, "a round trip costs twice the latency")

	start = time.Now()
	var lines []string
	for i := range 20 {
		lines = append(lines, string(rune('a'+i)))
	}
	_, err = io.WriteString(c.c, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err)
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range lines {
		got, err := c.r.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, want+"\n", got, "in order")
	}
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 2*d)
	assert.Less(t, took, 20*d, "pipelined lines are not delayed one after the other")

	p.SetLatency(0)
	got, err = c.ask("fast", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "fast", got)
}

// Drop resets open connections; new ones work.
func TestDrop(t *testing.T) {
	p := newProxy(t, echoServer(t, ""))
	c := dial(t, p)
	_, err := c.ask("x", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 1, p.Drop())
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.r.ReadString('\n')
	require.Error(t, err, "the client sees its connection end")
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "an end, not a timeout: %v", err)

	again := dial(t, p)
	got, err := again.ask("y", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "y", got)
}

// Half-open: the connection stays open, what is sent vanishes, the client
// hears nothing until its own deadline; healed, the same connection
// carries bytes again. A connection made while half-open goes nowhere.
func TestHalfOpen(t *testing.T) {
	p := newProxy(t, echoServer(t, ""))
	c := dial(t, p)
	_, err := c.ask("before", 5*time.Second)
	require.NoError(t, err)

	p.SetHalfOpen(true)
	_, err = c.ask("lost", 100*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "no answer, and no end either")
	late := dial(t, p)
	_, err = late.ask("nowhere", 100*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	st := p.Stats()
	assert.Equal(t, 2, st.Open, "both connections stay open")
	assert.EqualValues(t, len("lost\n")+len("nowhere\n"), st.Swallowed)

	p.SetHalfOpen(false)
	got, err := c.ask("after", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "after", got, "the connection from before carries bytes again; what was sent meanwhile is lost")
	_, err = late.ask("still nowhere", 100*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "a connection accepted half-open never reaches the target")
}

// Refused connections are reset at once; Heal ends every fault.
func TestRefuseAndHeal(t *testing.T) {
	p := newProxy(t, echoServer(t, ""))
	p.SetRefuse(true)
	p.SetLatency(time.Hour)
	refused(t, p)

	p.Heal()
	got, err := dial(t, p).ask("y", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "y", got)
}

// A target that is down resets the client at once.
func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	refused(t, newProxy(t, addr))
}

// refused checks that a connection through p is reset, at the dial or at
// the first read, rather than left silent.
func refused(t *testing.T, p *Proxy) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err == nil {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	require.Error(t, err)
	var ne net.Error
	assert.False(t, errors.As(err, &ne) && ne.Timeout(), "refused, not silent: %v", err)
}

// SetTarget moves new connections; open ones stay until dropped.
func TestSetTarget(t *testing.T) {
	p := newProxy(t, echoServer(t, "a:"))
	old := dial(t, p)
	_, err := old.ask("1", 5*time.Second)
	require.NoError(t, err)
	p.SetTarget(echoServer(t, "b:"))
	got, err := old.ask("2", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a:2", got)
	got, err = dial(t, p).ask("3", 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "b:3", got)
}

// Close ends every connection and goroutine (goleak checks the rest).
func TestClose(t *testing.T) {
	p := newProxy(t, echoServer(t, ""))
	p.SetLatency(time.Hour)
	c := dial(t, p)
	io.WriteString(c.c, "waiting\n")
	waitFor(t, func() bool { return p.Stats().Open == 1 }, "the connection is open")
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "twice")
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadString('\n')
	require.Error(t, err)
	_, err = net.Dial("tcp", p.Addr())
	assert.Error(t, err, "no longer listening")
}

func TestNewValidates(t *testing.T) {
	_, err := New("")
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "waitroom: faultproxy: "))
}
