package middleware

import (
	"math"
	"time"

	"github.com/waitroom/waitroom"
)

// This file holds when a push connection speaks: its timings, how long it
// sleeps through the line's moves, and the ETA it reports as the line
// moves between two reads of the store.

// Push connection timings. Heartbeats, pings, an event stream's lifetime
// and the pace of position updates are counted on the Room's clock, like
// the abandonment timeout they serve, so tests on a manual clock move them
// (export_test.go: KeepAlive). On the wall clock run only the timers that
// must fire by themselves: the notifier's tick (config.ticker, which tests
// may stop), the push interval's coalescing, the final linger, and the
// timeouts of network writes and store calls.
const (
	keepAliveTick   = 250 * time.Millisecond // wall clock: how often the notifier checks for due heartbeats and pings
	pingInterval    = 20 * time.Second       // websocket ping, at most; never more than AbandonAfter/2
	pingTimeout     = 10 * time.Second       // wall clock: a pong later than this ends the connection
	statusTimeout   = 5 * time.Second        // wall clock: one heartbeat's store call
	eventsLifetime  = 30 * time.Second       // an event stream ends after this, at most AbandonAfter/2; the browser reconnects
	eventsRetry     = 1000                   // milliseconds before an EventSource reconnects
	finalLinger     = 5 * time.Second        // wall clock: after the final report, how long the client has to close first
	minStreamPeriod = time.Second            // the shortest ping interval and event stream lifetime
	maxMovePace     = 15 * time.Second       // the longest sleep through the line's moves
	resyncSpread    = 5 * time.Second        // the connections' store calls after lost events are spread over this

	// defaultWriteTimeout is how long a frame may take to be written
	// before the connection ends (config.writeTimeout).
	defaultWriteTimeout = 10 * time.Second
)

// pingEvery is the ping interval of a websocket in a zone whose
// AbandonAfter is abandon.
func pingEvery(abandon time.Duration) time.Duration {
	return min(pingInterval, max(abandon/2, minStreamPeriod))
}

// streamLifetime is how long an event stream in a zone whose AbandonAfter
// is abandon stays open.
func streamLifetime(abandon time.Duration) time.Duration {
	return min(eventsLifetime, max(abandon/2, minStreamPeriod))
}

// movePace is how long a connection whose report was just sent sleeps
// through the line's moves: a quarter of the visitor's shortest wait,
// within the push interval and maxMovePace.
func movePace(r *report, interval time.Duration) time.Duration {
	d := time.Duration(r.ETALowSeconds) * time.Second / 4
	return min(max(d, interval), max(maxMovePace, interval))
}

// scaleETA scales an ETA read for ahead0 places to ahead places at now:
// the wait after the opening is proportional to the places ahead (the
// Room's estimate is n/rate), the wait for the opening is counted again.
func scaleETA(e waitroom.ETA, ahead0, ahead int64, opensAt, at, now time.Time) waitroom.ETA {
	before := func(t time.Time) time.Duration {
		if opensAt.After(t) {
			return opensAt.Sub(t)
		}
		return 0
	}
	s0, s1 := before(at), before(now)
	if ahead == ahead0 && s0 == s1 {
		return e
	}
	k := float64(max(ahead, 0)+1) / float64(max(ahead0, 0)+1)
	f := func(d time.Duration) time.Duration {
		rest := max(d-s0, 0)
		v := s1.Seconds() + rest.Seconds()*k
		if v >= math.MaxInt64/float64(time.Second) {
			return time.Duration(math.MaxInt64)
		}
		return time.Duration(math.Ceil(v)) * time.Second
	}
	return waitroom.ETA{Expected: f(e.Expected), Low: f(e.Low), High: f(e.High)}
}
