package redisstore_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/redisstore"
)

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
