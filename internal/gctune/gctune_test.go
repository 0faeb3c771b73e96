package gctune

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSet(t *testing.T) {
	t.Setenv("GOGC", "")
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	Set()
	assert.Equal(t, Percent, debug.SetGCPercent(100), "no $GOGC: Set's percent")
	t.Setenv("GOGC", "150")
	Set()
	assert.Equal(t, 100, debug.SetGCPercent(100), "$GOGC set: left alone")
}
