package dynamostore

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/waitroom/waitroom/internal/ident"
)

// Attribute names shared by every item.
const (
	attrPK  = "pk"
	attrSK  = "sk"
	attrTTL = "ttl" // epoch seconds; the table's TTL attribute
)

// Item keys. Z is the zone name, E the zone's epoch (a random id drawn when
// the zone is created, so that a zone put again after its data expired
// never reads the leftovers of the old one). See the package documentation.
//
//	zone item      pk "Z#<zone>"             sk "meta"
//	tail counter   pk "Z#<zone>#<E>#tail"    sk "tail"
//	queue entry    pk "Z#<zone>#<E>#q<shard>" sk "<seq, 20 digits>"
//	visitor        pk "Z#<zone>#<E>#v#<id>"  sk "v"
//	slot           pk "Z#<zone>#<E>#b"       sk "<until ms, 20 digits>#<token>"
//	event          pk "Z#<zone>#<E>#f"       sk "<seq, 20 digits>"
//	key ring       pk "keyring"              sk "keyring"
const (
	skMeta    = "meta"
	skTail    = "tail"
	skVisitor = "v"
	pkKeyRing = "keyring"
)

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

func metaKey(zone string) map[string]types.AttributeValue { return key("Z#"+zone, skMeta) }

// zkeys builds the keys of one epoch of one zone.
type zkeys struct {
	prefix string // "Z#<zone>#<epoch>"
	shards int
}

func newZKeys(zone, epoch string, shards int) zkeys {
	return zkeys{prefix: "Z#" + zone + "#" + epoch, shards: max(shards, 1)}
}

func (k zkeys) tail() map[string]types.AttributeValue { return key(k.prefix+"#tail", skTail) }

// shard returns the partition that holds the queue entry of seq: places are
// dealt round-robin, so any run of N consecutive places touches every
// shard once.
func (k zkeys) shard(seq uint64) int { return int((seq - 1) % uint64(k.shards)) }

func (k zkeys) entryPK(shard int) string { return k.prefix + "#q" + strconv.Itoa(shard) }

func (k zkeys) entry(seq uint64) map[string]types.AttributeValue {
	return key(k.entryPK(k.shard(seq)), pad(seq))
}

func (k zkeys) visitor(id string) map[string]types.AttributeValue {
	return key(k.prefix+"#v#"+id, skVisitor)
}

func (k zkeys) bucketPK() string { return k.prefix + "#b" }

func (k zkeys) slot(untilMS int64, token string) map[string]types.AttributeValue {
	return key(k.bucketPK(), padInt(untilMS)+"#"+token)
}

func (k zkeys) feedPK() string { return k.prefix + "#f" }

func (k zkeys) event(seq uint64) map[string]types.AttributeValue { return key(k.feedPK(), pad(seq)) }

// pad writes n in 20 digits, so that sort keys order like the numbers.
func pad(n uint64) string { return fmt.Sprintf("%020d", n) }

func padInt(n int64) string { return pad(uint64(max(n, 0))) }

// --- attribute values ---

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num[T int | int64 | uint64](n T) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(int64(n), 10)}
}

func unum(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

func fnum(f float64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatFloat(f, 'g', -1, 64)}
}

func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

// item reads typed attributes out of an item; a missing or mistyped
// attribute reads as the zero value.
type item map[string]types.AttributeValue

func (it item) str(name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (it item) int(name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(v.Value, 64)
		return int64(f)
	}
	return 0
}

func (it item) uint(name string) uint64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseUint(v.Value, 10, 64)
		return n
	}
	return 0
}

func (it item) float(name string) float64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		f, _ := strconv.ParseFloat(v.Value, 64)
		return f
	}
	return 0
}

func (it item) bool(name string) bool {
	if v, ok := it[name].(*types.AttributeValueMemberBOOL); ok {
		return v.Value
	}
	return false
}

func (it item) bytes(name string) []byte {
	if v, ok := it[name].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

// --- expressions ---

// expr collects the placeholders of one request's expressions, so that
// attribute names never clash with DynamoDB's reserved words.
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
}

func newExpr() *expr {
	return &expr{names: make(map[string]string), values: make(map[string]types.AttributeValue)}
}

// n returns the placeholder of attribute name.
func (e *expr) n(name string) string {
	ph := "#" + name
	e.names[ph] = name
	return ph
}

// v returns a placeholder for value.
func (e *expr) v(value types.AttributeValue) string {
	ph := ":v" + strconv.Itoa(len(e.values))
	e.values[ph] = value
	return ph
}

// set returns "SET a = :v, b = :w" for the given attribute/value pairs, in
// order.
func (e *expr) set(pairs ...any) string {
	var b strings.Builder
	b.WriteString("SET ")
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.n(pairs[i].(string)))
		b.WriteString(" = ")
		b.WriteString(e.v(pairs[i+1].(types.AttributeValue)))
	}
	return b.String()
}

func (e *expr) namesOrNil() map[string]string {
	if len(e.names) == 0 {
		return nil
	}
	return e.names
}

func (e *expr) valuesOrNil() map[string]types.AttributeValue {
	if len(e.values) == 0 {
		return nil
	}
	return e.values
}

// --- ids and time ---

// newEpoch returns a random zone epoch id.
func newEpoch() string { return ident.Short(6) }

func randUint64() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// ms converts an instant to unix milliseconds; the zero time is 0.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// unixMS converts unix milliseconds back to a time in UTC; 0 is the zero
// time.
func unixMS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}
