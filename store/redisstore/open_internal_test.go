package redisstore

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A client Open builds ends a call at its context's deadline, not at the
// read timeout: against a server that accepts and never answers, a call
// with a 50ms deadline fails well before the read timeout (1s), which
// would otherwise end it. The bound is ten times the deadline: a busy
// machine does not reach it; a client that ignores the deadline always
// does.
func TestOpenHonoursCallDeadlines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c // held open, never answered
		}
	}()
	defer func() {
		ln.Close()
		for c := range conns {
			c.Close()
		}
	}()
	for _, url := range []string{"redis://" + ln.Addr().String() + "/0", "redis+cluster://" + ln.Addr().String()} {
		c, err := clientFromURL(url)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		err = c.Ping(ctx).Err()
		took := time.Since(start)
		cancel()
		c.Close()
		require.Error(t, err, url)
		assert.Less(t, took, OpenReadTimeout/2, "%s: the call lasted %v (%v)", url, took, err)
	}
}
