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
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/dynamostore"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/redisstore"
	"github.com/waitroom/waitroom/waitroomtest"
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

// streamConns are the HTTP/2 connections (without TLS) that the crowd's
// event streams share, as a browser's EventSource shares one connection
// per site: one socket per stream would not fit this process's open files.
// Each visitor keeps to one connection, and each connection carries the
// streams of at most streamsPerConn visitors. The connections are made
// with http.Transport.NewClientConn rather than taken from a Transport's
// pool, whose one lock 100,000 streams would queue on.
type streamConns struct {
	t     *http.Transport
	slots []*streamConn
}

// streamsPerConn is how many visitors' event streams share one HTTP/2
// connection: the server's write scheduler visits every stream of a
// connection for each frame it writes, so a few hundred at most.
const streamsPerConn = 50

func newStreamConns(bases []*url.URL, visitors int) *streamConns {
	t := &http.Transport{Protocols: new(http.Protocols)}
	t.Protocols.SetUnencryptedHTTP2(true)
	n := (visitors + streamsPerConn - 1) / streamsPerConn
	n = (n + len(bases) - 1) / len(bases) * len(bases) // the same number per instance
	sc := &streamConns{t: t}
	for i := range n {
		sc.slots = append(sc.slots, &streamConn{t: t, base: bases[i%len(bases)]})
	}
	return sc
}

// of returns the connection of visitor idx.
func (sc *streamConns) of(idx int) *streamConn { return sc.slots[idx%len(sc.slots)] }

func (sc *streamConns) close() {
	for _, s := range sc.slots {
		s.mu.Lock()
		if s.cc != nil {
			s.cc.Close()
		}
		s.mu.Unlock()
	}
}

// streamConn is one HTTP/2 connection to one instance, dialled on first
// use and again after it fails. It is an http.RoundTripper.
type streamConn struct {
	t    *http.Transport
	base *url.URL
	mu   sync.Mutex
	cc   *http.ClientConn
}

func (s *streamConn) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	if s.cc == nil || s.cc.Err() != nil {
		if s.cc != nil {
			s.cc.Close()
		}
		cc, err := s.t.NewClientConn(req.Context(), s.base.Scheme, s.base.Host)
		if err != nil {
			s.cc = nil
			s.mu.Unlock()
			return nil, err
		}
		s.cc = cc
	}
	cc := s.cc
	s.mu.Unlock()
	return cc.RoundTrip(req)
}

// stack is what the run drives: one or more waiting-room instances
// (httputil.ReverseProxy wrapped by the middleware) over one store, in
// front of the instrumented origin. In URL mode it holds only the URL.
type stack struct {
	urls   []string         // base URLs of the instances
	rooms  []*waitroom.Room // nil in URL mode
	origin *origin          // nil in URL mode
	zone   waitroom.Zone    // as configured
	calls  storeCalls       // the instances' stores, counting their calls (nil in URL mode)
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

	stores, keys, cleanup, err := openStores(ctx, cfg.Store, cfg.Instances, false)
	if err != nil {
		st.close()
		return nil, err
	}
	closers = append(closers, cleanup)
	for i, s := range stores {
		opts := []waitroom.Option{waitroom.WithZone(st.zone), waitroom.WithLogger(logger), waitroom.WithTick(cfg.Tick),
			waitroom.WithExchangeLimit(cfg.ExchangeLimit)}
		if keys != nil {
			opts = append(opts, waitroom.WithKeys(keys))
		}
		counting, counted := waitroomtest.Counting(s)
		st.calls = append(st.calls, counted)
		room, err := waitroom.New(counting, opts...)
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
		proxy.Transport = newTransport(cfg.Conns / 2) // the origin holds fewer than the visitors let in send
		proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				logger.Warn("flashcrowd: proxy error", "err", err)
			}
			w.WriteHeader(http.StatusBadGateway)
		}
		// Every virtual browser comes from 127.0.0.1 and may hold an event
		// stream: the connection caps are the crowd's size, and so is the
		// edge cache of verified tokens, as an operator expecting such a
		// crowd would size them.
		h := middleware.Wrap(room, proxy, middleware.WithLogger(logger),
			middleware.WithMaxConnections(cfg.Visitors+1), middleware.WithMaxConnectionsPerIP(cfg.Visitors+1),
			middleware.WithCacheSize(max(middleware.DefaultCacheSize, 2*cfg.Visitors)))
		closers = append(closers, func() { h.Close() })
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			st.close()
			return nil, err
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog,
			Protocols: new(http.Protocols), HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 2 * streamsPerConn}}
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
		go srv.Serve(ln)
		closers = append(closers, func() { srv.Close() })
		st.urls = append(st.urls, "http://"+ln.Addr().String())
	}
	return st, nil
}

// openStores opens one store per instance: the memory store is one store
// the instances share in process; Redis and DynamoDB are one client per
// instance, as separate servers would have. It returns the key ring the
// instances share (nil: each Room may generate its own, which is only
// right for one instance) and a func that deletes the run's keys from
// Redis. With virtual, the stores decide on the Rooms' clock (Redis: the
// callers' now instead of TIME) and the key ring is made here, for a
// clock that is not the machine's.
func openStores(ctx context.Context, raw string, instances int, virtual bool) ([]waitroom.Store, *waitroom.KeyRing, func(), error) {
	if instances < 1 {
		return nil, nil, nil, fmt.Errorf("waitroom: flashcrowd: -instances must be at least 1, got %d", instances)
	}
	scheme, _, _ := strings.Cut(raw, "://")
	memory := scheme == "" || scheme == "memory"
	var keys *waitroom.KeyRing
	if virtual || memory && instances > 1 {
		k, err := waitroom.GenerateKey("flashcrowd", waitroom.AlgHS256)
		if err != nil {
			return nil, nil, nil, err
		}
		keys, _ = waitroom.NewKeyRing(k)
	}
	var stores []waitroom.Store
	closeAll := func() {
		for _, s := range stores {
			s.Close()
		}
	}
	switch scheme {
	case "", "memory":
		s := memstore.New()
		for range instances {
			stores = append(stores, s)
		}
		return stores, keys, func() {}, nil
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		// Every run has keys of its own, deleted at the end.
		prefix := "flashcrowd-" + runID()
		opts := []redisstore.Option{redisstore.WithPrefix(prefix)}
		if virtual {
			opts = append(opts, redisstore.WithCallerClock())
		}
		for range instances {
			s, err := redisstore.Open(ctx, raw, opts...)
			if err != nil {
				closeAll()
				return nil, nil, nil, err
			}
			stores = append(stores, s)
		}
		if keys == nil {
			var err error
			if keys, err = stores[0].(*redisstore.Store).SharedKeys(ctx); err != nil {
				closeAll()
				return nil, nil, nil, err
			}
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
	case "dynamodb":
		// The run's zone has a name of its own (Config.ownZone); its data
		// expires with the zone's DataTTL.
		for range instances {
			s, err := dynamostore.Open(ctx, raw)
			if err != nil {
				closeAll()
				return nil, nil, nil, err
			}
			stores = append(stores, s)
		}
		if keys == nil {
			var err error
			if keys, err = stores[0].(*dynamostore.Store).SharedKeys(ctx); err != nil {
				closeAll()
				return nil, nil, nil, err
			}
		}
		return stores, keys, func() {}, nil
	}
	return nil, nil, nil, fmt.Errorf("waitroom: flashcrowd: unknown store %q (want memory, redis://host:port/db, redis+cluster://h1:p,h2:p or dynamodb://TABLE?endpoint=…)", raw)
}

// runID is a random name for one run's data.
func runID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
