// Package gctune sets the garbage collector of the programs that serve
// the waiting room (cmd/waitroom, the demo).
package gctune

import (
	"os"
	"runtime/debug"
)

// Percent is the GC percent Set uses: collect at 5 times the live heap
// (400% growth) instead of Go's twice.
const Percent = 400

// Set sets the GC percent to Percent, unless $GOGC says otherwise. A
// proxy's live heap is a few megabytes while every request allocates, and
// each collection also scans the program's global data, which the store
// drivers make large: at Go's default the collector took a fifth of the
// CPU of a request with a valid access token (BENCHMARKS.md, "From
// outside").
func Set() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
}
