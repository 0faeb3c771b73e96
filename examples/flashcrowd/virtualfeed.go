package main

import (
	"context"
	"runtime"
	"time"

	"github.com/waitroom/waitroom"
)

// The Rooms' side of a simulation (virtual.go): their exchange steps, the
// change feed's view of the line and the samples of the room.

// step makes every Room's exchange step at the tick of quantum k; the
// first Room's feed tells the simulation whom it let in (onEvent).
func (s *simRun) step(k int64) {
	sec := int(time.Duration(k) * s.q / time.Second)
	for len(s.lineAt) <= sec {
		s.lineAt = append(s.lineAt, 0)
	}
	line := s.waiting.Load() > 0
	if line {
		s.lineAt[sec] |= seenLine
	} else {
		s.lineAt[sec] |= seenEmpty
	}
	for _, r := range s.rooms {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
		if err := r.Step(ctx); err != nil && s.ctx.Err() == nil {
			s.errors.Add(1)
			s.noteError(err)
		}
		cancel()
	}
	if line {
		addAt(&s.fill, sec, float64(s.inside)/float64(s.cfg.Capacity))
	}
}

// onEvent follows the change feed: admissions (the order, the rate, the
// claims they call for) and the slots held.
func (s *simRun) onEvent(ev waitroom.Event) {
	if ev.Zone != s.zone {
		return
	}
	at := ev.At.Sub(simStart)
	switch ev.Kind {
	case waitroom.EventAdmitted, waitroom.EventEntered:
		if ev.Kind == waitroom.EventAdmitted {
			s.keys = append(s.keys, arrivalKey{ev.QueueSeq, 0})
			s.admittedFromLine(ev, at)
		} else {
			s.keys = append(s.keys, arrivalKey{s.maxSeq, ev.Seq})
		}
		q := int(at / s.q)
		for len(s.perQuantum) <= q {
			s.perQuantum = append(s.perQuantum, 0)
		}
		s.perQuantum[q]++
		s.lastAdmit = s.k
		s.inside++
		s.maxInside = max(s.maxInside, s.inside)
	case waitroom.EventReleased, waitroom.EventExpired:
		if ev.TokenID != "" {
			s.inside--
		}
	case waitroom.EventAbandoned:
		s.abandoned++
	}
	s.maxSeq = max(s.maxSeq, ev.QueueSeq)
}

// admittedFromLine schedules the claim of the visitor the feed let in.
func (s *simRun) admittedFromLine(ev waitroom.Event, at time.Duration) {
	var i int32 = -1
	if ev.QueueSeq < uint64(len(s.seqIdx)) {
		i = s.seqIdx[ev.QueueSeq] - 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.seqMore[ev.QueueSeq]; ok {
		i = j
		delete(s.seqMore, ev.QueueSeq)
	}
	if i < 0 || s.vs[i].state != simWaiting {
		return
	}
	v := &s.vs[i]
	v.state, v.admitted = simAdmitted, at
	s.waiting.Add(-1)
	s.schedule(simTask{i, taskClaim}, at+s.claimDelay(i))
}

// sample reads the room's state at now.
func (s *simRun) sample(now time.Time, arrived int) sample {
	smp := sample{At: now, Arrived: arrived, Admitted: len(s.keys), Waiting: int(s.waiting.Load()),
		Inside: s.inside, InOrigin: int(s.inOrigin.Load())}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	if st, err := s.rooms[0].Stats(ctx, s.zone); err == nil {
		smp.Waiting, smp.Inside = int(st.Waiting), st.Inside
	}
	return smp
}

// measurePeak measures the memory the line takes once every visitor has
// arrived: the heap's growth over the waiting places (memory store) or
// Redis's used_memory's.
func (s *simRun) measurePeak(fig *simFigures, meter *storeMeter, heapBase uint64) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.rooms[0].Stats(ctx, s.zone)
	if err != nil || st.Waiting == 0 {
		fig.PeakWaiting = -1
		return
	}
	fig.PeakWaiting = st.Waiting
	fig.PeakAt = s.now()
	if storeLabel(s.cfg.Store) == "memory" {
		runtime.GC()
		fig.HeapPerWaiting = (float64(heapInUse()) - float64(heapBase)) / float64(st.Waiting)
	}
	meter.peak(ctx, fig, st.Waiting)
}

// heapInUse is the bytes of live heap objects (after a collection).
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
