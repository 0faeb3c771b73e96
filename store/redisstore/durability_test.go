package redisstore_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// openLogged opens a store on the server at addr with its log captured.
func openLogged(t *testing.T, addr string) (*redisstore.Store, *waitroomtest.Log) {
	t.Helper()
	logs := &waitroomtest.Log{}
	s, err := redisstore.Open(context.Background(), "redis://"+addr+"/0",
		redisstore.WithLogger(logs.Logger()))
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func TestOpenWarnsOfSettingsThatLoseTheLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		names []string // settings the warning names; none: no warning
	}{
		{"no persistence", []string{"--appendonly", "no", "--maxmemory-policy", "noeviction"}, []string{"appendonly"}},
		{"evicting", []string{"--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"}, []string{"maxmemory-policy"}},
		{"evicting keys with a TTL", []string{"--appendonly", "no", "--maxmemory-policy", "volatile-ttl"}, []string{"appendonly", "maxmemory-policy"}},
		{"durable", []string{"--appendonly", "yes", "--maxmemory-policy", "noeviction"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, tc.args...)
			_, logs := openLogged(t, srv.addr())
			warnings := logs.Lines("WARN")
			if tc.names == nil {
				assert.Empty(t, warnings)
				return
			}
			require.Len(t, warnings, 1, "one warning")
			for _, name := range []string{"appendonly", "maxmemory-policy"} {
				if slices.Contains(tc.names, name) {
					assert.Contains(t, warnings[0], name)
				} else {
					assert.NotContains(t, warnings[0], name)
				}
			}
		})
	}
}

func TestOpenSaysWhenItCannotReadTheSettings(t *testing.T) {
	srv := startServer(t, "--rename-command", "CONFIG", "")
	_, logs := openLogged(t, srv.addr())
	assert.Empty(t, logs.Lines("WARN"))
	info := logs.Lines("INFO")
	require.Len(t, info, 1)
	assert.Contains(t, info[0], "cannot check")
}

func TestLostKeyRingIsLoud(t *testing.T) {
	srv := startServer(t, "--appendonly", "yes", "--maxmemory-policy", "noeviction")
	s, logs := openLogged(t, srv.addr())
	ctx := context.Background()
	first, err := s.SharedKeys(ctx)
	require.NoError(t, err)
	again, err := s.SharedKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, first.SigningKey().Secret(), again.SigningKey().Secret())
	assert.Empty(t, logs.Lines("ERROR"), "the ring made at first is no loss")

	require.NoError(t, s.Client().FlushAll(ctx).Err()) // what a restart without persistence leaves
	lost, err := s.SharedKeys(ctx)
	require.NoError(t, err)
	assert.NotEqual(t, first.SigningKey().Secret(), lost.SigningKey().Secret())
	errs := logs.Lines("ERROR")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], "shared key ring was lost")
	assert.Contains(t, errs[0], "every token issued before is now invalid")

	_, err = s.SharedKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, logs.Lines("ERROR"), 1, "said once")
}

// TestDurabilityThroughAutoPipeline: Durability reads the settings
// through any client, an AutoPipeliner too, and finds what the server
// says.
func TestDurabilityThroughAutoPipeline(t *testing.T) {
	client := sharedClient(t)
	ctx := t.Context()
	ap, err := client.AutoPipeline()
	require.NoError(t, err)
	s, err := redisstore.New(ap)
	require.NoError(t, err)
	defer s.Close()
	findings, err := s.Durability(ctx)
	require.NoError(t, err)
	appendonly, err := client.ConfigGet(ctx, "appendonly").Result()
	require.NoError(t, err)
	named := slices.ContainsFunc(findings, func(f string) bool { return strings.Contains(f, "appendonly is") })
	assert.Equal(t, appendonly["appendonly"] != "yes", named, "findings %v", findings)
}
