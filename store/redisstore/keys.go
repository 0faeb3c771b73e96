package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

// Both scripts reply {ring JSON, Redis time in unix ms, 1 if the script
// created the ring else 0}.
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
local v = redis.call('GET', KEYS[1])
if v then ring = cjson.decode(v) end
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
return {v, now, 0}
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
// before.
func (s *Store) SharedKeys(ctx context.Context) (*waitroom.KeyRing, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	k, err := waitroom.GenerateKey("shared-1", waitroom.AlgHS256)
	if err != nil {
		return nil, err
	}
	initial, err := json.Marshal([]sharedKey{{ID: k.ID, Secret: k.Secret()}})
	if err != nil {
		return nil, fmt.Errorf("waitroom: redisstore: %w", err)
	}
	ring, created, err := s.runKeys(ctx, scriptKeysGet, string(initial))
	if err != nil {
		return nil, err
	}
	switch {
	case created && s.ringSeen.Load():
		s.cfg.logger.Error("waitroom: redisstore: the shared key ring was lost (Redis restarted without persistence, evicted it, or was flushed) and a new one was made: " +
			"every token issued before is now invalid, so visitors lose their places in line and their access; run Redis with appendonly yes and maxmemory-policy noeviction")
	case created:
		s.cfg.logger.Info("waitroom: redisstore: created the shared key ring", "key", s.keyRingKey())
	}
	s.ringSeen.Store(true)
	s.ringLost.Store(created)
	return ring, nil
}

// RotateSharedKeys adds a new random key to the shared ring and returns
// the ring. The new key verifies at once on every instance that reloads
// the ring, and signs from activateAfter on (Redis clock), so that every
// instance knows it before any token signed with it arrives: give
// activateAfter at least the FollowSharedKeys interval. Older keys keep
// verifying; the ring keeps the SharedKeysKept newest, so rotate no more
// often than the longest token lifetime (the zones' DataTTL) divided by
// SharedKeysKept-1.
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
	if err == nil {
		s.ringSeen.Store(true)
	}
	return ring, err
}

// runKeys runs a key ring script; created reports that it made the ring.
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
	return ring, made == 1, err
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
// dropped, or another key started signing. It returns when ctx is done,
// with ctx's error; apply's errors and failures to reach Redis are
// retried at the next interval. Run it on its own goroutine, owned by the
// ctx you cancel at shutdown.
func (s *Store) FollowSharedKeys(ctx context.Context, interval time.Duration, apply func(*waitroom.KeyRing) error) error {
	if interval <= 0 {
		return fmt.Errorf("waitroom: redisstore: key reload interval must be positive, got %v", interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var last string
	for {
		if ring, err := s.SharedKeys(ctx); err == nil {
			// A ring made anew after a loss has the ids of the first
			// ring, not its secret: apply it whatever its fingerprint.
			if fp := fingerprint(ring); (fp != last || s.ringLost.Load()) && apply(ring) == nil {
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

// fingerprint names a ring's keys in order (the signer last).
func fingerprint(r *waitroom.KeyRing) string {
	var b strings.Builder
	for _, k := range r.Keys() {
		b.WriteString(k.ID)
		b.WriteByte(' ')
	}
	return b.String()
}
