package ident

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidZone(t *testing.T) {
	for _, s := range []string{"a", "checkout", "drop-2026.03_01", strings.Repeat("z", 64), "A9"} {
		assert.True(t, ValidZone(s), "%q", s)
	}
	for _, s := range []string{"", strings.Repeat("z", 65), "a b", "a/b", "a#b", "café", "a\x00", "a%2F", "a:b"} {
		assert.False(t, ValidZone(s), "%q", s)
	}
}

func TestNew(t *testing.T) {
	a, b := New(), New()
	assert.Len(t, a, 22)
	assert.NotEqual(t, a, b, "two identifiers differ")
	assert.Len(t, Short(6), 8)
}
