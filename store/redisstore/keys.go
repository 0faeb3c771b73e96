package redisstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
)

// SharedKeysKept is the number of keys a shared key ring keeps: a rotation
// that adds one more drops the oldest.
const SharedKeysKept = 4

// keyRingKey is the key of the shared key ring: a string holding JSON, no
// TTL.
func (s *Store) keyRingKey() string {
	if s.cfg.prefix == "" {
		return "keyring"
	}
	return s.cfg.prefix + ":keyring"
}

// sharedKey is one key of the shared ring as stored.
type sharedKey struct {
	ID     string `json:"id"`
	Secret []byte `json:"secret"` // HS256, base64 in JSON
	Active int64  `json:"active"` // unix ms from which it signs (Redis clock)
}

// Both scripts reply {ring JSON, Redis time in unix ms, 1 if the ring was
// missing and the script created it else 0}.
var (
	// ARGV[1]: the ring to store if there is none.
	scriptKeysGet = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
local created = 0
if not v then
  v = ARGV[1]
  redis.call('SET', KEYS[1], v)
  created = 1
end
local t = redis.call('TIME')
return {v, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), created}
`)
	// ARGV[1]: a new secret (base64), ARGV[2]: ms until it signs,
	// ARGV[3]: keys kept.
	scriptKeysRotate = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ring = {}
local created = 1
local v = redis.call('GET', KEYS[1])
if v then ring = cjson.decode(v); created = 0 end
local n = 0
for _, k in ipairs(ring) do
  local i = tonumber(string.match(k.id, '^shared%-(%d+)$'))
  if i and i > n then n = i end
end
local active = now + tonumber(ARGV[2])
if #ring == 0 then active = 0 end
ring[#ring + 1] = {id = 'shared-' .. (n + 1), secret = ARGV[1], active = active}
while #ring > tonumber(ARGV[3]) do table.remove(ring, 1) end
v = cjson.encode(ring)
redis.call('SET', KEYS[1], v)
return {v, now, created}
`)
)

// SharedKeys returns the key ring kept in Redis, creating it with one
// random HS256 key if there is none yet (the first instance to ask wins;
// every other gets the same ring). Every instance that uses it verifies
// every other's tokens, and tokens survive restarts of the instances.
// Pass it to the Room with waitroom.WithKeys, and follow rotations with
// FollowSharedKeys.
//
// It is the zero-configuration way, meant for demos and small setups:
// anyone who can read Redis can mint tokens. In production give every
// instance the same ring from your secret store with waitroom.WithKeys
// (waitroom.NewHMACKey, or Ed25519 keys so that verifying instances hold
// no signing secret).
//
// The ring is one Redis string, <prefix>:keyring, holding JSON, without a
// TTL. A Store that finds the ring gone after it has read it once (Redis
// restarted without persistence, evicted it, or was flushed) logs an
// error saying so: the new ring it makes invalidates every token issued
// before. Making the first ring is logged at Info.
func (s *Store) SharedKeys(ctx context.Context) (*waitroom.KeyRing, error) {
	ring, _, err := s.sharedKeys(ctx)
	return ring, err
}

// sharedKeys is SharedKeys; created reports that the ring was missing.
func (s *Store) sharedKeys(ctx context.Context) (ring *waitroom.KeyRing, created bool, err error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	k, err := waitroom.GenerateKey("shared-1", waitroom.AlgHS256)
	if err != nil {
		return nil, false, err
	}
	initial, err := json.Marshal([]sharedKey{{ID: k.ID, Secret: k.Secret()}})
	if err != nil {
		return nil, false, fmt.Errorf("waitroom: redisstore: %w", err)
	}
	return s.runKeys(ctx, scriptKeysGet, string(initial))
}

// RotateSharedKeys adds a new random key to the shared ring and returns
// the ring. The new key verifies at once on every instance that reloads
// the ring, and signs from activateAfter on (Redis clock), so that every
// instance knows it before any token signed with it arrives: give
// activateAfter at least the FollowSharedKeys interval. Older keys keep
// verifying; the ring keeps the SharedKeysKept newest, so rotate no more
// often than the longest token lifetime (the zones' DataTTL) divided by
// SharedKeysKept-1. A ring missing from Redis is made anew with the new
// key alone, signing at once, and the loss logged as SharedKeys does.
func (s *Store) RotateSharedKeys(ctx context.Context, activateAfter time.Duration) (*waitroom.KeyRing, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if activateAfter < 0 {
		return nil, fmt.Errorf("waitroom: redisstore: key activation delay must not be negative, got %v", activateAfter)
	}
	k, err := waitroom.GenerateKey("new", waitroom.AlgHS256)
	if err != nil {
		return nil, err
	}
	secret, err := json.Marshal(k.Secret()) // a base64 JSON string
	if err != nil {
		return nil, fmt.Errorf("waitroom: redisstore: %w", err)
	}
	ring, _, err := s.runKeys(ctx, scriptKeysRotate, strings.Trim(string(secret), `"`), activateAfter.Milliseconds(), SharedKeysKept)
	return ring, err
}

// runKeys runs a key ring script; created reports that the ring was
// missing and the script made it, which noteRing logs.
func (s *Store) runKeys(ctx context.Context, sc *redis.Script, args ...any) (ring *waitroom.KeyRing, created bool, err error) {
	res, err := sc.Run(ctx, s.client, []string{s.keyRingKey()}, args...).Slice()
	if err != nil {
		return nil, false, unavailable(err)
	}
	if len(res) != 3 {
		return nil, false, unexpected(res)
	}
	text, _ := res[0].(string)
	now, _ := res[1].(int64)
	made, _ := res[2].(int64)
	ring, err = ringFromJSON(text, now)
	if err != nil {
		return nil, false, err
	}
	s.noteRing(made == 1)
	return ring, made == 1, nil
}

// noteRing logs a ring a script had to make: an error if this Store had
// read or written a ring before (that ring was lost), else an Info.
func (s *Store) noteRing(created bool) {
	seen := s.ringSeen.Swap(true)
	switch {
	case created && seen:
		s.logRingLost("this instance")
	case created:
		s.cfg.logger.Info("waitroom: redisstore: created the shared key ring", "key", s.keyRingKey())
	}
}

// logRingLost says loudly that the shared key ring was lost and madeBy
// ("this instance", "another instance") made a new one.
func (s *Store) logRingLost(madeBy string) {
	s.cfg.logger.Error("waitroom: redisstore: the shared key ring was lost (Redis restarted without persistence, evicted it, or was flushed) and a new one was made: "+
		"every token issued before is now invalid, so visitors lose their places in line and their access; run Redis with appendonly yes and maxmemory-policy noeviction",
		"key", s.keyRingKey(), "made_by", madeBy)
}

// ringFromJSON builds the ring stored as text at now (unix ms): every key
// verifies; the newest key active at now signs.
func ringFromJSON(text string, now int64) (*waitroom.KeyRing, error) {
	var stored []sharedKey
	if err := json.Unmarshal([]byte(text), &stored); err != nil {
		return nil, fmt.Errorf("waitroom: redisstore: shared key ring: %w", err)
	}
	signer := -1
	for i, k := range stored {
		if k.Active <= now {
			signer = i
		}
	}
	if signer < 0 {
		return nil, errors.New("waitroom: redisstore: shared key ring has no active key")
	}
	keys := make([]waitroom.Key, 0, len(stored))
	var signing waitroom.Key
	for i, sk := range stored {
		k, err := waitroom.NewHMACKey(sk.ID, sk.Secret)
		if err != nil {
			return nil, fmt.Errorf("waitroom: redisstore: shared key ring: %w", err)
		}
		if i == signer {
			signing = k
			continue
		}
		keys = append(keys, k)
	}
	return waitroom.NewKeyRing(append(keys, signing)...)
}

// FollowSharedKeys reloads the shared key ring every interval and calls
// apply (typically Room.SetKeys) whenever it changed: a key was added or
// dropped, another key started signing, or the ring was made anew after
// a loss. A ring made anew, by this instance or another, is also logged
// as an error (see SharedKeys): it is told from rotations, which only add
// higher-numbered keys and drop the oldest, by a key id it shares with
// the ring before but not its secret, or a key numbered at most the ring
// before's newest but not in it. It returns when ctx is done,
// with ctx's error; apply's errors and failures to reach Redis are
// retried at the next interval. Run it on its own goroutine, owned by the
// ctx you cancel at shutdown.
func (s *Store) FollowSharedKeys(ctx context.Context, interval time.Duration, apply func(*waitroom.KeyRing) error) error {
	if interval <= 0 {
		return fmt.Errorf("waitroom: redisstore: key reload interval must be positive, got %v", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		last string
		prev *waitroom.KeyRing // the ring read last, for telling a loss
	)
	for {
		if ring, created, err := s.sharedKeys(ctx); err == nil {
			if !created && ringReplaced(prev, ring) {
				s.logRingLost("another instance") // noteRing logged a ring this one made
			}
			prev = ring
			if fp := fingerprint(ring); fp != last && apply(ring) == nil {
				last = fp
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return errClosed
		case <-t.C:
		}
	}
}

// fingerprint names a ring's keys in order (the signer last), each with a
// digest of its secret: a ring made anew reuses the ids.
func fingerprint(r *waitroom.KeyRing) string {
	var b strings.Builder
	for _, k := range r.Keys() {
		sum := sha256.Sum256(k.Secret())
		fmt.Fprintf(&b, "%s:%x ", k.ID, sum[:8])
	}
	return b.String()
}

// ringReplaced reports whether next cannot have come from prev by
// rotations, which add keys numbered above every other and drop the
// oldest: a key of next has the id of a key of prev but another secret,
// or is numbered at most prev's newest without being in prev. prev nil
// (nothing read yet) is no replacement.
func ringReplaced(prev, next *waitroom.KeyRing) bool {
	if prev == nil {
		return false
	}
	secrets := map[string][]byte{}
	newest := 0
	for _, k := range prev.Keys() {
		secrets[k.ID] = k.Secret()
		newest = max(newest, keyNumber(k.ID))
	}
	for _, k := range next.Keys() {
		secret, known := secrets[k.ID]
		n := keyNumber(k.ID)
		if known && !bytes.Equal(secret, k.Secret()) || !known && n > 0 && n <= newest {
			return true
		}
	}
	return false
}

// keyNumber returns n of a key id "shared-n", 0 for any other id.
func keyNumber(id string) int {
	rest, ok := strings.CutPrefix(id, "shared-")
	n, err := strconv.Atoi(rest)
	if !ok || err != nil || n < 1 {
		return 0
	}
	return n
}
