package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// feedBuffer is the number of recent events of a zone kept in memory, from
// this Store's own writes and from the stream.
const feedBuffer = 4096

// zoneFeed is what this Store knows of one zone's change feed: recent
// events by Seq, and a channel closed whenever events arrive.
type zoneFeed struct {
	mu     sync.Mutex
	epoch  string
	events map[uint64]waitroom.Event
	top    uint64        // highest Seq in events
	notify chan struct{} // closed and cleared when events arrive

	// Set by a table query that found the feed ending at end while the
	// stream reader (generation gen) was following the stream: every later
	// event reaches events through the stream.
	synced   bool
	syncGen  uint64
	end      uint64
	syncedAt time.Time
}

func (s *Store) zoneFeed(zone string) *zoneFeed {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	f := s.feeds[zone]
	if f == nil {
		f = &zoneFeed{events: make(map[uint64]waitroom.Event)}
		s.feeds[zone] = f
	}
	return f
}

// existingFeed returns the zone's feed if a reader asked for it.
func (s *Store) existingFeed(zone string) *zoneFeed {
	s.feedMu.Lock()
	defer s.feedMu.Unlock()
	return s.feeds[zone]
}

// add keeps evs (of epoch) and wakes waiting readers. f.mu is held.
func (f *zoneFeed) add(epoch string, evs ...waitroom.Event) {
	if epoch != f.epoch {
		f.epoch = epoch
		clear(f.events)
		f.top, f.synced = 0, false
	}
	for _, ev := range evs {
		f.events[ev.Seq] = ev
		f.top = max(f.top, ev.Seq)
	}
	if len(f.events) > feedBuffer {
		for seq := range f.events {
			if seq+feedBuffer/2 < f.top {
				delete(f.events, seq)
			}
		}
	}
	if f.notify != nil {
		close(f.notify)
		f.notify = nil
	}
}

// run returns the events after after held contiguously, up to limit. f.mu
// is held.
func (f *zoneFeed) run(epoch string, after uint64, limit int) []waitroom.Event {
	if epoch != f.epoch {
		return nil
	}
	var evs []waitroom.Event
	for seq := after + 1; len(evs) < limit; seq++ {
		ev, ok := f.events[seq]
		if !ok {
			break
		}
		evs = append(evs, ev)
	}
	return evs
}

// feedWritten records events this Store has just committed.
func (s *Store) feedWritten(zone, epoch string, evs []waitroom.Event) {
	f := s.existingFeed(zone)
	if f == nil {
		return
	}
	f.mu.Lock()
	f.add(epoch, evs...)
	f.mu.Unlock()
}

// ReadFeed returns up to limit events of zone with Seq > after, in order
// (limit <= 0 reads up to DefaultReadLimit). Events come from this Store's
// memory when it holds them (its own writes, the stream), else from a
// strongly consistent query of the outbox items. If there are none yet it
// waits up to wait: for the stream (WithStreams), or polling the outbox
// every poll interval; this Store's own writes wake it at once. It returns
// ctx.Err() when ctx is done first, an empty slice when the wait passes,
// and waitroom.ErrFeedTrimmed when the events after after are no longer
// kept or after is beyond the latest event (the zone was put anew).
func (s *Store) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := checkZone(zone); err != nil {
		return nil, storekit.NotFound(zone)
	}
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	m, err := s.readMeta(ctx, zone, s.cfg.cacheAge)
	if err != nil {
		return nil, err
	}
	f := s.zoneFeed(zone)
	return storekit.WaitFeed(ctx, wait, s.cfg.pollInterval, s.ctx.Done(), errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		if err := s.check(); err != nil {
			return nil, nil, err
		}
		return s.readFeedOnce(ctx, f, &m, after, limit)
	})
}

// readFeedOnce returns the events after after, if any, and a channel
// closed when more arrive.
func (s *Store) readFeedOnce(ctx context.Context, f *zoneFeed, m *meta, after uint64, limit int) ([]waitroom.Event, <-chan struct{}, error) {
	f.mu.Lock()
	if f.notify == nil {
		f.notify = make(chan struct{})
	}
	ch := f.notify
	evs := f.run(m.epoch, after, limit)
	gen, following := s.stream.following()
	skip := following && f.synced && f.syncGen == gen && f.epoch == m.epoch && after >= f.end &&
		f.top <= after && time.Since(f.syncedAt) < s.resyncAfter()
	f.mu.Unlock()
	if len(evs) > 0 || skip {
		return evs, ch, nil
	}
	evs, err := s.queryFeed(ctx, m, after, limit)
	if err != nil {
		return nil, nil, err
	}
	if len(evs) == 0 {
		if err := s.checkTrimmed(ctx, m, after); err != nil {
			return nil, nil, err
		}
	} else if evs[0].Seq != after+1 {
		return nil, nil, fmt.Errorf("%w: zone %q keeps events from %d, asked for after %d",
			waitroom.ErrFeedTrimmed, m.st.Name, evs[0].Seq, after)
	}
	f.mu.Lock()
	f.add(m.epoch, evs...)
	if len(evs) == 0 && following {
		f.synced, f.syncGen, f.end, f.syncedAt = true, gen, after, time.Now()
	}
	f.mu.Unlock()
	return evs, ch, nil
}

// resyncAfter bounds how long a reader relies on the stream alone before
// it queries the outbox again: the staleness if the stream stalls (20 poll
// intervals, 5s by default).
func (s *Store) resyncAfter() time.Duration { return s.cfg.streamResync }

// queryFeed reads the outbox items after after, in order.
func (s *Store) queryFeed(ctx context.Context, m *meta, after uint64, limit int) ([]waitroom.Event, error) {
	s.feedQueries.Add(1)
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s > %s", e.n(attrPK), e.v(str(m.keys().feedPK())), e.n(attrSK), e.v(str(pad(after))))
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: &s.table, KeyConditionExpression: aws.String(cond), ConsistentRead: aws.Bool(true),
		ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values, Limit: aws.Int32(int32(min(limit, 10000))),
	})
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unavailable("read feed", err)
	}
	s.usage.query(out.Items)
	evs := make([]waitroom.Event, 0, len(out.Items))
	for _, it := range out.Items {
		evs = append(evs, decodeEvent(it))
	}
	return evs, nil
}

// checkTrimmed is called when no event follows after: it reports
// ErrFeedTrimmed if the zone's feed says otherwise (events after after
// exist but are gone, or the feed ends before after).
func (s *Store) checkTrimmed(ctx context.Context, m *meta, after uint64) error {
	if m.fs == after {
		return nil
	}
	fresh, err := s.readMeta(ctx, m.st.Name, 0)
	if err != nil {
		return err
	}
	*m = fresh
	switch {
	case fresh.fs < after:
		return fmt.Errorf("%w: zone %q: the feed ends at %d, asked for after %d (the zone was put anew)",
			waitroom.ErrFeedTrimmed, m.st.Name, fresh.fs, after)
	case fresh.fs > after:
		evs, err := s.queryFeed(ctx, m, after, 1)
		if err != nil {
			return err
		}
		if len(evs) == 0 || evs[0].Seq != after+1 {
			return fmt.Errorf("%w: zone %q: events after %d have expired", waitroom.ErrFeedTrimmed, m.st.Name, after)
		}
	}
	return nil
}
