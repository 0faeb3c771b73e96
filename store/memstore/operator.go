package memstore

import (
	"context"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Admit lets one waiting visitor in ahead of the line (see
// waitroom.Store).
func (s *Store) Admit(ctx context.Context, zoneName, visitor string, now time.Time) (waitroom.Slot, error) {
	z, n, err := s.zone(zoneName, now)
	if err != nil {
		return waitroom.Slot{}, err
	}
	defer z.mu.Unlock()
	seq, ok := z.waiting[visitor]
	if !ok {
		return waitroom.Slot{}, storekit.NotQueued(zoneName, visitor)
	}
	z.leak(n)
	if len(z.slots) >= z.state.Capacity {
		return waitroom.Slot{}, storekit.ZoneFull(zoneName, z.state.Capacity)
	}
	p := z.at(seq)
	sl := &slot{
		visitor: strings.Clone(p.visitor), seq: z.number(seq), token: storekit.NewID(), until: n + int64(z.state.ClaimWindow),
		arrived: p.arrived, lastSeen: p.lastSeen,
	}
	z.leave(seq)
	z.addSlot(sl)
	z.admittedTotal++
	z.lastAdmit = max(z.lastAdmit, n)
	z.emit(waitroom.Event{Kind: waitroom.EventAdmitted, Visitor: sl.visitor, QueueSeq: sl.seq, TokenID: sl.token, SlotUntil: unix(sl.until)}, n)
	return sl.public(), nil
}

// Head returns the first n places in line (see waitroom.Store): it walks
// the queue from its head past places that are gone.
func (s *Store) Head(ctx context.Context, zoneName string, n int, now time.Time) ([]waitroom.Place, error) {
	z, _, err := s.zone(zoneName, now)
	if err != nil {
		return nil, err
	}
	defer z.mu.Unlock()
	n = storekit.HeadCount(n)
	out := make([]waitroom.Place, 0, min(n, len(z.waiting)))
	for seq := z.head; seq < z.nextSeq && len(out) < n && len(z.waiting) > 0; seq++ {
		arrival := z.draw.Arrival(seq)
		if p := z.at(arrival); p.visitor != "" {
			out = append(out, z.waitingPlace(arrival, p))
		}
	}
	return out, nil
}
