package middleware

import (
	"context"
	"time"
)

// SetWriteTimeout sets how long a push frame may take to be written, until
// the returned func restores it.
func SetWriteTimeout(d time.Duration) (restore func()) {
	old := writeTimeout
	writeTimeout = d
	return func() { writeTimeout = old }
}

// KeepAlive runs the due heartbeats of h's push connections (due on the
// Room's clock) and returns when they are done: what the notifier's ticker
// starts every quarter second, for tests on a manual clock.
func KeepAlive(h *Handler) { h.e.push.keepAlive(context.Background(), true) }

// Connections returns the number of h's open push connections.
func Connections(h *Handler) int { return int(h.e.push.count.Load()) }

// FramesSent returns the number of reports h's push connections have sent.
func FramesSent(h *Handler) int64 { return h.e.push.frames.Load() }
