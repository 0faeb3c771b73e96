package waitroom

import (
	"sort"
	"sync"
	"sync/atomic"
)

// This file holds the subscribers to a Room's change feed.

// Subscribe calls fn with every event of every zone's change feed, in order
// per zone, from the goroutine that reads the feed (or from Step). fn must
// not block. The returned func unsubscribes.
func (r *Room) Subscribe(fn func(Event)) (cancel func()) { return r.subs.add(fn) }

// subscribers are the funcs a Room hands each change-feed event to. add
// and its cancel take a lock and publish a fresh list; dispatch reads the
// published list without one, so a feed reader never waits for Subscribe.
// The zero value has no subscribers and is ready to use.
type subscribers struct {
	mu     sync.Mutex
	fns    map[int]func(Event) // by subscription id; guarded by mu
	nextID int                 // guarded by mu

	list atomic.Pointer[[]func(Event)] // fns in subscription order
}

// add subscribes fn and returns the func that unsubscribes it.
func (s *subscribers) add(fn func(Event)) (cancel func()) {
	s.mu.Lock()
	if s.fns == nil {
		s.fns = make(map[int]func(Event))
	}
	id := s.nextID
	s.nextID++
	s.fns[id] = fn
	s.publish()
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.fns, id)
		s.publish()
		s.mu.Unlock()
	}
}

// publish stores the list dispatch reads; s.mu is held.
func (s *subscribers) publish() {
	ids := make([]int, 0, len(s.fns))
	for id := range s.fns {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	fns := make([]func(Event), len(ids))
	for i, id := range ids {
		fns[i] = s.fns[id]
	}
	s.list.Store(&fns)
}

// dispatch calls every subscriber with ev, in subscription order.
func (s *subscribers) dispatch(ev Event) {
	list := s.list.Load()
	if list == nil {
		return
	}
	for _, fn := range *list {
		fn(ev)
	}
}
