package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/redisstore"
)

// newTransport returns an http.Transport sized for many concurrent
// connections to one host: the default keeps only 2 idle connections per
// host, which alone halves a proxy's throughput under load. maxConns > 0
// caps the connections per host.
func newTransport(maxConns int) *http.Transport {
	t := middleware.ProxyTransport()
	t.MaxConnsPerHost = maxConns
	return t
}

// stack is what the run drives: one or more waiting-room instances
// (httputil.ReverseProxy wrapped by the middleware) over one store, in
// front of the instrumented origin. In URL mode it holds only the URL.
type stack struct {
	urls   []string         // base URLs of the instances
	rooms  []*waitroom.Room // nil in URL mode
	origin *origin          // nil in URL mode
	zone   waitroom.Zone    // as configured
	close  func()           // stops it all
}

// startStack starts the origin, the store, and cfg.Instances proxies.
func startStack(ctx context.Context, cfg Config, logger *slog.Logger) (*stack, error) {
	st := &stack{zone: cfg.zone()}
	var closers []func()
	st.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	o, err := startOrigin()
	if err != nil {
		return nil, err
	}
	st.origin = o
	closers = append(closers, o.close)
	originURL, _ := url.Parse(o.url)

	stores, keys, cleanup, err := openStores(ctx, cfg.Store, cfg.Instances)
	if err != nil {
		st.close()
		return nil, err
	}
	closers = append(closers, cleanup)
	for i, s := range stores {
		opts := []waitroom.Option{waitroom.WithZone(st.zone), waitroom.WithLogger(logger), waitroom.WithTick(cfg.Tick)}
		if keys != nil {
			opts = append(opts, waitroom.WithKeys(keys))
		}
		room, err := waitroom.New(s, opts...)
		if err != nil {
			for _, s := range stores[i:] {
				s.Close()
			}
			st.close()
			return nil, err
		}
		closers = append(closers, func() { room.Close() })
		st.rooms = append(st.rooms, room)

		proxy := httputil.NewSingleHostReverseProxy(originURL)
		proxy.Transport = newTransport(0)
		proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				logger.Warn("flashcrowd: proxy error", "err", err)
			}
			w.WriteHeader(http.StatusBadGateway)
		}
		h := middleware.Wrap(room, proxy, middleware.WithLogger(logger))
		closers = append(closers, func() { h.Close() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			st.close()
			return nil, err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
		st.urls = append(st.urls, "http://"+ln.Addr().String())
	}
	return st, nil
}

// openStores opens one store per instance: the memory store is one store
// the instances share in process; Redis is one client per instance, as
// separate servers would have. It returns the key ring the instances
// share (nil: each Room may generate its own, which is only right for one
// instance) and a func that deletes the run's keys from Redis.
func openStores(ctx context.Context, raw string, instances int) ([]waitroom.Store, *waitroom.KeyRing, func(), error) {
	if instances < 1 {
		return nil, nil, nil, fmt.Errorf("waitroom: flashcrowd: -instances must be at least 1, got %d", instances)
	}
	scheme, _, _ := strings.Cut(raw, "://")
	switch scheme {
	case "", "memory":
		s := memstore.New()
		stores := make([]waitroom.Store, instances)
		for i := range stores {
			stores[i] = s
		}
		var keys *waitroom.KeyRing
		if instances > 1 {
			k, err := waitroom.GenerateKey("flashcrowd", waitroom.AlgHS256)
			if err != nil {
				return nil, nil, nil, err
			}
			keys, _ = waitroom.NewKeyRing(k)
		}
		return stores, keys, func() {}, nil
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		// Every run has keys of its own, deleted at the end.
		var b [6]byte
		rand.Read(b[:])
		prefix := "flashcrowd-" + hex.EncodeToString(b[:])
		var stores []waitroom.Store
		closeAll := func() {
			for _, s := range stores {
				s.Close()
			}
		}
		for range instances {
			s, err := redisstore.Open(ctx, raw, redisstore.WithPrefix(prefix))
			if err != nil {
				closeAll()
				return nil, nil, nil, err
			}
			stores = append(stores, s)
		}
		first := stores[0].(*redisstore.Store)
		keys, err := first.SharedKeys(ctx)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		cleanup, err := redisstore.Open(ctx, raw)
		if err != nil {
			closeAll()
			return nil, nil, nil, err
		}
		return stores, keys, func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			deleteKeys(ctx, cleanup.Client(), prefix+":*")
			cleanup.Close()
		}, nil
	}
	return nil, nil, nil, fmt.Errorf("waitroom: flashcrowd: unknown store %q (want memory, redis://host:port/db or redis+cluster://h1:p,h2:p)", raw)
}

// deleteKeys deletes the keys matching pattern, on every master of a
// Cluster.
func deleteKeys(ctx context.Context, c redis.UniversalClient, pattern string) {
	del := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, pattern, 500).Iterator()
		for it.Next(ctx) {
			c.Unlink(ctx, it.Val())
		}
		return it.Err()
	}
	switch c := c.(type) {
	case *redis.ClusterClient:
		c.ForEachMaster(ctx, del)
	case *redis.Client:
		del(ctx, c)
	}
}
