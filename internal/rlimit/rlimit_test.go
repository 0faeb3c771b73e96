//go:build unix

package rlimit

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RaiseFiles never lowers the limit, and reaches at least the hard limit
// the process started with.
func TestRaiseFiles(t *testing.T) {
	var before, after syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before))
	RaiseFiles()
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after))
	assert.GreaterOrEqual(t, after.Cur, before.Cur)
	assert.GreaterOrEqual(t, after.Cur, before.Max)
}
