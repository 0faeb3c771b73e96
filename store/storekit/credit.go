package storekit

import (
	"time"

	"github.com/waitroom/waitroom"
)

// Accrue is the admission-rate rule every store keeps: a zone holds a
// credit of admissions, earned at AdmitPerSecond, never for time before
// OpensAt, and capped at RateBurst; each admission spends 1 and needs at
// least 1. credit was last counted at at; Accrue returns the credit at now
// and the instant it is now counted at. Instants are integers in unit
// (time.Nanosecond, time.Millisecond, ...), as the store keeps them. A
// now before at changes nothing: the credit is never taken back.
//
// The Redis store's scripts mirror this rule in Lua (prelude.lua,
// accrue); the storetest suite pins its edge cases.
func Accrue(z waitroom.ZoneState, credit float64, at, now int64, unit time.Duration) (float64, int64) {
	if now <= at {
		return credit, at
	}
	from := at
	if !z.OpensAt.IsZero() {
		from = max(from, z.OpensAt.UnixNano()/int64(unit))
	}
	if now > from {
		credit += float64(now-from) * z.AdmitPerSecond * float64(unit) / float64(time.Second)
	}
	return min(credit, z.RateBurst()), now
}
