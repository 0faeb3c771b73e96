package redisstore_test

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// testPrefix returns a key prefix of its own for a test that writes
// shared keys.
func testPrefix() string { return fmt.Sprintf("wrtest-%08x", rand.Uint32()) }

func keyIDs(r *waitroom.KeyRing) []string {
	var ids []string
	for _, k := range r.Keys() {
		ids = append(ids, k.ID)
	}
	return ids
}

// TestSharedKeysAcrossInstances: two instances (own clients, own stores)
// get the same ring; a token one signs verifies on the other, also after
// the ring is read again (a restart); after a rotation the new key signs,
// the old tokens still verify, and the other instance verifies the new
// tokens once it reloads the ring.
func TestSharedKeysAcrossInstances(t *testing.T) {
	prefix := testPrefix()
	a := newStore(t, sharedClient(t), redisstore.WithPrefix(prefix))
	b := newStore(t, sharedClient(t), redisstore.WithPrefix(prefix))
	ctx := t.Context()
	now := time.Now()

	ringA, err := a.SharedKeys(ctx)
	require.NoError(t, err)
	ringB, err := b.SharedKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"shared-1"}, keyIDs(ringA))
	assert.Equal(t, keyIDs(ringA), keyIDs(ringB), "both instances get the ring the first one created")

	access := waitroom.Access{Visitor: "v", Zone: "z", TokenID: "t1", Expires: now.Add(time.Minute)}
	tokA, err := ringA.SignAccess(access)
	require.NoError(t, err)
	got, err := ringB.VerifyAccess(tokA, "z", now)
	require.NoError(t, err, "a token signed on instance A verifies on instance B")
	assert.Equal(t, access.TokenID, got.TokenID)

	// A restarted instance reads the same ring again.
	again, err := newStore(t, sharedClient(t), redisstore.WithPrefix(prefix)).SharedKeys(ctx)
	require.NoError(t, err)
	_, err = again.VerifyAccess(tokA, "z", now)
	require.NoError(t, err, "a restarted instance verifies tokens issued before")

	rotated, err := a.RotateSharedKeys(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"shared-1", "shared-2"}, keyIDs(rotated), "rotation adds a key and keeps the old one")
	assert.Equal(t, "shared-2", rotated.SigningKey().ID, "the new key signs at once with no activation delay")
	tokA2, err := rotated.SignAccess(access)
	require.NoError(t, err)

	_, err = ringB.VerifyAccess(tokA2, "z", now)
	require.ErrorIs(t, err, waitroom.ErrUnknownKey, "B's old ring does not know the new key yet")
	ringB2, err := b.SharedKeys(ctx)
	require.NoError(t, err)
	_, err = ringB2.VerifyAccess(tokA2, "z", now)
	require.NoError(t, err, "after reloading, B verifies tokens signed with the new key")
	_, err = ringB2.VerifyAccess(tokA, "z", now)
	require.NoError(t, err, "tokens signed with the old key still verify after the rotation")

	// A delayed rotation: the next key verifies at once but does not sign yet.
	delayed, err := b.RotateSharedKeys(ctx, time.Hour)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"shared-1", "shared-2", "shared-3"}, keyIDs(delayed))
	assert.Equal(t, "shared-2", delayed.SigningKey().ID, "a key activating in an hour does not sign yet")

	for range redisstore.SharedKeysKept {
		_, err = a.RotateSharedKeys(ctx, 0)
		require.NoError(t, err)
	}
	last, err := a.SharedKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, last.Keys(), redisstore.SharedKeysKept, "the ring keeps the newest keys")
	assert.Equal(t, fmt.Sprintf("shared-%d", 3+redisstore.SharedKeysKept), last.SigningKey().ID)
}

// TestFollowSharedKeys: FollowSharedKeys hands the current ring over at
// once and every rotation after it, and stops with its ctx.
func TestFollowSharedKeys(t *testing.T) {
	prefix := testPrefix()
	a := newStore(t, sharedClient(t), redisstore.WithPrefix(prefix))
	b := newStore(t, sharedClient(t), redisstore.WithPrefix(prefix))
	ctx, cancel := context.WithCancel(t.Context())
	f := follow(ctx, b)
	first := f.next(t)
	assert.Equal(t, []string{"shared-1"}, keyIDs(first), "the current ring is applied at once")

	_, err := a.RotateSharedKeys(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, "shared-2", f.next(t).SigningKey().ID, "a rotation on another instance is followed")

	cancel()
	require.ErrorIs(t, <-f.done, context.Canceled)
	assert.Empty(t, f.rings, "an unchanged ring is not applied again")
}

// follower runs FollowSharedKeys on its own goroutine until ctx ends, and
// hands over each ring it applies.
type follower struct {
	rings chan *waitroom.KeyRing
	done  chan error // FollowSharedKeys's result
}

func follow(ctx context.Context, s *redisstore.Store) *follower {
	f := &follower{rings: make(chan *waitroom.KeyRing, 16), done: make(chan error, 1)}
	go func() {
		f.done <- s.FollowSharedKeys(ctx, 10*time.Millisecond, func(r *waitroom.KeyRing) error {
			f.rings <- r
			return nil
		})
	}()
	return f
}

// next returns the next ring applied, failing the test after 10s.
func (f *follower) next(t *testing.T) *waitroom.KeyRing {
	t.Helper()
	select {
	case r := <-f.rings:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("FollowSharedKeys applied no ring within 10s")
		return nil
	}
}

// TestOpen: Open connects with a URL; bad URLs and unreachable servers
// are descriptive errors, the latter wrapping ErrStoreUnavailable.
func TestOpen(t *testing.T) {
	sharedClient(t) // skips without Redis
	ctx := t.Context()
	s, err := redisstore.Open(ctx, redisURL())
	require.NoError(t, err)
	_, err = s.Zone(ctx, "wrtest-none")
	require.ErrorIs(t, err, waitroom.ErrZoneNotFound)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is a no-op")
	_, err = s.Zone(ctx, "wrtest-none")
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "a closed store is unavailable")

	for _, bad := range []string{"", "localhost:6379", "http://localhost", "redis+cluster://", "redis+cluster://h:1/3"} {
		_, err := redisstore.Open(ctx, bad)
		require.Error(t, err, "Open(%q)", bad)
		assert.Contains(t, err.Error(), "waitroom: redisstore:", "Open(%q)", bad)
	}

	_, err = redisstore.Open(ctx, fmt.Sprintf("redis://user:secret@127.0.0.1:%d/0?dial_timeout=200ms", freePort(t)))
	require.ErrorIs(t, err, waitroom.ErrStoreUnavailable, "nobody listens on the port")
	assert.NotContains(t, err.Error(), "secret", "errors never show the password")
}

// TestOpenCluster: the redis+cluster:// form reaches every master of a
// Cluster from the seeds it lists, and Open's one warning names the
// setting of every master (run without appendonly).
func TestOpenCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	addrs := startCluster(t)
	ctx := t.Context()
	logs := &waitroomtest.Log{}
	s, err := redisstore.Open(ctx, "redis+cluster://"+addrs[0]+","+addrs[1],
		redisstore.WithLogger(logs.Logger()))
	require.NoError(t, err)
	defer s.Close()
	warnings := logs.Lines("WARN")
	require.Len(t, warnings, 1, "one warning for the whole Cluster")
	for _, addr := range addrs {
		assert.Contains(t, warnings[0], addr+": appendonly is", "the warning names every master")
	}
	assert.Empty(t, logs.Lines("INFO"), "every master answered")
	for i := range 20 {
		zone := waitroom.ZoneState{Name: fmt.Sprintf("open-%d", i), Capacity: 1, AdmitPerSecond: 1,
			Session: time.Minute, ClaimWindow: time.Minute, AbandonAfter: time.Minute, DataTTL: time.Hour}
		_, err := s.PutZone(ctx, zone, time.Now())
		require.NoError(t, err, "zones spread over the three masters")
		_, err = s.Register(ctx, zone.Name, "v", time.Now())
		require.NoError(t, err)
	}
	ring, err := s.SharedKeys(ctx)
	require.NoError(t, err)
	assert.NotEmpty(t, ring.Keys())
}

// ringJSON is a shared key ring as another instance stores it: one key
// per id, a fresh random secret each, all active.
func ringJSON(ids ...string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		secret := make([]byte, 32)
		crand.Read(secret)
		fmt.Fprintf(&b, `{"id":%q,"secret":%q,"active":0}`, id, base64.StdEncoding.EncodeToString(secret))
	}
	b.WriteByte(']')
	return b.String()
}

// TestFollowSharedKeysAfterLoss: when the ring a follower holds is gone
// from Redis and another instance made a new one (same first key id, new
// secret; or lower key ids than the follower's newest), the follower
// applies the new ring and logs the loss once, as an error; a rotation
// after it is no loss.
func TestFollowSharedKeysAfterLoss(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []string // the ring the follower holds
		after  []string // the ring another instance made after the loss
	}{
		{"same ids", []string{"shared-1"}, []string{"shared-1"}},
		{"lower ids", []string{"shared-4", "shared-5"}, []string{"shared-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := testPrefix()
			client := sharedClient(t)
			key := prefix + ":keyring"
			t.Cleanup(func() { client.Del(context.Background(), key) })
			ctx, cancel := context.WithCancel(t.Context())
			require.NoError(t, client.Set(ctx, key, ringJSON(tc.before...), 0).Err())

			logs := &waitroomtest.Log{}
			b := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithLogger(logs.Logger()))
			f := follow(ctx, b)
			defer func() { cancel(); <-f.done }()
			first := f.next(t)
			assert.Equal(t, tc.before, keyIDs(first))
			assert.Empty(t, logs.Lines("ERROR"))

			// The ring is lost and another instance makes a new one.
			require.NoError(t, client.Set(ctx, key, ringJSON(tc.after...), 0).Err())
			lost := f.next(t)
			assert.Equal(t, tc.after, keyIDs(lost), "the new ring is applied")
			assert.NotEqual(t, first.SigningKey().Secret(), lost.SigningKey().Secret())
			errs := logs.Lines("ERROR")
			require.Len(t, errs, 1, "the loss is logged")
			assert.Contains(t, errs[0], "shared key ring was lost")
			assert.Contains(t, errs[0], "every token issued before is now invalid")

			a := newStore(t, client, redisstore.WithPrefix(prefix))
			_, err := a.RotateSharedKeys(ctx, 0)
			require.NoError(t, err)
			f.next(t)
			assert.Len(t, logs.Lines("ERROR"), 1, "a rotation is no loss, and the loss is said once")
		})
	}
}

// TestRotateLostKeyRingIsLoud: a rotation that finds the ring gone makes
// a new one, and the Store that had read the ring logs the loss once.
func TestRotateLostKeyRingIsLoud(t *testing.T) {
	prefix := testPrefix()
	client := sharedClient(t)
	ctx := t.Context()
	logs := &waitroomtest.Log{}
	s := newStore(t, client, redisstore.WithPrefix(prefix), redisstore.WithLogger(logs.Logger()))
	t.Cleanup(func() { client.Del(context.Background(), prefix+":keyring") })

	first, err := s.SharedKeys(ctx)
	require.NoError(t, err)
	require.NoError(t, client.Del(ctx, prefix+":keyring").Err())
	rotated, err := s.RotateSharedKeys(ctx, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, []string{"shared-1"}, keyIDs(rotated), "a ring made anew")
	assert.NotEqual(t, first.SigningKey().Secret(), rotated.SigningKey().Secret())
	errs := logs.Lines("ERROR")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], "shared key ring was lost")

	_, err = s.RotateSharedKeys(ctx, 0)
	require.NoError(t, err)
	assert.Len(t, logs.Lines("ERROR"), 1, "said once")
}
