package middleware

import (
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
