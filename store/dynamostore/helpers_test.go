package dynamostore

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/stretchr/testify/require"
	"github.com/waitroom/waitroom"
)

const startHint = "start DynamoDB Local with `scripts/dynamodb-local.sh start` and set WAITROOM_DYNAMODB_ENDPOINT=http://127.0.0.1:8000"

// localEndpoint returns the DynamoDB Local endpoint of the tests. Without
// one the test fails under CI=true and is skipped elsewhere.
func localEndpoint(t testing.TB) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("DynamoDB Local is required in CI: %s; %s", why, startHint)
		}
		t.Skipf("DynamoDB Local not available: %s; %s", why, startHint)
	}
	ep := os.Getenv("WAITROOM_DYNAMODB_ENDPOINT")
	if ep == "" {
		missing("WAITROOM_DYNAMODB_ENDPOINT is not set")
	}
	u, err := url.Parse(ep)
	if err != nil || u.Host == "" {
		missing(fmt.Sprintf("WAITROOM_DYNAMODB_ENDPOINT=%q is not a URL", ep))
	}
	c, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		missing(fmt.Sprintf("cannot reach %s: %v", ep, err))
	}
	c.Close()
	return ep
}

// localClients returns clients for DynamoDB Local.
func localClients(t testing.TB) (*dynamodb.Client, *dynamodbstreams.Client) {
	ep := localEndpoint(t)
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	// Connections of their own, closed when the test ends (goleak).
	transport := awshttp.NewBuildableClient().GetTransport()
	t.Cleanup(transport.CloseIdleConnections)
	httpc := &http.Client{Transport: transport}
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds,
		Retryer: NewRetryer(), DisableValidateResponseChecksum: true, HTTPClient: httpc,
	})
	streams := dynamodbstreams.New(dynamodbstreams.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(ep), Credentials: creds, Retryer: NewRetryer(), HTTPClient: httpc,
	})
	return db, streams
}

// newTable creates a fresh table for the test, without a stream, and
// deletes it afterwards. (DynamoDB Local serves every request of a table
// with a stream some 20 times slower.)
func newTable(t testing.TB, db *dynamodb.Client) string {
	return makeTable(t, db, false)
}

// newStreamTable creates a fresh table with a stream (CreateTable).
func newStreamTable(t testing.TB, db *dynamodb.Client) string {
	return makeTable(t, db, true)
}

func makeTable(t testing.TB, db *dynamodb.Client, stream bool) string {
	t.Helper()
	table := fmt.Sprintf("waitroom-test-%s", newEpoch())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	if stream {
		err = CreateTable(ctx, db, table)
	} else {
		err = createTable(ctx, db, table, false)
	}
	require.NoError(t, err, "create table")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table})
	})
	return table
}

// newStore returns a Store over table, closed when the test ends.
func newStore(t testing.TB, db *dynamodb.Client, table string, opts ...Option) *Store {
	t.Helper()
	s, err := New(db, table, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// slowStore is the Room option of the tests that run Rooms on DynamoDB
// Local: a call may take seconds there on a busy machine (a JVM, its
// first transactions interpreted), and these tests check what the Rooms
// do, not how fast the store answers, so the Room's per-call deadline
// (2s by default) is a minute.
var slowStore = waitroom.WithStoreTimeout(time.Minute)
