package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// streamReader follows the table's DynamoDB Stream and hands every outbox
// insert to the zone's feed in this Store: the way SeatGeek keeps edge
// caches in sync. It reads every shard of the stream in order, starting at
// the latest record of the shards open when it starts and at the oldest
// record of shards that open later (a split or the stream's periodic
// rollover), so that no record after the start is missed. After any error
// it starts again; readers then fall back to querying the outbox until it
// follows the stream once more.
type streamReader struct {
	s *Store
	c *dynamodbstreams.Client

	mu    sync.Mutex
	gen   uint64 // counts the times following started
	on    bool   // following the stream now
	err   error  // why it stopped last
	ready chan struct{}
}

func newStreamReader(s *Store, c *dynamodbstreams.Client) *streamReader {
	return &streamReader{s: s, c: c, ready: make(chan struct{})}
}

// following reports whether the reader follows the stream now, and since
// which start.
func (r *streamReader) following() (gen uint64, ok bool) {
	if r == nil {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen, r.on
}

func (r *streamReader) set(on bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.gen++
		if r.ready != nil {
			close(r.ready)
			r.ready = nil
		}
	}
	r.on, r.err = on, err
}

// lastError returns why the reader last stopped following the stream.
func (r *streamReader) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// waitReady waits until the reader follows the stream for the first time.
func (r *streamReader) waitReady(ctx context.Context) error {
	r.mu.Lock()
	ch := r.ready
	r.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		if err := r.lastError(); err != nil {
			return fmt.Errorf("%w (last stream error: %v)", ctx.Err(), err)
		}
		return ctx.Err()
	}
}

func (r *streamReader) run() {
	ctx := r.s.ctx
	wait := r.s.cfg.pollInterval
	for ctx.Err() == nil {
		err := r.follow(ctx)
		r.set(false, err)
		if sleep(ctx, wait) != nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// follow reads the stream until an error (or Close).
func (r *streamReader) follow(ctx context.Context) error {
	desc, err := r.s.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &r.s.table})
	if err != nil {
		return fmt.Errorf("waitroom: dynamostore: describe table %q: %w", r.s.table, err)
	}
	arn := aws.ToString(desc.Table.LatestStreamArn)
	if arn == "" || desc.Table.StreamSpecification == nil || !aws.ToBool(desc.Table.StreamSpecification.StreamEnabled) {
		return fmt.Errorf("waitroom: dynamostore: table %q has no stream enabled", r.s.table)
	}
	if v := desc.Table.StreamSpecification.StreamViewType; v != types.StreamViewTypeNewImage && v != types.StreamViewTypeNewAndOldImages {
		return fmt.Errorf("waitroom: dynamostore: table %q stream view type is %s, want NEW_IMAGE or NEW_AND_OLD_IMAGES", r.s.table, v)
	}
	iters := make(map[string]string) // shard id -> iterator
	known := make(map[string]bool)
	discover := func(first bool) error {
		var start *string
		for {
			out, err := r.c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn, ExclusiveStartShardId: start})
			if err != nil {
				return fmt.Errorf("waitroom: dynamostore: describe stream: %w", err)
			}
			for _, sh := range out.StreamDescription.Shards {
				id := aws.ToString(sh.ShardId)
				if known[id] {
					continue
				}
				known[id] = true
				open := sh.SequenceNumberRange == nil || sh.SequenceNumberRange.EndingSequenceNumber == nil
				typ := stypes.ShardIteratorTypeTrimHorizon
				if first {
					if !open {
						continue // closed before we started: nothing new in it
					}
					typ = stypes.ShardIteratorTypeLatest
				}
				it, err := r.c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
					StreamArn: &arn, ShardId: &id, ShardIteratorType: typ,
				})
				if err != nil {
					return fmt.Errorf("waitroom: dynamostore: shard iterator of %s: %w", id, err)
				}
				if it.ShardIterator != nil {
					iters[id] = *it.ShardIterator
				}
			}
			start = out.StreamDescription.LastEvaluatedShardId
			if start == nil {
				return nil
			}
		}
	}
	if err := discover(true); err != nil {
		return err
	}
	r.set(true, nil)
	lastDiscover := time.Now()
	for {
		got, closed := 0, false
		for id, it := range iters {
			out, err := r.c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: &it, Limit: aws.Int32(1000)})
			if err != nil {
				var trimmed *stypes.TrimmedDataAccessException
				var expired *stypes.ExpiredIteratorException
				if errors.As(err, &trimmed) || errors.As(err, &expired) {
					return fmt.Errorf("waitroom: dynamostore: stream shard %s: %w", id, err)
				}
				return fmt.Errorf("waitroom: dynamostore: read stream shard %s: %w", id, err)
			}
			for _, rec := range out.Records {
				r.record(rec)
			}
			got += len(out.Records)
			if out.NextShardIterator == nil {
				delete(iters, id) // the shard is closed and read to its end
				closed = true
			} else {
				iters[id] = *out.NextShardIterator
			}
		}
		if closed || len(iters) == 0 || time.Since(lastDiscover) > 10*time.Second {
			if err := discover(false); err != nil {
				return err
			}
			lastDiscover = time.Now()
		}
		if got == 0 {
			if err := sleep(ctx, r.s.cfg.pollInterval); err != nil {
				return nil
			}
		}
	}
}

// record hands an outbox insert to its zone's feed.
func (r *streamReader) record(rec stypes.Record) {
	if rec.EventName != stypes.OperationTypeInsert || rec.Dynamodb == nil {
		return
	}
	img := rec.Dynamodb.NewImage
	pk, _ := img[attrPK].(*stypes.AttributeValueMemberS)
	if pk == nil || !strings.HasPrefix(pk.Value, "Z#") || !strings.HasSuffix(pk.Value, "#f") {
		return
	}
	it := make(item, len(img))
	for name, v := range img {
		switch v := v.(type) {
		case *stypes.AttributeValueMemberS:
			it[name] = str(v.Value)
		case *stypes.AttributeValueMemberN:
			it[name] = &types.AttributeValueMemberN{Value: v.Value}
		case *stypes.AttributeValueMemberBOOL:
			it[name] = boolean(v.Value)
		}
	}
	ev := decodeEvent(it)
	if ev.Seq == 0 || ev.Zone == "" {
		return
	}
	f := r.s.existingFeed(ev.Zone)
	if f == nil {
		return
	}
	f.mu.Lock()
	f.add(it.str(eEpoch), ev)
	f.mu.Unlock()
}
