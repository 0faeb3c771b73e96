package dynamostore

import (
	"context"
	"errors"
	"math"

	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// meta is a zone item: the zone's settings and every counter that must
// change atomically with an event. Its fs attribute (the feed's last Seq)
// is the version every event-writing transaction conditions on.
type meta struct {
	st     waitroom.ZoneState
	epoch  string
	shards int

	mv        uint64  // version of the item: every write adds 1 and conditions on it
	fs        uint64  // Seq of the latest event
	inside    int     // slots in the bucket, including ones past their deadline not yet leaked
	credit    float64 // admission-rate credit at creditAt
	creditAt  int64   // ms
	admitted  uint64  // admissions and direct entries so far
	lastAdmit int64   // ms
	head      uint64  // every place with a queue number <= head has left the line
	draw      waitroom.Draw
	released  int64 // places after head given up by Release, not yet passed
	nextLeak  int64 // ms; every slot's deadline is at or after it
	ttl       int64 // epoch seconds
}

// Attribute names of the zone item.
const (
	mEpoch     = "ep"
	mShards    = "shd"
	mCapacity  = "cap"
	mRate      = "rate"
	mSession   = "ses"
	mClaim     = "clm"
	mAbandon   = "abd"
	mOpens     = "opn"
	mCloses    = "cls"
	mDataTTL   = "dttl"
	mMode      = "mode"
	mPaused    = "pau"
	mMaxWait   = "mxw"
	mVersion   = "ver"
	mFeedSeq   = "fs"
	mInside    = "in"
	mCredit    = "cr"
	mCreditAt  = "ct"
	mAdmitted  = "adm"
	mLastAdmit = "la"
	mHead      = "hw"
	mReleased  = "rel"
	mNextLeak  = "nx"
	mItemVer   = "mv"
	mDrawFirst = "dwf"
	mDrawCount = "dwc"
	mDrawSeed  = "dws"
	mDrawAt    = "dwa"
)

func decodeMeta(zone string, it item) meta {
	return meta{
		st: waitroom.ZoneState{
			Name:           zone,
			Capacity:       int(it.int(mCapacity)),
			AdmitPerSecond: it.float(mRate),
			Session:        time.Duration(it.int(mSession)) * time.Millisecond,
			ClaimWindow:    time.Duration(it.int(mClaim)) * time.Millisecond,
			AbandonAfter:   time.Duration(it.int(mAbandon)) * time.Millisecond,
			OpensAt:        unixMS(it.int(mOpens)),
			ClosesAt:       unixMS(it.int(mCloses)),
			DataTTL:        time.Duration(it.int(mDataTTL)) * time.Millisecond,
			Mode:           waitroom.Mode(it.int(mMode)),
			Paused:         it.int(mPaused) != 0,
			MaxWaiting:     it.int(mMaxWait),
			Version:        it.uint(mVersion),
		},
		epoch:     it.str(mEpoch),
		shards:    int(it.int(mShards)),
		mv:        it.uint(mItemVer),
		fs:        it.uint(mFeedSeq),
		inside:    int(it.int(mInside)),
		credit:    it.float(mCredit),
		creditAt:  it.int(mCreditAt),
		admitted:  it.uint(mAdmitted),
		lastAdmit: it.int(mLastAdmit),
		head:      it.uint(mHead),
		released:  it.int(mReleased),
		nextLeak:  it.int(mNextLeak),
		ttl:       it.int(attrTTL),
		draw:      decodeDraw(it),
	}
}

// decodeDraw reads the zone item's draw, zero if none was made.
func decodeDraw(it item) waitroom.Draw {
	at := it.int(mDrawAt)
	if at == 0 {
		return waitroom.Draw{}
	}
	return waitroom.Draw{First: it.uint(mDrawFirst), Count: it.uint(mDrawCount), Seed: it.uint(mDrawSeed), At: unixMS(at)}
}

// settings returns the attribute/value pairs of the zone's settings.
func settings(st waitroom.ZoneState) []any {
	return []any{
		mCapacity, num(st.Capacity), mRate, fnum(st.AdmitPerSecond),
		mSession, num(st.Session.Milliseconds()), mClaim, num(st.ClaimWindow.Milliseconds()),
		mAbandon, num(st.AbandonAfter.Milliseconds()), mOpens, num(ms(st.OpensAt)),
		mCloses, num(ms(st.ClosesAt)), mDataTTL, num(st.DataTTL.Milliseconds()),
		mMode, num(int(st.Mode)), mPaused, num(boolNum(st.Paused)), mMaxWait, num(st.MaxWaiting),
		mVersion, unum(st.Version),
	}
}

// counters returns the attribute/value pairs of the zone's counters.
func (m *meta) counters() []any {
	return []any{
		mItemVer, unum(m.mv), mFeedSeq, unum(m.fs), mInside, num(m.inside), mCredit, fnum(m.credit),
		mCreditAt, num(m.creditAt), mAdmitted, unum(m.admitted), mLastAdmit, num(m.lastAdmit),
		mHead, unum(m.head), mReleased, num(m.released), mNextLeak, num(m.nextLeak),
		attrTTL, num(m.ttl),
		mDrawFirst, unum(m.draw.First), mDrawCount, unum(m.draw.Count), mDrawSeed, unum(m.draw.Seed),
		mDrawAt, num(ms(m.draw.At)),
	}
}

func (m *meta) keys() zkeys { return newZKeys(m.st.Name, m.epoch, m.shards) }

// openAt reports whether the zone admits anyone at now (ms).
func (m *meta) openAt(now int64) bool { return m.st.OpenAt(unixMS(now)) }

// accrue counts the credit at now, in ms (storekit.Accrue).
func (m *meta) accrue(now int64) {
	m.credit, m.creditAt = storekit.Accrue(m.st, m.credit, m.creditAt, now, time.Millisecond)
}

// undrawn reports whether the zone is to draw its order and has not.
func (m *meta) undrawn() bool {
	return m.st.Mode == waitroom.ModeRandomAtOpen && !m.draw.Drawn()
}

// waiting counts the places in line given the tail counter: every place
// handed out after head, less the released ones. Places whose registration
// is still being written count too.
func (m *meta) waiting(tail uint64) int64 {
	if tail <= m.head {
		return 0
	}
	return max(int64(tail-m.head)-m.released, 0)
}

// ahead returns the number of places before seq in line.
func (m *meta) ahead(seq uint64) int64 {
	if seq <= m.head+1 {
		return 0
	}
	return int64(seq - m.head - 1)
}

// expires returns the TTL attribute for an item of the zone written at
// now: DataTTL after the later of now and ClosesAt. DynamoDB compares the
// attribute with its own clock, so the machine's clock counts as a floor:
// an item written with an instant in the past (a replay, a test) is not
// deleted while in use.
func (s *Store) expires(st waitroom.ZoneState, now time.Time) int64 {
	t := now
	if w := s.cfg.wallClock(); w.After(t) {
		t = w
	}
	if st.ClosesAt.After(t) {
		t = st.ClosesAt
	}
	return t.Add(st.DataTTL).Unix() + 1
}

// eventExpires returns the TTL attribute of an event written at now.
func (s *Store) eventExpires(st waitroom.ZoneState, now time.Time) int64 {
	exp := s.expires(st, now)
	if r := s.cfg.feedRetention; r > 0 {
		t := now
		if w := s.cfg.wallClock(); w.After(t) {
			t = w
		}
		exp = min(exp, t.Add(r).Unix()+1)
	}
	return exp
}

// --- the cache of zone items ---

type cachedMeta struct {
	m          meta
	at         time.Time // wall clock of the read
	refreshing bool      // a caller is reading the item again
}

// readMeta reads the zone item. maxAge > 0 accepts a copy read or written by
// this Store at most that long ago. ErrZoneNotFound if there is none (or it
// has expired).
func (s *Store) readMeta(ctx context.Context, zone string, maxAge time.Duration) (meta, error) {
	if maxAge > 0 {
		s.metaMu.Lock()
		c := s.metas[zone]
		if c != nil && (time.Since(c.at) <= maxAge || c.refreshing) {
			// Fresh enough, or another caller is reading it now: many
			// callers at once make one read, not one each.
			m := c.m
			s.metaMu.Unlock()
			return m, nil
		}
		if c != nil {
			c.refreshing = true
			defer func() {
				s.metaMu.Lock()
				c.refreshing = false
				s.metaMu.Unlock()
			}()
		}
		s.metaMu.Unlock()
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: metaKey(zone), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return meta{}, unavailable("read zone "+zone, err)
	}
	s.usage.read(1)
	if out.Item == nil {
		s.forget(zone)
		return meta{}, storekit.NotFound(zone)
	}
	m := decodeMeta(zone, out.Item)
	if m.ttl != 0 && m.ttl < s.cfg.wallClock().Unix() {
		s.forget(zone)
		return meta{}, storekit.NotFound(zone)
	}
	s.remember(m, true)
	return m, nil
}

// remember keeps m as the zone's latest known state, unless a later one is
// known already (force: a fresh read wins over an older copy).
func (s *Store) remember(m meta, force bool) {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	c := s.metas[m.st.Name]
	if c != nil && !force && c.m.epoch == m.epoch && c.m.mv > m.mv {
		return
	}
	s.metas[m.st.Name] = &cachedMeta{m: m, at: time.Now()}
}

func (s *Store) forget(zone string) {
	s.metaMu.Lock()
	delete(s.metas, zone)
	s.metaMu.Unlock()
}

// lockZone makes this Store's writes of one zone item take turns, so that
// they do not defeat each other's conditional writes (instances still race,
// and retry). It honours ctx; call the returned func to let the next in.
func (s *Store) lockZone(ctx context.Context, zone string) (func(), error) {
	s.metaMu.Lock()
	ch := s.locks[zone]
	if ch == nil {
		ch = make(chan struct{}, 1)
		s.locks[zone] = ch
	}
	s.metaMu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, unavailable("wait for zone "+zone, ctx.Err())
	case <-s.ctx.Done():
		return nil, errClosed
	}
}

// writerMeta returns the zone item for a write: this Store's copy if it is
// younger than the cache age (the write's condition catches a stale one),
// else a fresh read.
func (s *Store) writerMeta(ctx context.Context, zone string) (meta, error) {
	return s.readMeta(ctx, zone, s.cfg.cacheAge)
}

// --- zone settings ---

// PutZone creates the zone or replaces its settings (see waitroom.Store).
// A new zone (or one whose data has expired) starts a new epoch: an empty
// queue, bucket and feed.
func (s *Store) PutZone(ctx context.Context, st waitroom.ZoneState, now time.Time) (waitroom.ZoneState, error) {
	if err := s.check(); err != nil {
		return waitroom.ZoneState{}, err
	}
	st, err := st.Normalize()
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	n := now.UnixMilli()
	unlock, err := s.lockZone(ctx, st.Name)
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		if attempt >= maxAttempts {
			return waitroom.ZoneState{}, contention("put zone", st.Name)
		}
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return waitroom.ZoneState{}, unavailable("put zone", err)
			}
		}
		old, err := s.readMeta(ctx, st.Name, 0)
		if errors.Is(err, waitroom.ErrZoneNotFound) {
			created, ok, err := s.createZone(ctx, st, now)
			if err != nil {
				return waitroom.ZoneState{}, err
			}
			if ok {
				return created, nil
			}
			continue
		}
		if err != nil {
			return waitroom.ZoneState{}, err
		}
		if old.st.Equal(st) {
			return old.st, nil
		}
		m := old
		m.accrue(n)
		st.Version = old.st.Version + 1
		m.st = st
		m.credit = min(m.credit, st.RateBurst())
		tx := s.newTx(&m, now)
		tx.event(waitroom.Event{Kind: waitroom.EventZone, Version: st.Version})
		tx.updateSettings = true
		ok, _, err := tx.commit(ctx, "put zone")
		if err != nil {
			return waitroom.ZoneState{}, err
		}
		if ok {
			return m.st, nil
		}
	}
}

// createZone writes a new zone item with its first event. ok is false if
// another instance created the zone first.
func (s *Store) createZone(ctx context.Context, st waitroom.ZoneState, now time.Time) (waitroom.ZoneState, bool, error) {
	st.Version = 1
	m := meta{
		st: st, epoch: newEpoch(), shards: s.cfg.shards,
		credit: st.RateBurst(), creditAt: now.UnixMilli(), nextLeak: math.MaxInt64,
	}
	tx := s.newTx(&m, now)
	tx.create = true
	tx.event(waitroom.Event{Kind: waitroom.EventZone, Version: 1})
	ok, _, err := tx.commit(ctx, "create zone")
	if err != nil || !ok {
		return waitroom.ZoneState{}, false, err
	}
	return m.st, true, nil
}

// Zone returns the stored settings, or waitroom.ErrZoneNotFound.
func (s *Store) Zone(ctx context.Context, zone string) (waitroom.ZoneState, error) {
	if err := s.check(); err != nil {
		return waitroom.ZoneState{}, err
	}
	if err := checkZone(zone); err != nil {
		return waitroom.ZoneState{}, storekit.NotFound(zone)
	}
	m, err := s.readMeta(ctx, zone, 0)
	if err != nil {
		return waitroom.ZoneState{}, err
	}
	return m.st, nil
}

// boolNum is b as a number attribute: 1 or 0.
func boolNum(b bool) int {
	if b {
		return 1
	}
	return 0
}
