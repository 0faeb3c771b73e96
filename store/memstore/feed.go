package memstore

import (
	"context"
	"fmt"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// feed is a zone's change feed: the last max events, in a ring. It is
// guarded by its zone's mutex.
type feed struct {
	max   int
	buf   []waitroom.Event // grows to max, then wraps
	start int              // index in buf of the oldest event kept
	last  uint64           // Seq of the latest event, 0 if none yet

	// notify is closed and cleared when events are appended; readers that
	// find nothing to read create it and wait on it. nil: nobody waits.
	notify chan struct{}
}

// append gives ev the next Seq and keeps it, dropping the oldest event
// when the feed is full.
func (f *feed) append(ev waitroom.Event) {
	f.last++
	ev.Seq = f.last
	if len(f.buf) < f.max {
		f.buf = append(f.buf, ev)
	} else {
		f.buf[f.start] = ev
		f.start = (f.start + 1) % len(f.buf)
	}
	f.wake()
}

// wake wakes every reader waiting for events.
func (f *feed) wake() {
	if f.notify != nil {
		close(f.notify)
		f.notify = nil
	}
}

// first returns the Seq of the oldest event kept (last+1 if none).
func (f *feed) first() uint64 {
	return f.last - uint64(len(f.buf)) + 1
}

// read returns up to limit events with Seq > after. trimmed reports that
// some of them are no longer kept.
func (f *feed) read(after uint64, limit int) (evs []waitroom.Event, trimmed bool) {
	if after >= f.last {
		return nil, after > f.last
	}
	if after+1 < f.first() {
		return nil, true
	}
	n := min(int(f.last-after), limit)
	evs = make([]waitroom.Event, n)
	i := int(after+1-f.first()) + f.start
	for k := range evs {
		evs[k] = f.buf[i%len(f.buf)]
		i++
	}
	return evs, false
}

// ReadFeed returns up to limit events of zone with Seq > after, in order
// (limit <= 0 reads up to DefaultReadLimit). If there are none yet it waits
// up to wait for one and returns an empty slice if none came, or ctx.Err()
// if ctx is done first. It returns waitroom.ErrFeedTrimmed if the events
// after after are no longer kept, and also if after is beyond the latest
// event: the feed was reset (the zone expired and was put again), so the
// reader must resynchronise too. An unknown zone is
// waitroom.ErrZoneNotFound. The zone's expiry is checked against the
// latest now any call has passed.
func (s *Store) ReadFeed(ctx context.Context, zoneName string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	return storekit.WaitFeed(ctx, wait, 0, s.done, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		if err := s.check(); err != nil {
			return nil, nil, err
		}
		z := s.lookup(zoneName, s.clock.Load())
		if z == nil {
			return nil, nil, storekit.NotFound(zoneName)
		}
		defer z.mu.Unlock()
		evs, trimmed := z.feed.read(after, limit)
		if trimmed {
			return nil, nil, fmt.Errorf("%w: zone %q keeps events %d to %d, asked for after %d",
				waitroom.ErrFeedTrimmed, zoneName, z.feed.first(), z.feed.last, after)
		}
		if len(evs) == 0 && z.feed.notify == nil {
			z.feed.notify = make(chan struct{})
		}
		return evs, z.feed.notify, nil
	})
}
