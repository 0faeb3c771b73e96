package waitroom

import (
	"fmt"
	"time"
)

// This file holds the checks of a visitor's tokens against the Room's
// keys, clock and zones: local, with no store call.

// VerifyAccess checks an access token for zone against the Room's keys and
// clock, and bounds its lifetime: a token issued in the future, or that
// outlasts the zone's Session (each with TokenLeeway), fails with
// ErrTokenLifetime, so even a holder of the signing key cannot mint a
// pass longer than a visit. Lowering a zone's Session thus ends the
// longer sessions already issued. It never touches the store, which is
// why it does not ask whether the store issued the token's id: a token is
// checked on every protected request, and a store call there would undo
// the edge's purpose; released and expired ids are revoked from the
// change feed instead (see the middleware).
func (r *Room) VerifyAccess(raw, zone string) (Access, error) {
	a, err := r.Keys().VerifyAccess(raw, zone, r.Now())
	if err != nil {
		return a, err
	}
	session, ok := r.session(zone)
	if !ok {
		return Access{}, fmt.Errorf("%w: %w: %q", ErrInvalidToken, ErrZoneNotFound, zone)
	}
	if a.Expires.Sub(a.IssuedAt) > session+TokenLeeway {
		return Access{}, fmt.Errorf("%w: %w: lasts %v, the zone's session is %v",
			ErrInvalidToken, ErrTokenLifetime, a.Expires.Sub(a.IssuedAt), session)
	}
	return a, nil
}

// session returns the Session of zone, or of the zone template for
// a zone the Room has not made yet (another instance may have let the
// visitor in).
func (r *Room) session(zone string) (time.Duration, bool) {
	if z, ok := r.Zone(zone); ok {
		return z.Session, true
	}
	if r.cfg.template == nil {
		return 0, false
	}
	t, err := r.cfg.templateZone(zone)
	return t.Session, err == nil
}

// VerifyVisitor checks a visitor token for zone.
func (r *Room) VerifyVisitor(raw, zone string) (Visitor, error) {
	return r.Keys().VerifyVisitor(raw, zone, r.Now())
}
