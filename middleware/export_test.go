package middleware

import (
	"context"
	"time"
)

// WithWriteTimeout sets how long a push frame may take to be written
// (default 10s), for tests of the deadline itself.
func WithWriteTimeout(d time.Duration) Option { return func(c *config) { c.writeTimeout = d } }

// WithManualKeepAlive stops the notifier's own keepalive tick: heartbeats,
// pings, event streams' ends and paced moves fall due only when the test
// calls KeepAlive.
func WithManualKeepAlive() Option {
	return func(c *config) {
		c.ticker = func(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }
	}
}

// KeepAlive runs the due heartbeats of h's push connections (due on the
// Room's clock) and returns when they are done, and flags what else is due
// (pings, event streams' ends, paced moves): what the notifier's tick
// starts every quarter second, for tests on a manual clock.
func KeepAlive(h *Handler) { h.e.hub.keepAlive(context.Background()) }

// Connections returns the number of h's open push connections.
func Connections(h *Handler) int { return int(h.e.hub.count.Load()) }

// FramesSent returns the number of reports h's push connections have sent.
func FramesSent(h *Handler) int64 { return h.e.hub.frames.Load() }
