package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The assets directory is served ahead of the waiting room, file by
// file: no listing, no way out of the directory, nothing but reads.
func TestAssets(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "style.css"), []byte("body{}"), 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "img"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "img", "logo.svg"), []byte("<svg/>"), 0o644))
	secret := filepath.Join(filepath.Dir(dir), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("the secret"), 0o644))
	t.Cleanup(func() { os.Remove(secret) })

	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("room:" + r.URL.Path)) })
	h := withAssets(next, "/waitroom-assets/", dir)
	for _, c := range []struct {
		method, target string
		code           int
		body           string
	}{
		{"GET", "/waitroom-assets/style.css", 200, "body{}"},
		{"GET", "//waitroom-assets/./img/logo.svg", 200, "<svg/>"},
		{"HEAD", "/waitroom-assets/style.css", 200, ""},
		{"GET", "/waitroom-assets/", 404, ""},
		{"GET", "/waitroom-assets/img/", 404, ""},
		{"GET", "/waitroom-assets/nope.css", 404, ""},
		{"POST", "/waitroom-assets/style.css", 405, ""},
		{"GET", "/waitroom-assets/%2e%2e/secret", 200, "room:/waitroom-assets/../secret"},
		{"GET", "/checkout", 200, "room:/checkout"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
		assert.Equal(t, c.code, rec.Code, "%s %s", c.method, c.target)
		if c.body != "" {
			assert.Equal(t, c.body, rec.Body.String(), "%s %s", c.method, c.target)
		}
		if rec.Code == 200 && c.body != "" && c.body[:5] != "room:" {
			assert.Equal(t, "public, max-age=300", rec.Header().Get("Cache-Control"))
		}
		assert.NotContains(t, rec.Body.String(), "the secret", "%s %s: nothing outside the directory", c.method, c.target)
	}
}
