package dynamostore

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/internal/ident"
	"github.com/waitroom/waitroom/store/storetest"
)

// TestBytesPerWaitingVisitor: what a place in line costs DynamoDB: the
// items of a fresh table holding one zone with 2,000 places of visitors
// with ids as the Room makes them, each measured as DynamoDB bills it
// (attribute names and values): 158 bytes a place, with room to 250
// before the test fails. It bounds what a flood costs (Zone.MaxWaiting
// caps the places).
func TestBytesPerWaitingVisitor(t *testing.T) {
	ctx := context.Background()
	db, _ := localClients(t)
	table := newTable(t, db)
	s := newStore(t, db, table)
	st := storetest.Zone("bytes")
	_, err := s.PutZone(ctx, st, storetest.T0)
	require.NoError(t, err)
	const batch, n = 50, 2000
	for i := 0; i < n; i += batch {
		calls := make([]waitroom.Call, batch)
		for j := range calls {
			calls[j] = waitroom.Call{Op: waitroom.OpRegister, Visitor: ident.New()}
		}
		require.NoError(t, s.Batch(ctx, st.Name, storetest.T0, calls))
	}
	var total, items int
	in := &dynamodb.ScanInput{TableName: &table}
	for {
		out, err := db.Scan(ctx, in)
		require.NoError(t, err)
		for _, it := range out.Items {
			total += itemSize(it)
			items++
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	per := float64(total) / n
	t.Logf("DynamoDB: %d bytes in %d items for %d places in line: %.0f bytes a place", total, items, n, per)
	assert.GreaterOrEqual(t, items, 2*n, "a visitor item and a queue entry per place")
	assert.LessOrEqual(t, per, 250.0, "bytes a place in line")
}
