package waitroom

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/waitroom/waitroom/internal/ident"
)

// Token errors. Every verification failure wraps ErrInvalidToken, and the
// more precise cause where there is one.
var (
	ErrInvalidToken = errors.New("waitroom: invalid token")
	ErrTokenExpired = errors.New("waitroom: token expired")
	ErrWrongZone    = errors.New("waitroom: token is for another zone")
	ErrUnknownKey   = errors.New("waitroom: token signed with an unknown key")
	// ErrTokenLifetime: the token was issued in the future, or lasts
	// longer than its zone allows (an access token longer than the
	// zone's Session). Only a holder of the signing key mints such a
	// token; the bound limits what a leaked key buys.
	ErrTokenLifetime = errors.New("waitroom: token lifetime out of bounds")
)

// MaxTokenLen is the longest token string that is parsed at all. Longer ones
// are rejected before any decoding.
const MaxTokenLen = 2048

// TokenLeeway is the clock skew tolerated when checking a token's expiry,
// its issue time and its lifetime.
const TokenLeeway = 5 * time.Second

// Signing algorithms a Key may use.
const (
	AlgHS256 = "HS256" // HMAC-SHA256, a shared secret (the default)
	AlgEdDSA = "EdDSA" // Ed25519 signatures: instances that only verify need only the public key
)

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// A Key signs and verifies tokens. Build one with NewHMACKey, NewEd25519Key,
// NewEd25519VerifyKey or GenerateKey.
type Key struct {
	ID      string // the kid header; letters, digits, '.', '_' and '-', at most 64
	Alg     string // AlgHS256 or AlgEdDSA
	secret  []byte
	private ed25519.PrivateKey
	public  ed25519.PublicKey
}

// NewHMACKey returns an HS256 key. The secret must be at least 32 bytes.
func NewHMACKey(id string, secret []byte) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("waitroom: key id %q must be 1-64 letters, digits, '.', '_' or '-'", id)
	}
	if len(secret) < 32 {
		return Key{}, fmt.Errorf("waitroom: HMAC secret must be at least 32 bytes, got %d", len(secret))
	}
	return Key{ID: id, Alg: AlgHS256, secret: append([]byte(nil), secret...)}, nil
}

// NewEd25519Key returns an EdDSA key that signs and verifies.
func NewEd25519Key(id string, private ed25519.PrivateKey) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("waitroom: key id %q must be 1-64 letters, digits, '.', '_' or '-'", id)
	}
	if len(private) != ed25519.PrivateKeySize {
		return Key{}, fmt.Errorf("waitroom: Ed25519 private key must be %d bytes, got %d", ed25519.PrivateKeySize, len(private))
	}
	return Key{ID: id, Alg: AlgEdDSA, private: private, public: private.Public().(ed25519.PublicKey)}, nil
}

// NewEd25519VerifyKey returns an EdDSA key that only verifies.
func NewEd25519VerifyKey(id string, public ed25519.PublicKey) (Key, error) {
	if !keyIDPattern.MatchString(id) {
		return Key{}, fmt.Errorf("waitroom: key id %q must be 1-64 letters, digits, '.', '_' or '-'", id)
	}
	if len(public) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("waitroom: Ed25519 public key must be %d bytes, got %d", ed25519.PublicKeySize, len(public))
	}
	return Key{ID: id, Alg: AlgEdDSA, public: public}, nil
}

// GenerateKey returns a new random key for alg (AlgHS256 or AlgEdDSA).
func GenerateKey(id, alg string) (Key, error) {
	switch alg {
	case AlgHS256:
		secret := make([]byte, 32)
		rand.Read(secret)
		return NewHMACKey(id, secret)
	case AlgEdDSA:
		_, private, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("waitroom: generate Ed25519 key: %w", err)
		}
		return NewEd25519Key(id, private)
	}
	return Key{}, fmt.Errorf("waitroom: unsupported key algorithm %q (want %s or %s)", alg, AlgHS256, AlgEdDSA)
}

// Secret returns the HMAC secret, or nil for an EdDSA key. Stores that keep a
// shared key ring use it.
func (k Key) Secret() []byte { return k.secret }

// PrivateKey returns the Ed25519 private key, or nil.
func (k Key) PrivateKey() ed25519.PrivateKey { return k.private }

// PublicKey returns the Ed25519 public key, or nil.
func (k Key) PublicKey() ed25519.PublicKey { return k.public }

func (k Key) canSign() bool { return k.secret != nil || k.private != nil }

func (k Key) signingMaterial() (jwt.SigningMethod, any) {
	if k.Alg == AlgEdDSA {
		return jwt.SigningMethodEdDSA, k.private
	}
	return jwt.SigningMethodHS256, k.secret
}

func (k Key) verifyingMaterial() any {
	if k.Alg == AlgEdDSA {
		return k.public
	}
	return k.secret
}

// A KeyRing signs with its newest key and verifies with any key it lists, so
// keys rotate without logging anyone out: add the new key, keep the old one
// until its tokens have expired, then drop it. A KeyRing is immutable and
// safe for concurrent use; rotate by giving the Room a new one (Room.SetKeys).
type KeyRing struct {
	keys []Key // oldest first; the last signs
	byID map[string]Key
}

// NewKeyRing returns a ring of keys, oldest first. The last key signs and
// must hold private material; key ids must be unique.
func NewKeyRing(keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("waitroom: key ring needs at least one key")
	}
	r := &KeyRing{keys: append([]Key(nil), keys...), byID: make(map[string]Key, len(keys))}
	for _, k := range keys {
		if k.Alg != AlgHS256 && k.Alg != AlgEdDSA {
			return nil, fmt.Errorf("waitroom: key %q: unsupported algorithm %q", k.ID, k.Alg)
		}
		if k.verifyingMaterial() == nil || (k.Alg == AlgHS256 && len(k.secret) == 0) {
			return nil, fmt.Errorf("waitroom: key %q has no key material; build keys with NewHMACKey or NewEd25519Key", k.ID)
		}
		if _, dup := r.byID[k.ID]; dup {
			return nil, fmt.Errorf("waitroom: duplicate key id %q", k.ID)
		}
		r.byID[k.ID] = k
	}
	if !keys[len(keys)-1].canSign() {
		return nil, fmt.Errorf("waitroom: newest key %q cannot sign (verify-only)", keys[len(keys)-1].ID)
	}
	return r, nil
}

// Keys returns the ring's keys, oldest first.
func (r *KeyRing) Keys() []Key { return append([]Key(nil), r.keys...) }

// SigningKey returns the key new tokens are signed with.
func (r *KeyRing) SigningKey() Key { return r.keys[len(r.keys)-1] }

// Visitor is the content of a visitor token: a place in line. It is given to
// everyone who is queued.
type Visitor struct {
	ID       string    // random, 128 bits, base64url
	Zone     string    // the zone the place is in
	Arrived  time.Time // first arrival, as the issuing instance saw it
	IssuedAt time.Time
	Expires  time.Time
}

// Access is the content of an access token: the right to be inside a zone
// until Expires.
type Access struct {
	Visitor  string
	Zone     string
	TokenID  string // the bucket slot; revoked when the slot is released
	IssuedAt time.Time
	Expires  time.Time
}

const (
	typVisitor = "wr-visitor"
	typAccess  = "wr-access"
)

type visitorClaims struct {
	Typ     string `json:"typ"`
	Zone    string `json:"zone"`
	Arrived int64  `json:"arr"` // unix milliseconds
	jwt.RegisteredClaims
}

type accessClaims struct {
	Typ  string `json:"typ"`
	Zone string `json:"zone"`
	jwt.RegisteredClaims
}

// NewVisitorID returns a random visitor id (128 bits from crypto/rand).
func NewVisitorID() string { return ident.New() }

// SignVisitor returns a signed visitor token.
func (r *KeyRing) SignVisitor(v Visitor) (string, error) {
	return r.sign(&visitorClaims{
		Typ: typVisitor, Zone: v.Zone, Arrived: v.Arrived.UnixMilli(),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   v.ID,
			IssuedAt:  jwt.NewNumericDate(v.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(v.Expires),
		},
	})
}

// SignAccess returns a signed access token.
func (r *KeyRing) SignAccess(a Access) (string, error) {
	return r.sign(&accessClaims{
		Typ: typAccess, Zone: a.Zone,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   a.Visitor,
			ID:        a.TokenID,
			IssuedAt:  jwt.NewNumericDate(a.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(a.Expires),
		},
	})
}

func (r *KeyRing) sign(claims jwt.Claims) (string, error) {
	k := r.SigningKey()
	method, material := k.signingMaterial()
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = k.ID
	s, err := t.SignedString(material)
	if err != nil {
		return "", fmt.Errorf("waitroom: sign token: %w", err)
	}
	return s, nil
}

// VerifyVisitor checks a visitor token for zone at now.
func (r *KeyRing) VerifyVisitor(raw, zone string, now time.Time) (Visitor, error) {
	var c visitorClaims
	if err := r.verify(raw, &c, now); err != nil {
		return Visitor{}, err
	}
	if c.Typ != typVisitor || c.Subject == "" || len(c.Subject) > 64 {
		return Visitor{}, fmt.Errorf("%w: not a visitor token", ErrInvalidToken)
	}
	if c.Zone != zone {
		return Visitor{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrWrongZone)
	}
	v := Visitor{ID: c.Subject, Zone: c.Zone, Arrived: time.UnixMilli(c.Arrived)}
	if c.IssuedAt != nil {
		v.IssuedAt = c.IssuedAt.Time
	}
	v.Expires = c.ExpiresAt.Time
	return v, nil
}

// VerifyAccess checks an access token for zone at now: its signature, its
// expiry and that it was not issued after now (both with TokenLeeway). It
// cannot know the zone's Session: Room.VerifyAccess also bounds the
// token's lifetime by it.
func (r *KeyRing) VerifyAccess(raw, zone string, now time.Time) (Access, error) {
	var c accessClaims
	if err := r.verify(raw, &c, now); err != nil {
		return Access{}, err
	}
	if c.Typ != typAccess || c.Subject == "" || c.ID == "" {
		return Access{}, fmt.Errorf("%w: not an access token", ErrInvalidToken)
	}
	if c.IssuedAt == nil {
		return Access{}, fmt.Errorf("%w: %w: no issue time", ErrInvalidToken, ErrTokenLifetime)
	}
	if c.Zone != zone {
		return Access{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrWrongZone)
	}
	return Access{Visitor: c.Subject, Zone: c.Zone, TokenID: c.ID, IssuedAt: c.IssuedAt.Time, Expires: c.ExpiresAt.Time}, nil
}

var validMethods = []string{AlgHS256, AlgEdDSA}

func (r *KeyRing) verify(raw string, claims jwt.Claims, now time.Time) error {
	if len(raw) == 0 || len(raw) > MaxTokenLen {
		return fmt.Errorf("%w: length %d", ErrInvalidToken, len(raw))
	}
	p := jwt.NewParser(
		jwt.WithValidMethods(validMethods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(TokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	_, err := p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := r.byID[kid]
		if !ok {
			return nil, ErrUnknownKey
		}
		// Pin the algorithm to the key: an HS256 token never verifies
		// against an EdDSA key's public bytes, nor the reverse.
		if t.Method.Alg() != k.Alg {
			return nil, fmt.Errorf("algorithm %s does not match key %q", t.Method.Alg(), kid)
		}
		return k.verifyingMaterial(), nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: %w", ErrInvalidToken, ErrTokenExpired)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: %w: issued in the future", ErrInvalidToken, ErrTokenLifetime)
	case errors.Is(err, ErrUnknownKey):
		return fmt.Errorf("%w: %w", ErrInvalidToken, ErrUnknownKey)
	}
	return fmt.Errorf("%w: %v", ErrInvalidToken, err)
}
