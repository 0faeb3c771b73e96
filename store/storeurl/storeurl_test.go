package storeurl_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/storeurl"
)

func TestOpen(t *testing.T) {
	for _, raw := range []string{"memory", ""} {
		s, keys, err := storeurl.Open(context.Background(), raw)
		require.NoError(t, err)
		assert.IsType(t, &memstore.Store{}, s)
		assert.Nil(t, keys, "the memory store keeps no shared ring")
		s.Close()
		assert.False(t, storeurl.Shared(raw))
	}
	assert.True(t, storeurl.Shared("redis://127.0.0.1:6379/0"))
	_, _, err := storeurl.Open(context.Background(), "ftp://x")
	require.ErrorContains(t, err, `waitroom: unknown store "ftp://x"`)
}
