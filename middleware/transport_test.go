package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/waitroomtest"
)

// A visitor who goes away mid-request is no error; an origin that cannot
// be reached is a 502 that tells the client nothing of why.
func TestProxyErrorHandler(t *testing.T) {
	var log waitroomtest.Log
	handle := middleware.ProxyErrorHandler(log.Logger())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	handle(rec, httptest.NewRequest("GET", "/checkout", nil).WithContext(ctx), context.Canceled)
	assert.Empty(t, log.String(), "a client gone is not logged at Info or above")

	u, err := url.Parse("http://127.0.0.1:1") // nobody listens
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorHandler = handle
	rec = httptest.NewRecorder()
	proxy.ServeHTTP(rec, httptest.NewRequest("GET", "/checkout", nil))
	assert.Equal(t, http.StatusBadGateway, rec.Code)
	assert.Empty(t, rec.Body.String(), "no internals to the client")
	warn := log.Lines("WARN")
	require.Len(t, warn, 1)
	assert.True(t, strings.Contains(warn[0], "origin unreachable") && strings.Contains(warn[0], "path=/checkout"), warn[0])
}
