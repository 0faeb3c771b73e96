package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/redisstore"
)

// The examples without an Output line are compiled, not run: they serve
// HTTP until stopped, or reach a Redis Cluster that is not there. Example
// (below) runs, against the Redis the tests use.

// A Room over Redis: the first visitor goes in, the second waits. This one
// runs against WAITROOM_REDIS_URL (default redis://127.0.0.1:6379/0), in a
// zone of its own that expires a minute after its last write.
func Example() {
	ctx := context.Background()
	url := os.Getenv("WAITROOM_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	store, err := redisstore.Open(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	zone := "example-" + waitroom.NewVisitorID()
	room, err := waitroom.New(store, waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: zone, Capacity: 1, DataTTL: time.Minute}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close() // closes the store, and the client Open made

	first, err := room.Visit(ctx, zone, nil, true)
	if err != nil {
		log.Fatal(err)
	}
	second, err := room.Visit(ctx, zone, nil, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first.State, second.State, second.Place.Ahead)
	// Output: inside waiting 0
}

// Every instance runs the same code: they share the zone's queue, bucket
// and feed in Redis, and the key ring kept there.
func ExampleOpen() {
	ctx := context.Background()
	store, err := redisstore.Open(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := store.SharedKeys(ctx) // in production: a ring from your secret store
	if err != nil {
		log.Fatal(err)
	}
	room, err := waitroom.New(store, waitroom.WithKeys(keys),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 500}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close() // closes the store, and the client Open made

	shop := http.NotFoundHandler()
	log.Fatal(http.ListenAndServe(":8080", middleware.Wrap(room, shop)))
}

// New takes a client of your own: a Cluster client here. Close leaves it
// open.
func ExampleNew() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:         []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
		DialTimeout:   time.Second,
		ReadTimeout:   time.Second,
		WriteTimeout:  time.Second,
		DialerRetries: 1,
	})
	defer client.Close()
	store, err := redisstore.New(client, redisstore.WithPrefix("shop"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
}

// Rotation: one instance adds a key that starts signing in two minutes;
// every instance follows the ring each minute, so all of them verify the
// new key before any token signed with it arrives.
func ExampleStore_RotateSharedKeys() {
	ctx := context.Background()
	store, err := redisstore.Open(ctx, "redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := store.SharedKeys(ctx)
	if err != nil {
		log.Fatal(err)
	}
	room, err := waitroom.New(store, waitroom.WithKeys(keys))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	go store.FollowSharedKeys(ctx, time.Minute, room.SetKeys) // every instance

	if _, err := store.RotateSharedKeys(ctx, 2*time.Minute); err != nil { // one instance, now and then
		log.Print(err)
	}
}
