package waitroom

import (
	"sync"
	"time"
)

// This file holds the store's circuit breaker: after a run of failed store
// calls it answers the next ones at once, so that the fail policy applies
// without every request waiting for its own call to time out, and after a
// cool-down it lets one call through to see whether the store is back.

// breakerState is where a breaker stands.
type breakerState uint8

const (
	breakerClosed  breakerState = iota // calls go through; failures in a row are counted
	breakerOpen                        // calls fail fast until the cool-down has passed
	breakerProbing                     // one call, the probe, is in flight; the others fail fast
)

// callResult is how a store call ended, as the breaker counts it.
type callResult uint8

const (
	callAnswered callResult = iota // the store answered: a result or a sentinel of the contract
	callFailed                     // ErrStoreUnavailable, or no answer within the deadline
	callGaveUp                     // the caller gave up first: says nothing of the store
)

// breakerChange is a change of state that record reports, for the log.
type breakerChange uint8

const (
	breakerSame        breakerChange = iota
	breakerOpened                    // closed to open: the run of failures reached the limit
	breakerClosedAgain               // the probe was answered: closed again
)

// A breaker counts store calls that fail in a row and, at failures of
// them, opens: calls then fail fast until coolDown has passed on the
// Room's clock, when one call goes through as the probe. A late call
// (a batch, a waiting feed read) probes only once twice the cool-down has
// passed: while a zone's batch is in flight its visitors' calls wait for
// it, and a waiting read lasts its wait, so a probe that fails there
// holds them for its whole deadline, where an exchange step (each tick)
// or a claim holds nobody. An answered
// probe closes the breaker; a failed one opens it for another coolDown.
// Only the probe's result changes an open breaker: calls that were
// already in flight when it opened are not counted. Time is a parameter.
// A breaker is safe for concurrent use; its lock is held only around its
// own fields.
type breaker struct {
	failures int           // failures in a row that open it
	coolDown time.Duration // how long it stays open before a probe

	mu       sync.Mutex
	state    breakerState
	run      int       // failures in a row while closed
	openedAt time.Time // when it last opened (or a probe failed)
	since    time.Time // when it first opened in this outage
	probeNow bool      // a probe gave up: the next call probes at once
}

func newBreaker(failures int, coolDown time.Duration) *breaker {
	return &breaker{failures: failures, coolDown: coolDown}
}

// allow reports whether a call may go at now, and whether it is the probe
// (whose result the caller must record with probe set). late marks a call
// that should probe only when no other has (see breaker).
func (b *breaker) allow(now time.Time, late bool) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case breakerClosed:
		return true, false
	case breakerOpen:
		wait := b.coolDown
		if late {
			wait *= 2
		}
		if b.probeNow || !now.Before(b.openedAt.Add(wait)) {
			b.state, b.probeNow = breakerProbing, false
			return true, true
		}
	}
	return false, false
}

// record counts the result of a call allow let through, and reports the
// change it made. For breakerClosedAgain, down is how long the breaker
// was open, from the first failed run to the answered probe.
func (b *breaker) record(probe bool, res callResult, now time.Time) (change breakerChange, down time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		switch res {
		case callAnswered:
			b.state, b.run = breakerClosed, 0
			return breakerClosedAgain, now.Sub(b.since)
		case callFailed:
			b.state, b.openedAt = breakerOpen, now
		case callGaveUp:
			b.state, b.probeNow = breakerOpen, true
		}
		return breakerSame, 0
	}
	if b.state != breakerClosed {
		return breakerSame, 0 // in flight when it opened: the probe decides
	}
	switch res {
	case callAnswered:
		b.run = 0
	case callFailed:
		b.run++
		if b.run >= b.failures {
			b.state, b.openedAt, b.since, b.run = breakerOpen, now, now, 0
			return breakerOpened, 0
		}
	}
	return breakerSame, 0
}

// current returns the breaker's state, for tests.
func (b *breaker) current() breakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
