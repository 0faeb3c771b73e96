package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// Defaults of the options.
const (
	// DefaultPrefix starts every key the store writes.
	DefaultPrefix = "waitroom"
	// DefaultFeedMaxLen is the approximate number of events kept per zone.
	DefaultFeedMaxLen = 100_000
	// DefaultMaxBlockingReads is the number of ReadFeed calls that may wait
	// on a blocking XREAD at once.
	DefaultMaxBlockingReads = 16
	// DefaultReadLimit is the number of events ReadFeed returns at most when
	// called with limit <= 0.
	DefaultReadLimit = 1000
	// MaxSkipsPerExchange caps the abandoned places one Exchange skips, so
	// that one script never holds Redis for long; the rest are skipped by
	// the next steps.
	MaxSkipsPerExchange = 10_000
)

// feedPollInterval is how often a ReadFeed that found every blocking read
// in use looks at the feed again.
const feedPollInterval = 50 * time.Millisecond

// An Option configures a Store.
type Option func(*config)

type config struct {
	prefix      string
	feedMaxLen  int64
	callerClock bool
	closeClient bool
	maxBlocking int
	logger      *slog.Logger
}

// WithPrefix sets the first part of every key, so that several rooms (or
// other apps) can share one Redis. It must not contain '{' or '}'.
// Default DefaultPrefix ("waitroom").
func WithPrefix(p string) Option { return func(c *config) { c.prefix = p } }

// WithFeedMaxLen sets how many events of each zone's change feed are kept:
// the stream is trimmed with XADD MAXLEN ~ n, so a little more may stay. A
// reader asking for trimmed events gets waitroom.ErrFeedTrimmed and
// resynchronises. Default DefaultFeedMaxLen (100,000).
func WithFeedMaxLen(n int64) Option { return func(c *config) { c.feedMaxLen = n } }

// WithCallerClock makes the store decide with the now its callers pass
// instead of Redis TIME. It is meant for tests that drive a fake clock
// (the storetest suite needs it). Without it every instant the store
// records or compares is Redis's own clock, so instances whose clocks are
// skewed still agree; the now arguments are then ignored.
func WithCallerClock() Option { return func(c *config) { c.callerClock = true } }

// WithCloseClient makes Close close the Redis client too. By default Close
// leaves a client given to New open: it belongs to the caller. Open always
// sets it.
func WithCloseClient() Option { return func(c *config) { c.closeClient = true } }

// WithMaxBlockingReads sets how many ReadFeed calls may wait on a blocking
// XREAD at once. Each holds one connection of the client's pool while it
// waits; further waiting readers poll every 50ms instead. Keep it well
// below the pool size. Default DefaultMaxBlockingReads (16).
func WithMaxBlockingReads(n int) Option { return func(c *config) { c.maxBlocking = n } }

// WithLogger sets the logger for what the store reports on its own: unsafe
// server settings found by Open (see Store.Durability) and a lost shared
// key ring. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Store is a waitroom.Store kept in Redis. Every operation is one Lua
// script run with EVALSHA: one round trip, atomic per zone. It is safe for
// concurrent use, and any number of Stores (one per instance) may share a
// Redis. Build one with New or Open; the zero value is not usable.
type Store struct {
	client redis.UniversalClient
	cfg    config

	// clock is the latest now (unix microseconds) any call passed, for the
	// calls that take no now, under WithCallerClock.
	clock atomic.Int64

	ringSeen atomic.Bool // a shared key ring was read or made

	blocking chan struct{} // a token per blocking XREAD in flight
	readers  sync.WaitGroup
	done     chan struct{}
	closed   atomic.Bool
}

var _ waitroom.Store = (*Store)(nil)

// New returns a Store over client: a *redis.Client, a *redis.ClusterClient
// or a failover client. It does not contact Redis.
func New(client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("waitroom: redisstore: client is nil")
	}
	cfg := config{prefix: DefaultPrefix, feedMaxLen: DefaultFeedMaxLen, maxBlocking: DefaultMaxBlockingReads, logger: slog.Default()}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if strings.ContainsAny(cfg.prefix, "{}") {
		return nil, fmt.Errorf("waitroom: redisstore: key prefix %q must not contain '{' or '}'", cfg.prefix)
	}
	if cfg.feedMaxLen < 1 {
		return nil, fmt.Errorf("waitroom: redisstore: feed max length must be positive, got %d", cfg.feedMaxLen)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.maxBlocking < 1 {
		return nil, fmt.Errorf("waitroom: redisstore: max blocking reads must be positive, got %d", cfg.maxBlocking)
	}
	return &Store{
		client:   client,
		cfg:      cfg,
		blocking: make(chan struct{}, cfg.maxBlocking),
		done:     make(chan struct{}),
	}, nil
}

// Client returns the Redis client the store uses.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Close stops the store: later calls, and ReadFeed calls waiting now,
// return an error wrapping waitroom.ErrStoreUnavailable. It waits for the
// blocking XREADs in flight to end (at most their wait) and closes the
// client only if the store owns it (WithCloseClient, Open). It deletes no
// data. Calling it again does nothing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	close(s.done)
	var err error
	if s.cfg.closeClient {
		err = s.client.Close()
	}
	s.readers.Wait()
	if err != nil {
		return fmt.Errorf("waitroom: redisstore: close: %w", err)
	}
	return nil
}

var errClosed = storekit.Closed("redisstore")

// unavailable wraps a failure of Redis or of the connection to it.
func unavailable(err error) error { return storekit.Unavailable("redisstore", err) }

// --- keys ---

// Key suffixes of a zone. See the package documentation for the layout.
const (
	keyZone     = "zone"
	keyLine     = "line"
	keyVisitors = "visitors"
	keySlots    = "slots"
	keyFeed     = "feed"
)

// zoneKey returns the key of one of a zone's records. The zone name in
// braces is the key's hash tag: every key of a zone is in one Cluster slot.
func (s *Store) zoneKey(zone, suffix string) string {
	if s.cfg.prefix == "" {
		return "{" + zone + "}:" + suffix
	}
	return s.cfg.prefix + ":{" + zone + "}:" + suffix
}

// zoneKeys returns the keys every zone script takes, in the order of
// lua/prelude.lua.
func (s *Store) zoneKeys(zone string) []string {
	return []string{
		s.zoneKey(zone, keyZone), s.zoneKey(zone, keyLine), s.zoneKey(zone, keyVisitors),
		s.zoneKey(zone, keySlots), s.zoneKey(zone, keyFeed),
	}
}

// --- clock ---

// nowArg returns the clock argument of a script: now in unix microseconds
// under WithCallerClock, else "" (the script reads Redis TIME).
func (s *Store) nowArg(now time.Time) string {
	if !s.cfg.callerClock {
		return ""
	}
	n := now.UnixMicro()
	for {
		c := s.clock.Load()
		if n <= c || s.clock.CompareAndSwap(c, n) {
			break
		}
	}
	return strconv.FormatInt(n, 10)
}

// latestArg is the clock argument for calls that take no now: the latest
// now seen under WithCallerClock, else "" (Redis TIME).
func (s *Store) latestArg() string {
	if !s.cfg.callerClock {
		return ""
	}
	return strconv.FormatInt(s.clock.Load(), 10)
}

// micros converts unix microseconds to a UTC time; 0 is the zero time.
func micros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// instant converts t to unix microseconds at millisecond precision; the
// zero time is 0.
func instant(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli() * 1000
}

// --- running scripts ---

// run runs a zone script: one EVALSHA (EVAL if Redis lost the script).
func (s *Store) run(ctx context.Context, sc *redis.Script, zone, clock string, args ...any) ([]any, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	argv := make([]any, 0, 2+len(args))
	argv = append(argv, clock, s.cfg.feedMaxLen)
	argv = append(argv, args...)
	res, err := sc.Run(ctx, s.client, s.zoneKeys(zone), argv...).Slice()
	if err != nil {
		return nil, unavailable(err)
	}
	if len(res) == 0 {
		return nil, unavailable(errors.New("empty script reply"))
	}
	return res, nil
}

// reply is a script's answer: its status word and the values after it.
type reply struct {
	status string
	vals   []any
	err    error // set when a value has an unexpected type
}

func newReply(res []any) *reply {
	st, _ := res[0].(string)
	return &reply{status: st, vals: res[1:]}
}

func (r *reply) int(i int) int64 {
	if i >= len(r.vals) {
		r.fail(i)
		return 0
	}
	switch v := r.vals[i].(type) {
	case int64:
		return v
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			r.fail(i)
		}
		return n
	}
	r.fail(i)
	return 0
}

func (r *reply) str(i int) string {
	if i >= len(r.vals) {
		r.fail(i)
		return ""
	}
	switch v := r.vals[i].(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	}
	r.fail(i)
	return ""
}

func (r *reply) fail(i int) {
	if r.err == nil {
		r.err = unavailable(fmt.Errorf("unexpected script reply %v (value %d)", r.vals, i))
	}
}

// --- validation ---

// normalize validates st and rounds it the way every store keeps it.
func normalize(st waitroom.ZoneState) (waitroom.ZoneState, error) {
	st, err := st.Normalize()
	if err != nil {
		return st, fmt.Errorf("waitroom: redisstore: %w", err)
	}
	return st, nil
}

var errEmptyVisitor = storekit.EmptyVisitor("redisstore")
