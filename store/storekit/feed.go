package storekit

import (
	"context"
	"time"

	"github.com/waitroom/waitroom"
)

// A FeedRead reads a zone's events once, as ReadFeed would without
// waiting. With no events it returns a channel closed when more may have
// come (nil if the store has none to offer: then WaitFeed polls).
type FeedRead func() ([]waitroom.Event, <-chan struct{}, error)

// WaitFeed is the wait of ReadFeed: it reads, and while nothing has come
// reads again when woken or when poll has passed since the last read (0:
// only when woken), until wait has
// passed (then it returns an empty slice), ctx is done (ctx.Err()) or
// closed is closed (errClosed). wait <= 0 reads once. It never returns a
// nil slice with a nil error.
func WaitFeed(ctx context.Context, wait, poll time.Duration, closed <-chan struct{}, errClosed error, read FeedRead) ([]waitroom.Event, error) {
	var timer *time.Timer
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		evs, woken, err := read()
		if err != nil {
			return nil, err
		}
		if len(evs) > 0 || wait <= 0 {
			if evs == nil {
				evs = []waitroom.Event{}
			}
			return evs, nil
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		// The poll runs from each read: a wake-up restarts it.
		var polled <-chan time.Time
		var pt *time.Timer
		if poll > 0 {
			pt = time.NewTimer(poll)
			polled = pt.C
		}
		select {
		case <-woken:
		case <-polled:
		case <-timer.C:
			return []waitroom.Event{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closed:
			return nil, errClosed
		}
		if pt != nil {
			pt.Stop()
		}
	}
}
