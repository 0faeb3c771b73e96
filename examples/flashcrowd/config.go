package main

import (
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
)

// Config describes one run. The zero value of a field selects the default
// documented on it (see defaults).
type Config struct {
	Visitors int           // virtual visitors in the crowd. Default 20000.
	Window   time.Duration // they all arrive within it. Default 10s.
	Profile  string        // "spike" (evenly over the window) or "ramp" (arrivals per second growing linearly). Default spike.

	Capacity     int           // visitors inside at once. Default 6000: more than the rate times a visitor's way in (its next poll, the claim) and its stay, so that the rate is what limits.
	Rate         float64       // admissions per second. Default 1000.
	Think        time.Duration // mean time a visitor stays in checkout (uniform in [Think/2, 3Think/2]). Default 500ms.
	Session      time.Duration // access token lifetime: a slot not released leaks after it. Default 20s: longer than a visitor's way from its claim to the origin on a busy machine.
	ReleaseShare float64       // share of visitors who release their slot when done; the rest let it expire. Default 0.97; negative: none.
	Tick         time.Duration // the exchanger's period. Default 100ms (waitroom.DefaultTick).
	// ExchangeLimit caps the visitors one exchange step admits
	// (waitroom.WithExchangeLimit). Default waitroom.DefaultExchangeLimit.
	ExchangeLimit int

	Store     string // "memory", "redis://host:port/db", "redis+cluster://h1:p,h2:p" or "dynamodb://TABLE?endpoint=…". Default memory.
	Instances int    // waiting-room instances over the store, each a proxy of its own. Default 1.
	URL       string // drive a waiting room already running at this base URL instead of starting one
	Zone      string // the zone's name. Default "checkout".
	Path      string // the protected path. Default "/checkout".
	Follow    string // how waiting visitors follow the line: "push" (the page's event stream, over HTTP/2 so that every stream shares a few connections) or "poll" (the status endpoint, every Retry-After). Default push in process, poll with URL.

	Seed           uint64        // arrival and think-time randomness. Default 1.
	Timeout        time.Duration // the run stops then, whatever is left. Default: window + 2×visitors/rate + 60s.
	Stall          time.Duration // the run stops when nobody was let in for this long while visitors wait. Default 45s (longer than the claim window: slots reserved for visitors who have not seen their turn yet come back after it).
	Conns          int           // connections per instance the crowd opens at most (its browsers' sockets): a third for first requests and polls, two thirds for the visitors let in (see letInConns); the proxy opens half as many to the origin. Default capacity + 1024, at most 4000 over all instances, for the usual limit of open files: more than the visitors the origin may hold at once where it fits, so that the cap does not hide the origin's concurrency (the report says when it may have).
	RequestTimeout time.Duration // one request's limit from the moment it has a socket, on top of the think time; in a simulation, one call's on the Room. Default 30s; 10m in a simulation.
	MaxFailures    int           // consecutive failed requests after which a visitor gives up. Default 5.
	SampleEvery    time.Duration // the chart's resolution. Default 100ms.

	// Sim runs the sale on a virtual clock, in process and without
	// sockets: the visitors call the Room as their pages would, the
	// exchanger steps at every tick of the virtual clock (see virtual.go).
	// Timeout and Stall are then virtual time.
	Sim bool
	// ClaimDelay is, in a simulation, the mean time from a visitor's turn
	// to its claim (uniform within ±50%): the push that tells its page and
	// the claim's round trip. Default 100ms.
	ClaimDelay time.Duration
	// Quantum is, in a simulation, the step of the virtual clock: the
	// visitors' calls due within one step are made together, at its end,
	// by Workers callers at once (so that the Room batches them as it
	// batches a crowd's). Tick must be a multiple of it. Default 10ms.
	Quantum time.Duration
	// Workers is, in a simulation, how many visitors' calls are in flight
	// at once. Default 256.
	Workers int

	Progress io.Writer // the progress bar goes here; nil: none

	// wrapStore, if set, is put in front of each instance's store in a
	// simulation (tests: a store that makes fewer admissions a step).
	wrapStore func(waitroom.Store) waitroom.Store
}

func (c Config) withDefaults() (Config, error) {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if c.Visitors == 0 {
		c.Visitors = 20000
	}
	def(&c.Window, 10*time.Second)
	if c.Profile == "" {
		c.Profile = "spike"
	}
	if c.Capacity == 0 {
		c.Capacity = 6000
	}
	if c.Rate == 0 {
		c.Rate = 1000
	}
	def(&c.Think, 500*time.Millisecond)
	def(&c.Session, 20*time.Second)
	if c.ReleaseShare == 0 {
		c.ReleaseShare = 0.97
	}
	c.ReleaseShare = min(max(c.ReleaseShare, 0), 1)
	def(&c.Tick, waitroom.DefaultTick)
	if c.Store == "" {
		c.Store = "memory"
	}
	if c.Instances == 0 {
		c.Instances = 1
	}
	if c.Zone == "" {
		c.Zone = "checkout"
	}
	if c.Path == "" {
		c.Path = "/checkout"
	}
	if c.Follow == "" {
		c.Follow = followPush
		if c.URL != "" {
			c.Follow = followPoll
		}
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	def(&c.Stall, 45*time.Second)
	if c.Sim {
		// A simulation's calls wait only for the machine, and virtual
		// time does not pass meanwhile: the limit only ends a call that
		// hangs (DynamoDB Local takes a zone's transactions one by one,
		// and hundreds of claims queue for them).
		def(&c.RequestTimeout, 10*time.Minute)
	}
	def(&c.RequestTimeout, 30*time.Second)
	if c.MaxFailures == 0 {
		c.MaxFailures = 5
	}
	def(&c.SampleEvery, 100*time.Millisecond)
	if c.ExchangeLimit == 0 {
		c.ExchangeLimit = waitroom.DefaultExchangeLimit
	}
	def(&c.ClaimDelay, 100*time.Millisecond)
	def(&c.Quantum, 10*time.Millisecond)
	if c.Workers == 0 {
		c.Workers = 256
	}

	switch {
	case c.Visitors < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: visitors must be at least 1, got %d", c.Visitors)
	case c.Window < 0:
		return c, fmt.Errorf("waitroom: flashcrowd: window must not be negative, got %v", c.Window)
	case c.Profile != "spike" && c.Profile != "ramp":
		return c, fmt.Errorf("waitroom: flashcrowd: profile must be spike or ramp, got %q", c.Profile)
	case c.Capacity < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: capacity must be at least 1, got %d", c.Capacity)
	case c.Rate <= 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate):
		return c, fmt.Errorf("waitroom: flashcrowd: rate must be positive, got %g", c.Rate)
	case c.Think < 0:
		return c, fmt.Errorf("waitroom: flashcrowd: think time must not be negative, got %v", c.Think)
	case c.Instances < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: instances must be at least 1, got %d", c.Instances)
	case c.Conns != 0 && c.Conns < 3:
		return c, fmt.Errorf("waitroom: flashcrowd: conns must be at least 3 (a third for first requests), got %d", c.Conns)
	case c.Follow != followPush && c.Follow != followPoll:
		return c, fmt.Errorf("waitroom: flashcrowd: follow must be push or poll, got %q", c.Follow)
	case c.ExchangeLimit < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: exchange limit must be at least 1, got %d", c.ExchangeLimit)
	case c.Sim && c.URL != "":
		return c, fmt.Errorf("waitroom: flashcrowd: sim runs its own room in process; it takes no url (%q)", c.URL)
	case c.Sim && c.ClaimDelay < 0:
		return c, fmt.Errorf("waitroom: flashcrowd: claim delay must not be negative, got %v", c.ClaimDelay)
	case c.Sim && (c.Quantum <= 0 || c.Tick%c.Quantum != 0):
		return c, fmt.Errorf("waitroom: flashcrowd: quantum must divide the tick (%v), got %v", c.Tick, c.Quantum)
	case c.Sim && c.Workers < 1:
		return c, fmt.Errorf("waitroom: flashcrowd: workers must be at least 1, got %d", c.Workers)
	}
	if c.Conns == 0 {
		// Every connection costs two sockets in this process, every
		// request in the origin two more, and the event streams' HTTP/2
		// connections some: stay within the usual limit of open files.
		c.Conns = min(c.Capacity+1024, 4000/c.Instances)
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("waitroom: flashcrowd: -url %q is not an http(s) base URL", c.URL)
		}
	}
	if c.Timeout == 0 {
		rate := c.Rate
		if c.Sim {
			// Virtual time costs only the calls made in it: leave room
			// for a sale that the capacity holds below its rate.
			rate = min(rate, c.slotBound(c.expectedHold()))
		}
		c.Timeout = c.Window + time.Duration(2*float64(c.Visitors)/rate*float64(time.Second)) + time.Minute
	}
	return c, nil
}

// ownZone gives the run a zone of its own on a store that keeps data
// between runs and whose data the run cannot delete (DynamoDB: the zone's
// name with a random suffix; its data expires with its DataTTL).
// Elsewhere the zone keeps its name.
func (c Config) ownZone() Config {
	if scheme, _, _ := strings.Cut(c.Store, "://"); scheme == "dynamodb" {
		c.Zone += "-" + runID()
	}
	return c
}

// expectedHold is how long a visitor let in holds its slot on average:
// its way to the claim, then its think time if it releases its slot, or
// the session if it lets the slot leak.
func (c Config) expectedHold() time.Duration {
	return c.ClaimDelay + time.Duration(c.ReleaseShare*float64(c.Think)+(1-c.ReleaseShare)*float64(c.Session))
}

// slotBound is the most admissions per second the capacity allows when
// each visitor holds its slot for hold (Little's law: slots held = rate ×
// hold).
func (c Config) slotBound(hold time.Duration) float64 {
	if hold <= 0 {
		return math.Inf(1)
	}
	return float64(c.Capacity) / hold.Seconds()
}

// zone is the waiting room's zone for the run.
func (c Config) zone() waitroom.Zone {
	return waitroom.Zone{
		Name: c.Zone, Paths: []string{c.Path}, Capacity: c.Capacity, AdmitPerSecond: c.Rate,
		Session: c.Session, ClaimWindow: 30 * time.Second, AbandonAfter: time.Minute, DataTTL: 10 * time.Minute,
	}
}

// letInConns is the crowd's share of connections per instance for the
// visitors let in: two thirds. A visitor let in holds its slot until its
// claim reaches the room, so claims that queue for the crowd's sockets
// hold slots that browsers, each with its own socket, would not: with
// half the sockets, 17,000 claims at once waited some 17 s for one in a
// 100,000-visitor spike, and the slots they held, not the rate, limited
// the admissions. The first requests queue for the rest.
func (c Config) letInConns() int { return c.Conns - c.Conns/3 }
