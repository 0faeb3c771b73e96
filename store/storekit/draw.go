package storekit

import (
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/waitroom/waitroom"
)

// DrawDue reports whether an Exchange at now must draw the zone's order
// first (see waitroom.Draw): the zone is in ModeRandomAtOpen, has not
// drawn, and its opening has come (paused or not, in the window or past
// it). A store that keeps instants in unit passes now in it.
func DrawDue(z waitroom.ZoneState, drawn bool, now int64, unit time.Duration) bool {
	if drawn || z.Mode != waitroom.ModeRandomAtOpen {
		return false
	}
	return z.OpensAt.IsZero() || now >= z.OpensAt.UnixNano()/int64(unit)
}

// NewSeed returns the key of a draw: 64 bits from crypto/rand.
func NewSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return binary.BigEndian.Uint64(b[:])
}
