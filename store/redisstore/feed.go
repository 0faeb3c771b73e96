package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// ReadFeed returns up to limit events of zone with Seq > after, in order
// (limit <= 0 reads up to DefaultReadLimit; see waitroom.Store). It first
// reads the stream with XRANGE from the stream id <after+1>-0 (script
// lua/readfeed.lua: one round trip). If nothing is there and wait > 0 it
// blocks on XREAD BLOCK from <after>-0 for at most wait, on a goroutine of
// its own so that it returns at once when ctx is done; at most
// WithMaxBlockingReads such reads run at once, further readers poll every
// 50ms. It returns waitroom.ErrFeedTrimmed if events after after are no
// longer kept, and also if after is beyond the latest event (the zone
// expired and was put again, or Redis lost data): the reader must
// resynchronise. An unknown zone is waitroom.ErrZoneNotFound.
func (s *Store) ReadFeed(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	if zone == "" {
		return nil, storekit.NotFound(zone)
	}
	if limit <= 0 {
		limit = DefaultReadLimit
	}
	deadline := time.Now().Add(wait)
	evs, err := s.readFeed(ctx, zone, after, limit)
	if err != nil || len(evs) > 0 || wait <= 0 {
		return evs, err
	}
	var poll *time.Timer
	for {
		remaining := time.Until(deadline)
		if remaining < time.Millisecond {
			return evs, nil
		}
		select {
		case s.blocking <- struct{}{}:
			if poll != nil {
				poll.Stop()
			}
			return s.blockingRead(ctx, zone, after, limit, remaining)
		default:
		}
		// Every blocking read is taken: look again shortly.
		if poll == nil {
			poll = time.NewTimer(min(feedPollInterval, remaining))
			defer poll.Stop()
		} else {
			poll.Reset(min(feedPollInterval, remaining))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.done:
			return nil, errClosed
		case <-poll.C:
		}
		if evs, err = s.readFeed(ctx, zone, after, limit); err != nil || len(evs) > 0 {
			return evs, err
		}
	}
}

// readFeed reads the events after after without waiting.
func (s *Store) readFeed(ctx context.Context, zone string, after uint64, limit int) ([]waitroom.Event, error) {
	res, err := s.run(ctx, scriptReadFeed, zone, s.latestArg(), strconv.FormatUint(after, 10), limit)
	if err != nil {
		return nil, err
	}
	r := newReply(res)
	switch r.status {
	case "NOZONE":
		return nil, storekit.NotFound(zone)
	case "TRIMMED":
		return nil, trimmed(zone, after, uint64(r.int(0)), uint64(r.int(1)))
	case "OK":
	default:
		return nil, unexpected(res)
	}
	entries, _ := r.vals[0].([]any)
	evs := make([]waitroom.Event, 0, len(entries))
	for _, e := range entries {
		msg, err := scriptEntry(e)
		if err != nil {
			return nil, err
		}
		ev, err := event(zone, msg)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

// blockingRead waits on XREAD BLOCK for events after after. The caller
// holds a token of s.blocking; the reading goroutine gives it back.
func (s *Store) blockingRead(ctx context.Context, zone string, after uint64, limit int, wait time.Duration) ([]waitroom.Event, error) {
	type result struct {
		streams []redis.XStream
		err     error
	}
	ch := make(chan result, 1)
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		defer func() { <-s.blocking }()
		streams, err := s.client.XRead(ctx, &redis.XReadArgs{
			Streams: []string{s.zoneKey(zone, keyFeed), strconv.FormatUint(after, 10) + "-0"},
			Count:   int64(limit),
			Block:   max(wait, time.Millisecond),
		}).Result()
		ch <- result{streams, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.done:
		return nil, errClosed
	}
	if errors.Is(res.err, redis.Nil) {
		return []waitroom.Event{}, nil
	}
	if res.err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, unavailable(res.err)
	}
	var msgs []redis.XMessage
	if len(res.streams) > 0 {
		msgs = res.streams[0].Messages
	}
	evs := make([]waitroom.Event, 0, len(msgs))
	for _, m := range msgs {
		ev, err := event(zone, m)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	if len(evs) > 0 && evs[0].Seq != after+1 {
		return nil, trimmed(zone, after, evs[0].Seq, evs[len(evs)-1].Seq)
	}
	return evs, nil
}

func trimmed(zone string, after, first, last uint64) error {
	return fmt.Errorf("%w: zone %q keeps events from %d to %d, asked for after %d",
		waitroom.ErrFeedTrimmed, zone, first, last, after)
}

// scriptEntry converts one stream entry as a script returns it,
// {id, {field, value, ...}}, to an XMessage.
func scriptEntry(e any) (redis.XMessage, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return redis.XMessage{}, unavailable(fmt.Errorf("unexpected stream entry %v", e))
	}
	id, _ := pair[0].(string)
	fields, _ := pair[1].([]any)
	m := redis.XMessage{ID: id, Values: make(map[string]any, len(fields)/2)}
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		m.Values[k] = fields[i+1]
	}
	return m, nil
}

// event decodes one feed entry. Its stream id is <seq>-0; its fields are
// k (kind), t (at), and where they apply v (visitor), q (queue seq), id
// (token id), u (slot until) and ver (zone version).
func event(zone string, m redis.XMessage) (waitroom.Event, error) {
	seqText, _, _ := strings.Cut(m.ID, "-")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return waitroom.Event{}, unavailable(fmt.Errorf("unexpected stream id %q", m.ID))
	}
	num := func(k string) int64 {
		if err != nil {
			return 0
		}
		v, ok := m.Values[k]
		if !ok {
			return 0
		}
		var n int64
		switch v := v.(type) {
		case string:
			n, err = strconv.ParseInt(v, 10, 64)
		case int64:
			n = v
		default:
			err = fmt.Errorf("field %s: unexpected %T", k, v)
		}
		return n
	}
	text := func(k string) string {
		v, _ := m.Values[k].(string)
		return v
	}
	ev := waitroom.Event{
		Seq:       seq,
		Zone:      zone,
		Kind:      waitroom.EventKind(num("k")),
		Visitor:   text("v"),
		QueueSeq:  uint64(num("q")),
		TokenID:   text("id"),
		At:        micros(num("t")),
		Version:   uint64(num("ver")),
		SlotUntil: micros(num("u")),
	}
	if err != nil {
		return waitroom.Event{}, unavailable(fmt.Errorf("stream entry %s: %w", m.ID, err))
	}
	return ev, nil
}
