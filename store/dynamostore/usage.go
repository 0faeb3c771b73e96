package dynamostore

import (
	"math"

	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Capacity is the capacity a Store has consumed since it was made, for
// cost monitoring and benchmarks. It is computed with DynamoDB's published
// rules for on-demand and provisioned tables (every item this package
// writes is under 1 KB, and reads it under 4 KB): a strongly consistent
// read costs 1 read unit per item (per key of a batch, found or not), a
// query 1 read unit per 4 KB read (at least 1), a write 1 write unit per
// item (a failed conditional write too), a transaction 2 write units per
// action. DynamoDB Local does not report transactional capacity
// faithfully, so the rules are applied rather than its reports.
type Capacity struct {
	ReadUnits, WriteUnits float64
	// Requests counts the DynamoDB requests made, the SDK's retries not
	// included.
	Requests int64
}

// ConsumedCapacity returns the capacity consumed by this Store so far.
func (s *Store) ConsumedCapacity() Capacity {
	return Capacity{
		ReadUnits:  float64(s.usage.readMilli.Load()) / 1000,
		WriteUnits: float64(s.usage.writeMilli.Load()) / 1000,
		Requests:   s.usage.requests.Load(),
	}
}

// Sub returns the capacity consumed between o and c.
func (c Capacity) Sub(o Capacity) Capacity {
	return Capacity{ReadUnits: c.ReadUnits - o.ReadUnits, WriteUnits: c.WriteUnits - o.WriteUnits, Requests: c.Requests - o.Requests}
}

type usage struct {
	readMilli, writeMilli atomic.Int64
	requests              atomic.Int64
}

// read records a read request of units read units.
func (u *usage) read(units float64) {
	u.requests.Add(1)
	u.readMilli.Add(milli(units))
}

// query records a query that read items.
func (u *usage) query(items []map[string]types.AttributeValue) {
	size := 0
	for _, it := range items {
		size += itemSize(it)
	}
	u.read(max(1, math.Ceil(float64(size)/4096)))
}

// write records a single-item write.
func (u *usage) write(units float64) {
	u.requests.Add(1)
	u.writeMilli.Add(milli(units))
}

// transaction records a TransactWriteItems of n actions.
func (u *usage) transaction(n int) {
	u.requests.Add(1)
	u.writeMilli.Add(int64(2 * n * 1000))
}

func milli(f float64) int64 { return int64(math.Round(f * 1000)) }

// itemSize approximates an item's size the way DynamoDB counts it: names
// and values in bytes, numbers at about one byte per two digits.
func itemSize(it map[string]types.AttributeValue) int {
	n := 0
	for name, v := range it {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value)/2 + 1
		case *types.AttributeValueMemberB:
			n += len(v.Value)
		default:
			n++
		}
	}
	return n
}
