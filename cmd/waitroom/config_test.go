package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The example file parses, and it shows every key the configuration has:
// a key added to Config and not to the example fails here.
func TestExampleHasEveryKey(t *testing.T) {
	b, err := os.ReadFile("waitroom.example.yaml")
	require.NoError(t, err)
	c, err := parseConfig(b)
	require.NoError(t, err, "the example parses")
	require.Len(t, c.Zones, 1)
	assert.Equal(t, 100, c.Zones[0].Capacity)

	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &doc))
	var missing []string
	var walk func(prefix string, typ reflect.Type, v any)
	walk = func(prefix string, typ reflect.Type, v any) {
		m, _ := v.(map[string]any)
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, opt, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opt == "inline" {
				walk(prefix, f.Type, v)
				continue
			}
			val, ok := m[key]
			if !ok {
				missing = append(missing, prefix+key)
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct {
				list, _ := val.([]any)
				if len(list) > 0 {
					walk(prefix+key+"[0].", ft.Elem(), list[0])
				}
				continue
			}
			if ft.Kind() == reflect.Struct && ft.String() != "time.Time" {
				walk(prefix+key+".", ft, val)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}), doc)
	assert.Empty(t, missing, "keys of Config the example does not show")
}

// Each bad value gives a message that names its key.
func TestBadConfigNamesTheKey(t *testing.T) {
	base := "upstream: {url: \"http://127.0.0.1:3000\"}\nzones: [{name: checkout, paths: [/checkout], capacity: 5}]\n"
	require.NoError(t, func() error { _, err := parseConfig([]byte(base)); return err }())
	for _, c := range []struct{ yaml, key string }{
		{"upstream: {url: \"ftp://x\"}\nzones: [{name: checkout, paths: [/checkout], capacity: 5}]", "upstream.url"},
		{base + "fail_policy: sideways", "fail_policy"},
		{"upstream: {url: \"http://x\"}", "zones"},
		{"upstream: {url: \"http://x\"}\nzones: [{name: checkout, paths: [/checkout], capacity: 0}]", "zones[0] (checkout): zone \"checkout\": capacity must be at least 1"},
		{"upstream: {url: \"http://x\"}\nzones: [{name: \"a b\", paths: [/checkout], capacity: 1}]", "zone name \"a b\""},
		{"upstream: {url: \"http://x\"}\nzones: [{name: c, paths: [], capacity: 1}]", "paths"},
		{"upstream: {url: \"http://x\"}\nzones: [{name: c, paths: [/c], capacity: 1, mode: lottery}]", "mode"},
		{"upstream: {url: \"http://x\"}\nzones: [{name: c, paths: [/c], capacity: 1, session: soon}]", "not a duration"},
		{base + "entry: {trusted_proxies: [\"10.0.0.0/33\"]}", "entry.trusted_proxies[0]"},
		{base + "admin: {listen: \":0\"}", "admin.token_env"},
		{base + "log: {level: loud}", "log.level"},
		{base + "colour: red", "field colour not found"},
		{base + "pages: {assets: /no/such/dir}", "pages.assets"},
		{base + "pages: {assets: /etc/hostname}", "pages.assets"},
		{base + "pages: {assets: /tmp, assets_path: /x}", "pages.assets_path"},
		{base + "pages: {assets: /tmp, assets_path: /a/../b/}", "pages.assets_path"},
	} {
		_, err := parseConfig([]byte(c.yaml))
		require.Error(t, err, c.yaml)
		assert.Contains(t, err.Error(), c.key, c.yaml)
	}
}

// The compose file's configuration parses too.
func TestComposeConfigParses(t *testing.T) {
	b, err := os.ReadFile("compose.waitroom.yaml")
	require.NoError(t, err)
	c, err := parseConfig(b)
	require.NoError(t, err)
	assert.Equal(t, "redis://redis:6379/0", c.Store)
}
