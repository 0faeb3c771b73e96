package storekit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
	"github.com/waitroom/waitroom/waitroomtest"
)

// Accrue gives the same credit whatever unit a store counts time in.
func TestAccrueUnits(t *testing.T) {
	t0 := waitroomtest.Start
	z := waitroom.ZoneState{AdmitPerSecond: 10, OpensAt: t0.Add(time.Second)} // a burst of 2.5
	for _, unit := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond} {
		at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() / int64(unit) }
		c, when := storekit.Accrue(z, 0, at(0), at(1100*time.Millisecond), unit)
		assert.InDelta(t, 1.0, c, 1e-9, "%v: 100ms after the opening at 10/s, nothing before it", unit)
		assert.Equal(t, at(1100*time.Millisecond), when)
		c, when = storekit.Accrue(z, c, when, at(time.Second), unit)
		assert.InDelta(t, 1.0, c, 1e-9, "%v: an earlier now takes nothing back", unit)
		assert.Equal(t, at(1100*time.Millisecond), when, "%v: and keeps the later instant", unit)
		c, _ = storekit.Accrue(z, c, when, at(time.Hour), unit)
		assert.Equal(t, 2.5, c, "%v: capped at the burst", unit)
	}
}

func TestWaitFeed(t *testing.T) {
	ctx := context.Background()
	errClosed := errors.New("closed")
	evs, err := storekit.WaitFeed(ctx, 0, 0, nil, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		return nil, nil, nil
	})
	require.NoError(t, err)
	assert.NotNil(t, evs, "an empty read is an empty slice, not nil")

	// Woken, it reads again and returns what came.
	woken := make(chan struct{})
	reads := 0
	evs, err = storekit.WaitFeed(ctx, time.Hour, 0, nil, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		reads++
		if reads == 1 {
			close(woken)
			return nil, woken, nil
		}
		return []waitroom.Event{{Seq: 1}}, nil, nil
	})
	require.NoError(t, err)
	assert.Equal(t, []waitroom.Event{{Seq: 1}}, evs)
	assert.Equal(t, 2, reads)

	// Closed while waiting.
	closed := make(chan struct{})
	close(closed)
	_, err = storekit.WaitFeed(ctx, time.Hour, 0, closed, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		return nil, nil, nil
	})
	require.ErrorIs(t, err, errClosed)

	// A read's error ends the wait.
	_, err = storekit.WaitFeed(ctx, time.Hour, 0, nil, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		return nil, nil, storekit.NotFound("z")
	})
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)

	// A cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = storekit.WaitFeed(cctx, time.Hour, 0, nil, errClosed, func() ([]waitroom.Event, <-chan struct{}, error) {
		return nil, nil, nil
	})
	require.ErrorIs(t, err, context.Canceled)
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{
		storekit.NotFound("z"), storekit.NotQueued("z", "v"), storekit.NotAdmitted("z", "v", "slot expired"),
		storekit.ClaimExpired("z", "v"), storekit.Unavailable("mystore", errors.New("down")), storekit.Closed("mystore"),
		storekit.EmptyVisitor("mystore"),
	} {
		assert.Regexp(t, `^waitroom: `, err.Error())
	}
	assert.ErrorIs(t, storekit.Closed("mystore"), waitroom.ErrStoreUnavailable)
	assert.Len(t, storekit.NewID(), 22)
}
