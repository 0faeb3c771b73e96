package dynamostore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/dynamostore"
)

// The examples without an Output line are compiled, not run: they serve
// HTTP until stopped, or reach AWS. Example (below) runs, against the
// DynamoDB Local the tests use.

// A Room over DynamoDB: the first visitor goes in, the next two wait. This
// one runs against DynamoDB Local at WAITROOM_DYNAMODB_ENDPOINT (default
// http://127.0.0.1:8000), in a zone of its own.
func Example() {
	ctx := context.Background()
	endpoint := os.Getenv("WAITROOM_DYNAMODB_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:8000"
	}
	store, err := dynamostore.Open(ctx, "dynamodb://waitroom-example?region=us-east-1&endpoint="+url.QueryEscape(endpoint))
	if err != nil {
		log.Fatal(err)
	}
	zone := "example-" + waitroom.NewVisitorID()
	room, err := waitroom.New(store, waitroom.WithManualStep(),
		waitroom.WithZone(waitroom.Zone{Name: zone, Capacity: 1, DataTTL: time.Minute}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close() // closes the store too

	for range 3 {
		out, err := room.Visit(ctx, zone, nil, true)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(out.State, " ")
	}
	st, err := room.Stats(ctx, zone)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("| inside:", st.Inside, "waiting:", st.Waiting)
	// Output: inside waiting waiting | inside: 1 waiting: 2
}

// Open a Store from a URL (the table is created if missing) and put a Room
// and the middleware on it. Every instance runs the same code against the
// same table, with the same keys.
func ExampleOpen() {
	ctx := context.Background()
	store, err := dynamostore.Open(ctx, "dynamodb://waitroom?region=eu-west-1")
	if err != nil {
		log.Fatal(err)
	}
	keys, err := loadKeys() // the same ring on every instance
	if err != nil {
		log.Fatal(err)
	}
	room, err := waitroom.New(store, waitroom.WithKeys(keys), waitroom.WithZone(waitroom.Zone{
		Name: "checkout", Paths: []string{"/checkout"}, Capacity: 500, AdmitPerSecond: 25,
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close() // closes the store too
	log.Fatal(http.ListenAndServe(":8080", middleware.Wrap(room, shop())))
}

// Build the clients yourself: the SDK's retryer with NewRetryer, and the
// change feed read from the table's stream.
func ExampleNew() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(dynamostore.NewRetryer))
	if err != nil {
		log.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if err := dynamostore.CreateTable(ctx, db, "waitroom"); err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(db, "waitroom",
		dynamostore.WithStreams(dynamodbstreams.NewFromConfig(cfg)),
		dynamostore.WithShards(32),
		dynamostore.WithFeedRetention(6*time.Hour))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	_ = store // waitroom.New(store, ...)
}

func loadKeys() (*waitroom.KeyRing, error) {
	k, err := waitroom.GenerateKey("example", waitroom.AlgHS256) // load it from your secret store instead
	if err != nil {
		return nil, err
	}
	return waitroom.NewKeyRing(k)
}

func shop() http.Handler { return http.NotFoundHandler() }
