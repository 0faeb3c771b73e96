package waitroom

import (
	"math"
	"sync"
	"time"
)

// This file holds the estimate of a waiting visitor's wait, and the meter
// of admissions it follows.

// ETA estimates a waiting visitor's wait.
type ETA struct {
	Expected time.Duration // best estimate
	Low      time.Duration // if every admission runs at the zone's rate
	High     time.Duration // if every visitor inside stays its whole session
}

// eta estimates the wait of a visitor with ahead places before it. The line
// cannot move faster than the zone's rate, nor, when every visitor inside
// stays for the whole session, faster than Capacity per Session. The
// expected value follows the admission rate measured from the feed, held
// within that range.
func (r *Room) eta(e *zoneEntry, ahead int64, now time.Time) ETA {
	z := e.zone.Load()
	n := float64(ahead + 1)
	fastest := z.AdmitPerSecond
	slowest := min(fastest, float64(z.Capacity)/z.Session.Seconds())
	low, high := n/fastest, n/slowest
	expected := high
	if m := e.meter.rate(now); m > 0 {
		expected = min(max(n/m, low), high)
	}
	var start float64
	if z.OpensAt.After(now) {
		start = z.OpensAt.Sub(now).Seconds()
	}
	return ETA{Expected: seconds(start + expected), Low: seconds(start + low), High: seconds(start + high)}
}

// seconds returns s seconds as a Duration, rounded up to the second and
// capped at the longest Duration.
func seconds(s float64) time.Duration {
	if s > math.MaxInt64/float64(time.Second) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(math.Ceil(s)) * time.Second
}

// rateMeter counts admissions per second over a sliding window.
type rateMeter struct {
	mu     sync.Mutex
	counts [meterWindow]uint32
	secs   [meterWindow]int64 // the unix second each count belongs to
}

// meterWindow is the span of a rateMeter, in seconds.
const meterWindow = 30

// add counts one admission made at at.
func (m *rateMeter) add(at time.Time) {
	s := at.Unix()
	i := int(uint64(s) % meterWindow)
	m.mu.Lock()
	if m.secs[i] != s {
		m.secs[i], m.counts[i] = s, 0
	}
	m.counts[i]++
	m.mu.Unlock()
}

// rate returns admissions per second over the last meterWindow full seconds.
func (m *rateMeter) rate(now time.Time) float64 {
	end := now.Unix()
	var total uint32
	m.mu.Lock()
	for i := range m.secs {
		if s := m.secs[i]; s < end && s >= end-meterWindow {
			total += m.counts[i]
		}
	}
	m.mu.Unlock()
	return float64(total) / meterWindow
}
