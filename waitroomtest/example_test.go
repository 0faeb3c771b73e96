package waitroomtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// What a newcomer and its place in line cost the store: Counting puts a
// counter in front of the store the Room is given.
func ExampleCounting() {
	ctx := context.Background()
	store, calls := waitroomtest.Counting(memstore.New())
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(store, waitroom.WithClock(clock.Now), waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 1, Session: time.Minute}))
	if err != nil {
		panic(err)
	}
	defer room.Close()
	calls.Reset()

	first, _ := room.Visit(ctx, "checkout", nil, true)  // the one slot is free
	second, _ := room.Visit(ctx, "checkout", nil, true) // it is not
	fmt.Println(first.State, second.State)
	// The memory store batches: each newcomer is one Arrive (Enter, or
	// else Register) in one Batch round trip.
	fmt.Println("round trips:", calls.Count(waitroomtest.RequestOps...), "arrivals:", calls.Batched("Arrive"))
	fmt.Println("single enters:", calls.Count("Enter"), "registers:", calls.Count("Register"))
	// Output:
	// inside waiting
	// round trips: 2 arrivals: 2
	// single enters: 0 registers: 0
}
