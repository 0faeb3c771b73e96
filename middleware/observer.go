package middleware

import "github.com/waitroom/waitroom"

// An Observer is told what the middleware sees, for metrics: package
// metrics's Metrics is one. Its methods are called on the request's
// goroutine and must return quickly.
type Observer interface {
	// CacheLookup is told of every look for an access token in the edge
	// cache: hit, or a miss that costs a signature check.
	CacheLookup(hit bool)
	// PushConnections is told that the open push connections of channel
	// ("websocket" or "sse") changed by delta.
	PushConnections(channel string, delta int)
	// FailPolicy is told of every request of zone that the fail policy p
	// served while the store was unavailable.
	FailPolicy(zone string, p waitroom.FailPolicy)
	// EntryRefused is told of every newcomer of zone given no place by the
	// entry protection, and why: "limit" (WithEntryLimit), or the entry
	// check's "deny", "throttle", "challenge" or "check_error".
	EntryRefused(zone, reason string)
}

// WithObserver tells o what the middleware sees (see Observer). Default:
// none, at no cost.
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// channel names a watcher's push channel for an Observer.
func channel(events bool) string {
	if events {
		return "sse"
	}
	return "websocket"
}
