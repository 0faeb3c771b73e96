// Package dynamostore keeps waitroom's shared state in one DynamoDB table:
// zones, partitioned queues, leaky buckets and change feeds, changed with
// conditional writes and TransactWriteItems so that any number of instances
// can share a table. A finished zone deletes itself through DynamoDB's TTL,
// and the change feed can be read from the table's DynamoDB Stream.
//
// # Table
//
// One table with a string partition key pk, a string sort key sk and TTL
// on the number attribute ttl (CreateTable makes it; Open makes it when it
// is missing). Z is the zone's name, E its epoch: a random id drawn when
// the zone is created, so that a zone put again after its data expired
// never reads the leftovers of the old one.
//
//	item          pk                    sk                  holds
//	zone          Z#<Z>                 meta                settings, epoch, shard count; feed Seq, slots held,
//	                                                        rate credit, admissions, head of line, released
//	                                                        places, earliest slot deadline; item version
//	tail counter  Z#<Z>#<E>#tail        tail                the last queue number handed out
//	queue entry   Z#<Z>#<E>#q<shard>    <seq, 20 digits>    the visitor holding place seq (shard = (seq-1) mod N)
//	visitor       Z#<Z>#<E>#v#<id>      v                   state, seq, arrival, last seen, slot token and deadline
//	slot          Z#<Z>#<E>#b           <deadline>#<token>  one entry of the leaky bucket
//	event         Z#<Z>#<E>#f           <seq, 20 digits>    one change-feed event (the outbox)
//	key ring      keyring               keyring             the key SharedKeys generated
//
// Every item but the key ring carries ttl: DataTTL after the later of its
// write, ClosesAt and, for a slot and its visitor, the slot's deadline (and
// never before the machine's clock, which is what DynamoDB compares it
// with). Writes refresh it: heartbeats keep a waiting
// visitor, each exchange step keeps the zone item. No sweeper runs;
// DynamoDB deletes what has expired (typically within days) and an
// expired zone item reads as absent at once.
//
// # Queue: order, numbers and positions
//
// Queue order is decided by the store: a place's number (Place.Seq) comes
// from the zone's tail counter, so the numbers are 1, 2, 3, ... in the
// order registrations reach the counter, and a registration that finished
// before another began always has the smaller number, whatever the
// instances' clocks. A Store numbers its concurrent registrations of a zone
// in batches (group commit): one atomic ADD on the tail counter hands out
// a block of numbers, then one TransactWriteItems writes each visitor item
// (conditioned on the visitor holding no place, so registering is
// idempotent) with its queue entry. Within a batch, numbers follow arrival
// at this Store. A batch is whatever arrived while the previous one was
// being written, up to 50 visitors.
//
// The queue entries are dealt round-robin over N shard partitions
// (WithShards, default 16) by number, and each visitor item is its own
// partition, so a spike's writes spread evenly: measured on a 10,000-visitor
// spike from three instances, the busiest shard held exactly its fair share
// (1.000), and the only item every registration shares, the tail counter,
// was written once per 32 registrations. At DynamoDB's 1,000 writes per
// second for one item, that counter allows some 32,000 registrations per
// second per zone at that batch size, and the batches grow with the load.
//
// A place's position needs no scan and no scatter-gather: the zone item
// holds the head of the line (every place numbered at or below it has left
// the line), and Ahead = Seq - head - 1. Position reads the visitor item
// (1 read unit, or 0.5 with WithEventuallyConsistentPositions) and this
// Store's copy of the zone item, read again at most once per cache age
// (WithCacheAge, default 250ms) however many visitors poll: the one item
// every waiting visitor needs never becomes a hot key. Measured: 1.00 read
// unit per Position with 100 and with 10,000 waiting (2.00 when the zone
// item is read every time). Ahead counts every number between the head and
// the place: waiting visitors (abandoned ones included, as the contract
// says), places released behind the head until the exchanger passes them,
// and, rarely, numbers whose registration is still being written or was
// given up (a visitor registered on two instances at once takes one
// place; the other number stays unused and is skipped). So it never
// underestimates, and it is exact when nobody left the line from its
// middle. Releasing the place at the head moves the head at once.
//
// The exchanger reads the entries after the head and the visitor items
// they name (two batch reads, sized to the admissions the step may make)
// and passes, in order, released places and unused numbers (marking an
// unused number so a registration still writing it takes a new one).
//
// # Bucket and feed: one transaction per change
//
// Every change of a visitor's state or a zone's settings is one
// TransactWriteItems whose first action updates the zone item, conditioned
// on the item's version, together with the visitor, slot and queue items
// it changes (each with its own condition) and the outbox items of its
// events, numbered from the zone item's feed Seq: the feed is gap-free
// because the numbers and the events commit together. The slots held are a
// counter on the zone item, so capacity is checked in the same condition:
// it is never exceeded, on any number of instances. Slots past their
// deadline are leaked (EventExpired) by the next step that needs the room;
// the zone item keeps a lower bound of the earliest deadline, so steps
// query the bucket only when something may have expired. A Store's own
// writes to a zone item take turns (a semaphore that honours ctx) and use
// its copy of the item when it is younger than the cache age; a condition
// that fails returns the current item, and the step is computed again.
// Enter reports a race lost too many times as ok == false, Exchange as an
// empty step; Claim and Release retry (up to 40 times) and then fail with
// ErrStoreUnavailable.
//
// Registrations, positions and heartbeats never write the zone item; every
// other state change does. Its write rate is the zone's events per second
// (admissions in one exchange step share one transaction; each claim and
// release is its own). DynamoDB transactions take some 10-20 ms and
// conflicting ones are retried, so plan on at most 50-100 such changes per
// second per zone: a sale that must admit more than about 30 visitors per
// second is better split into several zones.
//
// # Capacity units
//
// Counted with DynamoDB's published rules (Store.ConsumedCapacity; items under
// 1 KB), measured by this package's benchmarks:
//
//	operation          reads                              writes (WCU)
//	Register (new)     1 (visitor, in a batch read)       ~4: 2-action transaction, plus the tail
//	                                                      counter once per batch (5 when alone)
//	Register (again)   1                                  1 heartbeat
//	Position           1 (0.5 eventually consistent)      -
//	Heartbeat          -                                  1
//	Exchange           entries + tail + visitors          2 x (1 + 3 per admission, 2 per skip or leak)
//	Enter              visitor + tail counter             8 (4 actions)
//	Claim              1                                  10 (5 actions: the slot moves to its new deadline)
//	Release            1                                  8 (4 actions)
//	Stats              zone + tail (+ expired slots)      -
//
// plus the zone item (1 read unit) once per cache age per instance. An
// exchange step with nothing to do reads nothing more: this Store
// remembers an empty line for the cache age, and the zone item holds the
// earliest slot deadline, so the bucket is queried only when one passes.
// One
// admission end to end (register alone, the exchange that admits it,
// claim, release) costs 6 read and 31 write units. A visitor waiting and
// refreshing the page every 5 seconds costs 12 read and 4 write units per
// minute (a Position per refresh, a heartbeat every AbandonAfter/4); every
// 2 seconds, 30 read and 3 write units (the middleware's edge cache
// answers repeats within a second).
//
// The Store is not a waitroom.BatchStore: DynamoDB has no transaction of
// hundreds of conditional writes, and its Register already gathers the
// calls of concurrent visitors for the tail counter (above). A Room over
// it makes each visitor's call on its own.
//
// # Change feed
//
// ReadFeed returns the outbox items in Seq order. It serves events from
// memory when this Store holds them contiguously (its own writes, and with
// WithStreams the stream), else from a strongly consistent query of the
// zone's event partition. Waiting for new events:
//
//   - Polling (the default): the outbox is queried every poll interval
//     (WithPollInterval, default 250ms). Other instances' events arrive
//     within one interval; this Store's own at once. Cost: one query (1
//     read unit) per interval per zone per waiting reader.
//   - WithStreams: a reader of the table's DynamoDB Stream (describe the
//     stream, an iterator per shard, GetRecords in order, child shards
//     from their start) hands every outbox insert to the zone's readers.
//     Events arrive with the stream's delay (typically well under a
//     second; records of one zone share a partition key, so they come in
//     order) plus at most one poll interval for an idle shard. Waiting
//     readers cost no read units; they query the outbox only to catch up,
//     after the stream reader restarts, and every 20 poll intervals in case
//     the stream stalls, which bounds the staleness. DynamoDB Streams
//     allows about two concurrent readers per shard: beyond a couple of
//     instances per table, poll, or fan the stream out (Lambda, Kinesis).
//
// Readers further behind than the events kept (WithFeedRetention, default
// as long as the zone's data) get waitroom.ErrFeedTrimmed.
//
// # Failures
//
// Clients should retry throttling with backoff: Open configures the SDK's
// standard retryer (NewRetryer), which also retries the
// TransactionConflictException a single write gets when a transaction
// holds its item. Errors say which operation failed and wrap
// waitroom.ErrStoreUnavailable (and the SDK's error) when DynamoDB failed
// or could not be reached; a lost race is never an error.
//
// # Keys
//
// Tokens are verified locally, so every instance needs the same keys.
// Configure them (waitroom.WithKeys, from your secret store) in production;
// SharedKeys generates a key ring once and keeps it in the table, for
// demos and tests.
package dynamostore
