package waitroom_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// A Room with one zone of two places: two visitors go straight in; the
// third waits, first in line (nobody ahead of it).
func ExampleNew() {
	room, err := waitroom.New(memstore.New(), waitroom.WithZone(waitroom.Zone{
		Name:           "checkout",
		Paths:          []string{"/checkout"},
		Capacity:       2,
		AdmitPerSecond: 100,
		Session:        10 * time.Minute,
	}))
	if err != nil {
		panic(err)
	}
	defer room.Close()

	for i := 1; i <= 3; i++ {
		o, err := room.Visit(context.Background(), "checkout", nil, true)
		if err != nil {
			panic(err)
		}
		fmt.Printf("visitor %d: %s, %d ahead\n", i, o.State, o.Place.Ahead)
	}
	// Output:
	// visitor 1: inside, 0 ahead
	// visitor 2: inside, 0 ahead
	// visitor 3: waiting, 0 ahead
}

// Testing an app that uses a Room, without sleeping: a manual clock and
// manual exchange steps. Fill the zone, let the first session run out,
// advance the clock, step, and the next visitor in line is in.
func Example_testing() {
	ctx := context.Background()
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(memstore.New(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, Session: 30 * time.Second}),
		waitroom.WithClock(clock.Now),
		waitroom.WithManualStep())
	if err != nil {
		panic(err)
	}
	defer room.Close()

	first, _ := room.Visit(ctx, "checkout", nil, true)
	second, _ := room.Visit(ctx, "checkout", nil, true)
	third, _ := room.Visit(ctx, "checkout", nil, true)
	fmt.Println("first:", first.State, "second:", second.State, "third:", third.State)

	clock.Advance(30 * time.Second) // the first visitor's session ends
	room.Step(ctx)                  // the exchanger lets the next one in
	second, _ = room.Visit(ctx, "checkout", &second.Visitor, false)
	third, _ = room.Status(ctx, "checkout", third.Visitor)
	fmt.Println("second:", second.State, "third:", third.State, "ahead of third:", third.Place.Ahead)
	// Output:
	// first: inside second: waiting third: waiting
	// second: inside third: waiting ahead of third: 0
}

// Rotating keys: sign with the newest, keep verifying with the old one
// until its tokens have expired.
func ExampleKeyRing() {
	old, _ := waitroom.GenerateKey("2026-10", waitroom.AlgHS256)
	ring, _ := waitroom.NewKeyRing(old)
	now := waitroomtest.Start
	tok, _ := ring.SignAccess(waitroom.Access{Visitor: "v1", Zone: "checkout", TokenID: "t1", Expires: now.Add(time.Hour)})

	next, _ := waitroom.GenerateKey("2026-11", waitroom.AlgEdDSA)
	rotated, _ := waitroom.NewKeyRing(old, next) // give it to the Room with Room.SetKeys
	a, err := rotated.VerifyAccess(tok, "checkout", now)
	fmt.Println(a.Visitor, err, rotated.SigningKey().ID)
	// Output: v1 <nil> 2026-11
}

// A waiting page that holds a push connection open keeps its visitor's
// place with heartbeats; a visitor nobody speaks for is skipped once
// AbandonAfter has passed, and its next heartbeat says it holds no place.
func ExampleRoom_Heartbeat() {
	ctx := context.Background()
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(memstore.New(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, AbandonAfter: time.Minute}),
		waitroom.WithClock(clock.Now),
		waitroom.WithManualStep())
	if err != nil {
		panic(err)
	}
	defer room.Close()

	inside, _ := room.Visit(ctx, "checkout", nil, true)
	gone, _ := room.Visit(ctx, "checkout", nil, true)    // first in line; its page closes
	watched, _ := room.Visit(ctx, "checkout", nil, true) // second; its page stays open
	for range 4 {
		clock.Advance(20 * time.Second)
		if err := room.Heartbeat(ctx, "checkout", watched.Visitor); err != nil {
			panic(err)
		}
	}
	room.Release(ctx, "checkout", inside.Visitor.ID)
	room.Step(ctx) // skips gone, unseen for 80 s, and lets watched in

	now, _ := room.Status(ctx, "checkout", watched.Visitor)
	fmt.Println("watched:", now.State)
	fmt.Println("gone still queued:", !errors.Is(room.Heartbeat(ctx, "checkout", gone.Visitor), waitroom.ErrNotQueued))
	// Output:
	// watched: admitted
	// gone still queued: false
}
