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
// reads again when woken, every poll (0: only when woken), until wait has
// passed (then it returns an empty slice), ctx is done (ctx.Err()) or
// closed is closed (errClosed). wait <= 0 reads once. It never returns a
// nil slice with a nil error.
func WaitFeed(ctx context.Context, wait, poll time.Duration, closed <-chan struct{}, errClosed error, read FeedRead) ([]waitroom.Event, error) {
	var timer, ticker <-chan time.Time
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
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
			if poll > 0 {
				tk := time.NewTicker(poll)
				defer tk.Stop()
				ticker = tk.C
			}
		}
		select {
		case <-woken:
		case <-ticker:
		case <-timer:
			return []waitroom.Event{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-closed:
			return nil, errClosed
		}
	}
}
