package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Defaults of the options.
const (
	// DefaultShards is the number of partitions a zone's queue entries are
	// spread over.
	DefaultShards = 16
	// DefaultPollInterval is how often a waiting ReadFeed looks for new
	// events (outbox polling) or an idle stream shard is read again.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultCacheAge is how long a zone's settings and head of line, read
	// from the table, are reused by Register, Position, Heartbeat and
	// ReadFeed.
	DefaultCacheAge = 250 * time.Millisecond
	// DefaultReadLimit is the number of events ReadFeed returns at most when
	// called with limit <= 0.
	DefaultReadLimit = 1000
	// MaxShards is the largest number of shards a zone may use.
	MaxShards = 1024
)

// An Option configures a Store.
type Option func(*options)

type options struct {
	shards        int
	streams       *dynamodbstreams.Client
	pollInterval  time.Duration
	cacheAge      time.Duration
	feedRetention time.Duration
	streamResync  time.Duration
	eventual      bool
	wallClock     func() time.Time
}

// WithShards sets the number of partitions each new zone spreads its queue
// entries over (see the package documentation). A zone keeps the number it
// was created with until its data expires. Default DefaultShards (16),
// at most MaxShards.
func WithShards(n int) Option { return func(c *options) { c.shards = n } }

// WithStreams makes ReadFeed follow the table's DynamoDB Stream through
// client instead of polling the outbox items: events reach every instance
// with the stream's delay (typically well under a second) and waiting
// readers cost no read capacity. The table must have a stream with new
// images (CreateTable enables one). Default: no stream, the outbox items
// are polled every poll interval.
func WithStreams(client *dynamodbstreams.Client) Option {
	return func(c *options) { c.streams = client }
}

// WithPollInterval sets how often a waiting ReadFeed queries the outbox for
// new events, and how often an idle stream shard is read again. Default
// DefaultPollInterval (250ms).
func WithPollInterval(d time.Duration) Option { return func(c *options) { c.pollInterval = d } }

// WithCacheAge sets how long a zone's settings and head-of-line counters,
// once read, are reused by Register, Position, Heartbeat and ReadFeed
// instead of being read again: it keeps the zone's one settings item from
// becoming a hot key when a hundred thousand visitors poll. Every write
// this Store makes refreshes its copy at once, so a single instance always
// reads its own writes; other instances' admissions show in Position after
// at most this long (Ahead can only be overestimated meanwhile). 0 reads
// the item every time. Default DefaultCacheAge (250ms).
func WithCacheAge(d time.Duration) Option { return func(c *options) { c.cacheAge = d } }

// WithFeedRetention sets how long events stay in the change feed: a reader
// further behind gets waitroom.ErrFeedTrimmed and resynchronises. DynamoDB
// deletes expired items in the background, so events may stay readable
// longer. Default 0: events live as long as the rest of the zone's data.
func WithFeedRetention(d time.Duration) Option { return func(c *options) { c.feedRetention = d } }

// WithEventuallyConsistentPositions makes Position read the visitor item
// with an eventually consistent read: half the read units (0.5 instead of
// 1 per call), at the price of a place that may be up to about a second
// old (a visitor just registered on another instance may read as not
// queued, which the Room answers by registering it again, idempotently).
// Default: strongly consistent reads.
func WithEventuallyConsistentPositions() Option { return func(c *options) { c.eventual = true } }

// withStreamResync sets how long a reader relies on the stream alone
// before it queries the outbox again. For tests.
func withStreamResync(d time.Duration) Option { return func(c *options) { c.streamResync = d } }

// Store is a waitroom.Store kept in one DynamoDB table. Every operation is
// one conditional write or one TransactWriteItems (see the package
// documentation for which items each touches). It has no clock of its own:
// decisions use the caller's now. A Store is safe for concurrent use; any
// number of Stores, in any number of processes, may share a table.
type Store struct {
	db    *dynamodb.Client
	table string
	cfg   options

	metaMu sync.Mutex
	metas  map[string]*cachedMeta
	locks  map[string]chan struct{} // per zone, see lockZone
	tails  map[string]tailSeen      // per zone, see tailHint

	feedMu sync.Mutex
	feeds  map[string]*zoneFeed

	stream *streamReader // nil without WithStreams

	usage       usage
	feedQueries atomic.Int64 // outbox queries made by ReadFeed
	tailWrites  atomic.Int64 // updates of tail counters (one per registration batch)

	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	spawnMu sync.Mutex // orders spawn against Close
	wg      sync.WaitGroup
	closed  atomic.Bool
}

var _ waitroom.Store = (*Store)(nil)

// New returns a Store over table, which must exist with the layout
// CreateTable makes. client should retry throttled requests with backoff:
// Open configures NewRetryer; pass it (dynamodb.Options.Retryer) when you
// build the client yourself.
func New(client *dynamodb.Client, table string, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("waitroom: dynamostore: client is nil")
	}
	if table == "" {
		return nil, errors.New("waitroom: dynamostore: table name is empty")
	}
	cfg := options{shards: DefaultShards, pollInterval: DefaultPollInterval, cacheAge: DefaultCacheAge, wallClock: time.Now}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if cfg.shards < 1 || cfg.shards > MaxShards {
		return nil, fmt.Errorf("waitroom: dynamostore: shards must be between 1 and %d, got %d", MaxShards, cfg.shards)
	}
	if cfg.pollInterval <= 0 {
		return nil, fmt.Errorf("waitroom: dynamostore: poll interval must be positive, got %v", cfg.pollInterval)
	}
	if cfg.cacheAge < 0 {
		return nil, fmt.Errorf("waitroom: dynamostore: cache age must not be negative, got %v", cfg.cacheAge)
	}
	if cfg.streamResync <= 0 {
		cfg.streamResync = 20 * cfg.pollInterval
	}
	if cfg.feedRetention < 0 {
		return nil, fmt.Errorf("waitroom: dynamostore: feed retention must not be negative, got %v", cfg.feedRetention)
	}
	s := &Store{
		db: client, table: table, cfg: cfg,
		metas: make(map[string]*cachedMeta),
		locks: make(map[string]chan struct{}),
		tails: make(map[string]tailSeen),
		feeds: make(map[string]*zoneFeed),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.streams != nil {
		s.stream = newStreamReader(s, cfg.streams)
		s.spawn(s.stream.run)
	}
	return s, nil
}

// spawn runs fn on a goroutine that Close waits for; false after Close.
func (s *Store) spawn(fn func()) bool {
	s.spawnMu.Lock()
	defer s.spawnMu.Unlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// Close stops the Store's stream reader and makes every later call, and
// every ReadFeed waiting now, return an error wrapping
// waitroom.ErrStoreUnavailable. It does not delete data and does not close
// the client. Calling it again is a no-op.
func (s *Store) Close() error {
	s.spawnMu.Lock()
	already := s.closed.Swap(true)
	s.spawnMu.Unlock()
	if already {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// Table returns the name of the Store's table.
func (s *Store) Table() string { return s.table }

var errClosed = storekit.Closed("dynamostore")

func (s *Store) check() error {
	if s.closed.Load() {
		return errClosed
	}
	return nil
}

// unavailable wraps a driver error: the store could not be reached or
// refused the request.
func unavailable(op string, err error) error {
	return storekit.Unavailable("dynamostore: "+op, err)
}

// contention is returned when an operation lost the race for a zone's
// settings item too many times in a row.
func contention(op, zone string) error {
	return fmt.Errorf("waitroom: dynamostore: %s: %w: zone %q: too much contention on the zone item, gave up after %d attempts",
		op, waitroom.ErrStoreUnavailable, zone, maxAttempts)
}

// checkZone and checkVisitor reject zone names and visitor ids the key
// design cannot hold.
func checkZone(zone string) error {
	if zone == "" || len(zone) > 256 || strings.Contains(zone, "#") {
		return fmt.Errorf("waitroom: dynamostore: zone name %q must be 1-256 bytes without '#'", zone)
	}
	return nil
}

func checkVisitor(visitor string) error {
	if visitor == "" || len(visitor) > 512 {
		return fmt.Errorf("waitroom: dynamostore: visitor id must be 1-512 bytes, got %d", len(visitor))
	}
	return nil
}

// maxAttempts bounds the optimistic retries of one operation that lost the
// race for a zone's settings item (another instance changed it between the
// read and the write). The SDK's retryer handles throttling separately.
const maxAttempts = 40

// backoff waits before optimistic attempt n (n >= 1): a jittered few
// milliseconds growing to at most 100ms, or until ctx is done.
func backoff(ctx context.Context, n int) error {
	d := time.Duration(1<<min(n, 6)) * time.Millisecond
	d = min(d, 100*time.Millisecond)
	d = d/2 + time.Duration(randUint64()%uint64(d/2+1))
	return sleep(ctx, d)
}

// sleep waits d, or until ctx is done (its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
