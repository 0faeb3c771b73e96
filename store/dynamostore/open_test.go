package dynamostore

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storetest"
)

// TestOpen: a dynamodb:// URL opens a Store on a table it creates, with TTL
// on; opening it again reuses the table.
func TestOpen(t *testing.T) {
	ep := localEndpoint(t)
	db, _ := localClients(t)
	table := "waitroom-open-" + newEpoch()
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	raw := "dynamodb://" + table + "?endpoint=" + ep + "&region=us-east-1"
	s, err := Open(ctx, raw)
	require.NoError(t, err, "Open creates the table")
	defer s.Close()
	assert.Equal(t, table, s.Table())
	assert.Nil(t, s.stream, "on DynamoDB Local the feed is polled by default")

	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	require.NoError(t, err)
	assert.Equal(t, types.BillingModePayPerRequest, desc.Table.BillingModeSummary.BillingMode, "on-demand billing")
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	require.NoError(t, err)
	assert.Equal(t, attrTTL, *ttl.TimeToLiveDescription.AttributeName, "TTL on the ttl attribute")

	st := storetest.Zone(storetest.ZoneName("open"))
	_, err = s.PutZone(ctx, st, storetest.T0)
	require.NoError(t, err)

	again, err := Open(ctx, raw+"&shards=4")
	require.NoError(t, err, "opening an existing table")
	defer again.Close()
	got, err := again.Zone(ctx, st.Name)
	require.NoError(t, err, "the second Store reads the first one's zone")
	assert.True(t, got.Equal(st))
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{
		"redis://t",
		"dynamodb://",
		"dynamodb://t?endpoint=not-a-url",
		"dynamodb://t?endpoint=http://127.0.0.1:1&feed=carrier-pigeon&create=false",
		"dynamodb://t?endpoint=http://127.0.0.1:1&shards=many&create=false",
		"dynamodb://t?endpoint=http://127.0.0.1:1&shards=0&create=false",
		"%zz",
	} {
		_, err := Open(t.Context(), raw)
		require.Error(t, err, "Open(%q)", raw)
		assert.Contains(t, err.Error(), "waitroom: dynamostore:", "Open(%q): errors say where they come from", raw)
	}
}

func TestNewValidates(t *testing.T) {
	db := dynamodb.New(dynamodb.Options{Region: "us-east-1"})
	for _, tc := range []struct {
		name  string
		table string
		opts  []Option
	}{
		{"empty table", "", nil},
		{"zero shards", "t", []Option{WithShards(0)}},
		{"too many shards", "t", []Option{WithShards(MaxShards + 1)}},
		{"zero poll interval", "t", []Option{WithPollInterval(0)}},
		{"negative cache age", "t", []Option{WithCacheAge(-time.Second)}},
		{"negative feed retention", "t", []Option{WithFeedRetention(-time.Second)}},
	} {
		_, err := New(db, tc.table, tc.opts...)
		assert.Error(t, err, tc.name)
	}
	_, err := New(nil, "t")
	assert.Error(t, err, "nil client")
}

// TestSharedKeys: the first Store generates the key ring and keeps it in the
// table; every other Store on the table gets the same one, so a token
// minted by one instance verifies on another.
func TestSharedKeys(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	a := newStore(t, db, table)
	b := newStore(t, db, table)

	ka, err := a.SharedKeys(t.Context())
	require.NoError(t, err)
	kb, err := b.SharedKeys(t.Context())
	require.NoError(t, err)
	assert.Equal(t, ka.SigningKey().ID, kb.SigningKey().ID, "one key for the table")

	now := time.Now()
	tok, err := ka.SignAccess(waitroom.Access{Visitor: "v", Zone: "z", TokenID: "t", Expires: now.Add(time.Minute)})
	require.NoError(t, err)
	acc, err := kb.VerifyAccess(tok, "z", now)
	require.NoError(t, err, "a token minted with one instance's ring verifies with another's")
	assert.Equal(t, "v", acc.Visitor)
}

// TestMissingDynamoDBLocal: without DynamoDB Local the tests fail under
// CI=true and are skipped elsewhere, naming the script that starts it.
func TestMissingDynamoDBLocal(t *testing.T) {
	if os.Getenv("WAITROOM_MISSING_DDB_CHILD") != "" {
		t.Skip("child run")
	}
	run := func(ci string) (string, error) {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestSharedKeys$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "WAITROOM_MISSING_DDB_CHILD=1", "WAITROOM_DYNAMODB_ENDPOINT=http://127.0.0.1:1", "CI="+ci)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("true")
	require.Error(t, err, "under CI=true an unreachable DynamoDB Local fails the tests:\n%s", out)
	assert.Contains(t, out, "scripts/dynamodb-local.sh start")
	assert.Contains(t, out, "--- FAIL: TestSharedKeys")

	out, err = run("")
	require.NoError(t, err, "outside CI the tests are skipped:\n%s", out)
	assert.Contains(t, out, "--- SKIP: TestSharedKeys")
	assert.Contains(t, out, "scripts/dynamodb-local.sh start")
}
