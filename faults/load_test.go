package faults

import (
	"fmt"
	"maps"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the load a scenario puts on a sale while it breaks
// something, and the sampler that watches the process's goroutines and
// heap meanwhile.

// crowd is newcomers arriving at a sale, and what they were answered.
type crowd struct {
	s    *sale
	stop chan struct{}
	wg   sync.WaitGroup

	sent     chan struct{} // closed when an open loop has sent its last
	inflight atomic.Int64  // requests sent and not yet answered

	mu        sync.Mutex
	codes     map[int]int
	errs      int
	latencies []time.Duration
	starts    []time.Time // of each latency
	queued    []*visitor  // newcomers given a place (429)
}

// startCrowd sends newcomers, workers at a time, each asking as soon as
// the one before was answered, until stop.
func (s *sale) startCrowd(workers int) *crowd {
	c := &crowd{s: s, stop: make(chan struct{}), codes: make(map[int]int)}
	for w := range workers {
		c.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-c.stop:
					return
				default:
				}
				c.one(s.visitor(fmt.Sprintf("crowd-%d-%d", w, i)))
			}
		})
	}
	return c
}

// startArrivals sends newcomers at a fixed rate, each on a goroutine of
// its own whatever the answers before (an open loop: a slow answer does
// not slow the arrivals), n in all.
func (s *sale) startArrivals(perSecond, n int) *crowd {
	c := &crowd{s: s, stop: make(chan struct{}), codes: make(map[int]int), sent: make(chan struct{})}
	c.wg.Go(func() {
		defer close(c.sent)
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for i := range n {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			v := s.visitor(fmt.Sprintf("arrival-%d", i))
			c.wg.Go(func() { c.one(v) })
		}
	})
	return c
}

func (c *crowd) one(v *visitor) {
	start := time.Now()
	c.inflight.Add(1)
	code, _, err := v.get()
	c.inflight.Add(-1)
	took := time.Since(start)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs++
		return
	}
	c.codes[code]++
	c.latencies = append(c.latencies, took)
	c.starts = append(c.starts, start)
	if code == http.StatusTooManyRequests {
		c.queued = append(c.queued, v)
	}
}

// end stops the crowd and waits for its requests.
func (c *crowd) end() {
	close(c.stop)
	c.wg.Wait()
}

// answered returns how many got each status, and the transport errors.
func (c *crowd) answered() (map[int]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.codes), c.errs
}

// percentile returns the p-th percentile of the answers' latencies.
func (c *crowd) percentile(p float64) time.Duration { return c.percentileSince(p, time.Time{}) }

// percentileSince is percentile over the requests sent from since on.
func (c *crowd) percentileSince(p float64, since time.Time) time.Duration {
	c.mu.Lock()
	var ls []time.Duration
	for i, l := range c.latencies {
		if !c.starts[i].Before(since) {
			ls = append(ls, l)
		}
	}
	c.mu.Unlock()
	if len(ls) == 0 {
		return 0
	}
	slices.Sort(ls)
	return ls[min(len(ls)-1, int(p/100*float64(len(ls))))]
}

// sampler watches the process's goroutines and heap until stopped.
type sampler struct {
	stop chan struct{}
	done chan struct{}

	base     int    // goroutines at the start
	baseHeap uint64 // heap in use at the start
	peak     int
	peakHeap uint64
}

func startSampler() *sampler {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	sm := &sampler{stop: make(chan struct{}), done: make(chan struct{}), base: runtime.NumGoroutine(), baseHeap: ms.HeapInuse}
	sm.peak, sm.peakHeap = sm.base, sm.baseHeap
	go func() {
		defer close(sm.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-sm.stop:
				return
			case <-tick.C:
			}
			sm.peak = max(sm.peak, runtime.NumGoroutine())
			if n%5 == 0 {
				runtime.ReadMemStats(&ms)
				sm.peakHeap = max(sm.peakHeap, ms.HeapInuse)
			}
		}
	}()
	return sm
}

// end stops the sampler; its figures are final then.
func (sm *sampler) end() *sampler {
	close(sm.stop)
	<-sm.done
	return sm
}

func (sm *sampler) String() string {
	return fmt.Sprintf("goroutines %d at the start, %d at the peak; heap in use %.1f MiB, %.1f MiB at the peak",
		sm.base, sm.peak, float64(sm.baseHeap)/(1<<20), float64(sm.peakHeap)/(1<<20))
}
