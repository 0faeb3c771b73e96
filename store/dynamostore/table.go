package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
)

// NewRetryer returns the retry policy Open gives its clients: the SDK's
// standard retryer (exponential backoff with jitter, at most 8 attempts,
// at most 2s between attempts, DynamoDB's 25ms base delay; throttling
// errors back off from 1s) that also retries TransactionConflictException,
// which a single-item write gets when it meets a transaction holding the
// same item. Pass it as dynamodb.Options.Retryer when you build the client
// for New yourself.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 8
		o.MaxBackoff = 2 * time.Second
		o.BaseDelay = 25 * time.Millisecond
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{
			Codes: map[string]struct{}{"TransactionConflictException": {}},
		})
	})
}

// CreateTable creates table with the layout a Store needs: string keys pk
// and sk, on-demand billing, TTL on the attribute "ttl", and a stream of
// new images (for WithStreams). It waits until the table is active. A
// table that exists already is left as it is, except that TTL is turned on
// if it is off.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	return createTable(ctx, client, table, true)
}

// createTable is CreateTable, with or without a stream.
func createTable(ctx context.Context, client *dynamodb.Client, table string, stream bool) error {
	if client == nil || table == "" {
		return errors.New("waitroom: dynamostore: create table: client and table name are required")
	}
	in := &dynamodb.CreateTableInput{
		TableName: &table,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}
	if stream {
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewImage}
	}
	_, err := client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("waitroom: dynamostore: create table %q: %w", table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 100*time.Millisecond, 2*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, 5*time.Minute); err != nil {
		return fmt.Errorf("waitroom: dynamostore: wait for table %q: %w", table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: &table})
	if err != nil {
		return fmt.Errorf("waitroom: dynamostore: describe TTL of %q: %w", table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               &table,
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return fmt.Errorf("waitroom: dynamostore: enable TTL on %q: %w", table, err)
	}
	return nil
}

// Open returns a Store for a URL of the form
//
//	dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000
//
// creating the table (CreateTable) if it does not exist. Parameters, all
// optional:
//
//   - region: the AWS region (default: from the environment).
//   - endpoint: a custom endpoint, such as DynamoDB Local. On a loopback
//     endpoint the static credentials "local"/"local" are used and response
//     checksums are not validated; elsewhere the default credential chain.
//   - feed: "stream" reads the change feed from the table's DynamoDB
//     Stream, "poll" polls the outbox items. Default "stream", except on a
//     loopback endpoint: DynamoDB Local's stream emulation makes every
//     request of a table with a stream some 20 times slower (30-50ms
//     instead of 1-3ms), so there a new table gets no stream and the feed
//     is polled.
//   - shards: queue partitions for new zones (default DefaultShards).
//   - create: "false" does not create a missing table.
//
// The clients retry with NewRetryer.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("waitroom: dynamostore: bad URL: %w", err)
	}
	if u.Scheme != "dynamodb" {
		return nil, fmt.Errorf("waitroom: dynamostore: URL scheme must be dynamodb, got %q", u.Scheme)
	}
	table := u.Host
	if table == "" {
		table = u.Opaque
	}
	if table == "" {
		return nil, errors.New("waitroom: dynamostore: URL names no table (dynamodb://TABLE?...)")
	}
	q := u.Query()
	endpoint := q.Get("endpoint")
	local := false
	if endpoint != "" {
		eu, err := url.Parse(endpoint)
		if err != nil || eu.Scheme == "" || eu.Host == "" {
			return nil, fmt.Errorf("waitroom: dynamostore: bad endpoint %q", endpoint)
		}
		local = isLoopback(eu.Hostname())
	}
	loads := []func(*config.LoadOptions) error{config.WithRetryer(NewRetryer)}
	if r := q.Get("region"); r != "" {
		loads = append(loads, config.WithRegion(r))
	} else if local {
		loads = append(loads, config.WithRegion("us-east-1"))
	}
	if local {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("waitroom: dynamostore: load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.DisableValidateResponseChecksum = local
	})
	feed := q.Get("feed")
	if feed == "" {
		feed = "stream"
		if local {
			feed = "poll"
		}
	}
	if feed != "stream" && feed != "poll" {
		return nil, fmt.Errorf("waitroom: dynamostore: feed must be stream or poll, got %q", feed)
	}
	if q.Get("create") != "false" {
		if err := createTable(ctx, db, table, feed == "stream"); err != nil {
			return nil, err
		}
	}
	var own []Option
	if v := q.Get("shards"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("waitroom: dynamostore: bad shards %q", v)
		}
		own = append(own, WithShards(n))
	}
	if feed == "stream" {
		own = append(own, WithStreams(dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
		})))
	}
	return New(db, table, append(own, opts...)...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
