package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waitroom/waitroom"
)

// The visitors' calls in a simulation (virtual.go): which are due in a
// quantum, when the next ones are, and what each does on the Room.

// due lists the calls due in quantum k: arrivals, the heartbeats of those
// who arrived a multiple of the heartbeat period ago and still wait, the
// claims and the ends of the think times.
func (s *simRun) due(tasks []simTask, k int64, arrived *int, beatEvery int64) []simTask {
	until := time.Duration(k) * s.q
	lo := *arrived
	for *arrived < len(s.vs) && s.vs[*arrived].arrival < until {
		tasks = append(tasks, simTask{int32(*arrived), taskArrive})
		*arrived++
	}
	s.mu.Lock()
	slot := k % beatEvery
	ranges := s.beats[slot][:0]
	for _, r := range s.beats[slot] {
		for r.lo < r.hi && s.vs[r.lo].state != simWaiting {
			r.lo++
		}
		for i := r.lo; i < r.hi; i++ {
			if s.vs[i].state == simWaiting {
				tasks = append(tasks, simTask{i, taskHeartbeat})
			}
		}
		if r.lo < r.hi {
			ranges = append(ranges, r)
		}
	}
	if *arrived > lo {
		// They beat one period from now.
		ranges = append(ranges, beatRange{int32(lo), int32(*arrived)})
	}
	s.beats[slot] = ranges
	w := &s.wheel[k%int64(len(s.wheel))]
	tasks = append(tasks, *w...)
	*w = (*w)[:0]
	if put, ok := s.later[k]; ok {
		tasks = append(tasks, put...)
		delete(s.later, k)
	}
	s.mu.Unlock()
	return tasks
}

// schedule puts a call at the quantum in which instant at falls (the
// next one at the earliest). The caller holds s.mu.
func (s *simRun) schedule(t simTask, at time.Duration) {
	k := max(int64((at+s.q-1)/s.q), s.k+1)
	if k-s.k >= int64(len(s.wheel)) {
		s.later[k] = append(s.later[k], t)
		return
	}
	w := &s.wheel[k%int64(len(s.wheel))]
	*w = append(*w, t)
}

// now is the virtual time of the current quantum, since the sale's start.
func (s *simRun) now() time.Duration { return time.Duration(s.k) * s.q }

// room picks the instance for the next call: a load balancer without
// stickiness.
func (s *simRun) room() *waitroom.Room {
	return s.rooms[s.next.Add(1)%uint64(len(s.rooms))]
}

// claimDelay is visitor i's way from its turn to its claim: uniform within
// ±50% of ClaimDelay, drawn from its index.
func (s *simRun) claimDelay(i int32) time.Duration {
	u := float64(mix64(uint64(i)^s.cfg.Seed<<32)>>11) / (1 << 53)
	return time.Duration((0.5 + u) * float64(s.cfg.ClaimDelay))
}

// mix64 is splitmix64's finaliser: a well-spread hash of x.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// do makes one visitor's call. Calls of different visitors run at once;
// one visitor has at most one call in a quantum.
func (s *simRun) do(t simTask) {
	v := &s.vs[t.idx]
	s.calls.Add(1)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	switch t.kind {
	case taskArrive:
		out, err := s.room().Visit(ctx, s.zone, nil, true)
		if err != nil {
			s.fail(t, v, err)
			return
		}
		if len(out.Visitor.ID) != visitorIDLen {
			s.fail(t, v, fmt.Errorf("waitroom: flashcrowd: visitor id %q is not %d characters long", out.Visitor.ID, visitorIDLen))
			v.failures = uint8(s.cfg.MaxFailures)
			return
		}
		copy(v.id[:], out.Visitor.ID)
		s.placed(t.idx, v, out)
	case taskHeartbeat:
		if err := s.room().Heartbeat(ctx, s.zone, waitroom.Visitor{ID: string(v.id[:]), Zone: s.zone}); err != nil &&
			!errors.Is(err, waitroom.ErrNotQueued) {
			s.errors.Add(1)
			s.noteError(err)
		}
	case taskClaim:
		out, err := s.room().Claim(ctx, s.zone, s.visitor(v))
		if err != nil {
			s.fail(t, v, err)
			return
		}
		s.placed(t.idx, v, out)
	case taskLeave:
		if v.release {
			if _, err := s.room().Release(ctx, s.zone, string(v.id[:])); err != nil {
				s.fail(t, v, err)
				return
			}
		}
		v.state = simDone
		s.inOrigin.Add(-1)
		s.finished.Add(1)
	}
}

// visitor is v's visitor token, as its cookie holds it.
func (s *simRun) visitor(v *simVisitor) waitroom.Visitor {
	return waitroom.Visitor{ID: string(v.id[:]), Zone: s.zone, Arrived: simStart.Add(v.arrival)}
}

// placed records the outcome of a visit or a claim.
func (s *simRun) placed(i int32, v *simVisitor, out waitroom.Outcome) {
	now := s.now()
	switch out.State {
	case waitroom.StateInside:
		if v.state == simPending {
			v.direct, v.admitted = true, now
		}
		v.state = simInside
		n := s.inOrigin.Add(1)
		for m := s.maxOrigin.Load(); n > m && !s.maxOrigin.CompareAndSwap(m, n); m = s.maxOrigin.Load() {
		}
		hold := v.think
		if !v.release {
			hold = s.cfg.Session
		}
		s.holdNanos.Add(int64(now + hold - v.admitted))
		s.holds.Add(1)
		s.mu.Lock()
		addAt(&s.holdSec, int(v.admitted/time.Second), float64(now+hold-v.admitted))
		s.schedule(simTask{i, taskLeave}, now+v.think)
		s.mu.Unlock()
	case waitroom.StateWaiting:
		again := v.state != simPending
		v.state = simWaiting
		s.waiting.Add(1)
		seq := out.Place.Seq
		if seq < uint64(len(s.seqIdx)) {
			s.seqIdx[seq] = i + 1
		}
		if again || seq >= uint64(len(s.seqIdx)) {
			// Queued again (its claim window passed): its page beats
			// from now on.
			s.mu.Lock()
			if seq >= uint64(len(s.seqIdx)) {
				s.seqMore[seq] = i
			}
			if again {
				s.requeued++
				slot := s.k % int64(len(s.beats))
				s.beats[slot] = append(s.beats[slot], beatRange{i, i + 1})
			}
			s.mu.Unlock()
		}
	case waitroom.StateAdmitted:
		// A claim is not refused as admitted; try it again.
		s.mu.Lock()
		s.schedule(simTask{i, taskClaim}, now+s.q)
		s.mu.Unlock()
	default: // closed: the sale ended, or the line is full
		v.state = simDone
		s.closed.Add(1)
		s.finished.Add(1)
	}
}

// fail counts a failed call and tries it again in the next quantum, up to
// MaxFailures times in a row; then the visitor gives up.
func (s *simRun) fail(t simTask, v *simVisitor, err error) {
	s.errors.Add(1)
	s.noteError(err)
	v.failures++
	if int(v.failures) >= s.cfg.MaxFailures {
		if v.state == simWaiting {
			s.waiting.Add(-1)
		}
		if v.state == simInside {
			s.inOrigin.Add(-1)
		}
		v.state = simFailed
		s.failed.Add(1)
		s.finished.Add(1)
		return
	}
	s.mu.Lock()
	s.schedule(t, s.now()+s.q)
	s.mu.Unlock()
}

func (s *simRun) noteError(err error) {
	s.mu.Lock()
	if len(s.errs) < 5 {
		s.errs = append(s.errs, err.Error())
	}
	s.mu.Unlock()
}
