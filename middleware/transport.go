package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// ProxyTransport returns an http.Transport for an httputil.ReverseProxy
// that the waiting room fronts: a clone of http.DefaultTransport that keeps
// up to 4096 idle connections per host. The default keeps 2, which alone
// halves a proxy's throughput under load: every admitted visitor's request
// would open a new connection to the origin.
func ProxyTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no cap across hosts
	t.MaxIdleConnsPerHost = 4096
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// ProxyErrorHandler returns an ErrorHandler for an httputil.ReverseProxy
// behind the waiting room. A client that went away mid-request (its
// context cancelled) is no error: nothing is written and nothing logged
// above Debug. Any other failure to reach the origin answers 502 Bad
// Gateway, without the error's text, and is logged at Warn with the
// method and path. The proxy's default prints "http: proxy error: context
// canceled" for every visitor who closes a tab.
func ProxyErrorHandler(logger *slog.Logger) func(http.ResponseWriter, *http.Request, error) {
	if logger == nil {
		logger = slog.Default()
	}
	return func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
			logger.Debug("waitroom: client went away", "method", r.Method, "path", r.URL.Path)
			return
		}
		logger.Warn("waitroom: origin unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusBadGateway)
	}
}
