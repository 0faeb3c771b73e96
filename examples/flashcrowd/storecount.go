package main

import (
	"fmt"
	"strings"

	"github.com/waitroom/waitroom/waitroomtest"
)

// storeOps are the Store operations the report counts, in its order: first
// those a visitor's requests and page make (waitroomtest.RequestOps), then
// those each instance makes on its own clock (the exchanger's steps, the
// feed's reads, the report's sampler).
var storeOps = [...]struct{ label, op string }{
	{"register", "Register"}, {"position", "Position"},
	{"heartbeat", "Heartbeat"}, {"enter", "Enter"}, {"arrive", "Arrive"},
	{"claim", "Claim"}, {"release", "Release"},
	{"batch", "Batch"}, {"exchange", "Exchange"}, {"stats", "Stats"},
	{"feed", "ReadFeed"}, {"zone", "Zone"}, {"put zone", "PutZone"},
}

// storeCalls are the instances' stores, each counting the calls made to
// it: what a visitor costs the store, which bounds a crowd on Redis.
type storeCalls []*waitroomtest.CountingStore

// count sums the calls of the named operations over the instances, of all
// of them if none is named.
func (c storeCalls) count(ops ...string) int64 {
	var n int64
	for _, s := range c {
		n += s.Count(ops...)
	}
	return n
}

// byVisitors is the calls visitors' requests and pages made.
func (c storeCalls) byVisitors() int64 { return c.count(waitroomtest.RequestOps...) }

// batched sums the calls of the named operations that went in batches.
func (c storeCalls) batched(ops ...string) int64 {
	var n int64
	for _, s := range c {
		n += s.Batched(ops...)
	}
	return n
}

// String lists the non-zero counts, "register 100, position 250, …", and
// what the batches carried, "batch 40 (register 900, …)".
func (c storeCalls) String() string {
	var parts []string
	for _, o := range storeOps {
		n := c.count(o.op)
		if n == 0 {
			continue
		}
		part := fmt.Sprintf("%s %d", o.label, n)
		if o.op == "Batch" {
			var in []string
			for _, b := range storeOps {
				if m := c.batched(b.op); m > 0 {
					in = append(in, fmt.Sprintf("%s %d", b.label, m))
				}
			}
			part += " (" + strings.Join(in, ", ") + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
