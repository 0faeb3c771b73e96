// Package waitroomtest helps apps test their use of waitroom without
// sleeping: a manual clock to pass to waitroom.WithClock (a Room with
// waitroom.WithManualStep then admits visitors only when the test says so),
// and a CountingStore that tells what requests cost the store.
package waitroomtest

import (
	"sync"
	"time"
)

// Start is the instant a new Clock reads: 2026-03-01 10:00:00 UTC.
var Start = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// Clock is a manual clock. Its zero value reads Start. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's reading. Pass c.Now to waitroom.WithClock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Start
	}
	return c.now
}

// Advance moves the clock forward by d and returns the new reading.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now.IsZero() {
		c.now = Start
	}
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}
