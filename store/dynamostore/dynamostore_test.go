package dynamostore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storetest"
)

func TestConformance(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	storetest.Run(t, func(t *testing.T) waitroom.Store { return newStore(t, db, table) })
}

// TestConformanceStreamFeed runs the suite's feed tests on a Store that
// follows the table's stream. (The other tests do not depend on how the
// feed is read, and DynamoDB Local serves a table with a stream slowly.)
func TestConformanceStreamFeed(t *testing.T) {
	db, streams := localClients(t)
	table := newStreamTable(t, db)
	storetest.Run(t, func(t *testing.T) waitroom.Store {
		if !strings.Contains(t.Name(), "/Feed") {
			t.Skip("not a feed test: TestConformance covers it")
		}
		s := newStore(t, db, table, WithStreams(streams), WithPollInterval(20*time.Millisecond))
		require.NoError(t, s.stream.waitReady(t.Context()))
		return s
	})
}

// TestEveryItemExpires: every item a zone writes carries the TTL attribute,
// DataTTL after the later of its write, ClosesAt and its slot's deadline,
// counted from the machine's clock even when the caller's instants are in
// the past; once it has passed the zone reads as absent, and DynamoDB
// deletes the items by itself.
func TestEveryItemExpires(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	ctx := t.Context()
	s := newStore(t, db, table)
	st := storetest.Zone(storetest.ZoneName("ttl"))
	st.Capacity, st.DataTTL, st.Session, st.ClaimWindow = 1, 15*time.Second, time.Second, time.Second
	now := storetest.T0 // months before the machine's clock
	start := time.Now()
	_, err := s.PutZone(ctx, st, now)
	require.NoError(t, err)
	for _, v := range []string{"a", "b", "c"} {
		_, err := s.Register(ctx, st.Name, v, now)
		require.NoError(t, err)
	}
	_, err = s.Exchange(ctx, st.Name, now, 10)
	require.NoError(t, err)
	_, err = s.Claim(ctx, st.Name, "a", now)
	require.NoError(t, err)
	_, err = s.Release(ctx, st.Name, "b", now)
	require.NoError(t, err)

	items := scan(t, db, table)
	require.GreaterOrEqual(t, len(items), 10, "zone, tail, entries, visitors, slot, events")
	low, high := start.Add(st.DataTTL).Unix(), time.Now().Add(st.Session+st.DataTTL).Unix()+2
	for _, it := range items {
		ttl := it.int(attrTTL)
		assert.NotZero(t, ttl, "%s %s carries the TTL attribute", it.str(attrPK), it.str(attrSK))
		assert.GreaterOrEqual(t, ttl, low, "%s %s lives DataTTL from the machine's clock", it.str(attrPK), it.str(attrSK))
		assert.LessOrEqual(t, ttl, high, "%s %s expires DataTTL after its write or its slot's deadline", it.str(attrPK), it.str(attrSK))
	}

	require.Eventually(t, func() bool {
		_, err := s.Zone(ctx, st.Name)
		return errors.Is(err, waitroom.ErrZoneNotFound)
	}, time.Minute, 200*time.Millisecond, "an expired zone reads as absent, before DynamoDB deletes it")
	_, err = s.Register(ctx, st.Name, "d", now)
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)

	// DynamoDB Local sweeps expired items about every 10 seconds.
	require.Eventually(t, func() bool { return len(scan(t, db, table)) == 0 }, 90*time.Second, time.Second,
		"DynamoDB deletes every item of the expired zone, without a sweeper of ours")

	// A zone whose sale ends later lives DataTTL past its end.
	closes := time.Now().Add(72 * time.Hour).Truncate(time.Millisecond)
	st2 := storetest.Zone(storetest.ZoneName("ttlc"))
	st2.ClosesAt, st2.DataTTL = closes, time.Hour
	_, err = s.PutZone(ctx, st2, time.Now())
	require.NoError(t, err)
	_, err = s.Register(ctx, st2.Name, "a", time.Now())
	require.NoError(t, err)
	for _, it := range scan(t, db, table) {
		assert.GreaterOrEqual(t, it.int(attrTTL), closes.Add(time.Hour).Unix(), "DataTTL after ClosesAt")
	}
}

func scan(t *testing.T, db *dynamodb.Client, table string) []item {
	t.Helper()
	var out []item
	in := &dynamodb.ScanInput{TableName: &table, ConsistentRead: new(bool)}
	*in.ConsistentRead = true
	for {
		res, err := db.Scan(context.Background(), in)
		require.NoError(t, err)
		for _, it := range res.Items {
			out = append(out, item(it))
		}
		if res.LastEvaluatedKey == nil {
			return out
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}
