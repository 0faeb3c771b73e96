package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Open connects to the Redis named by rawURL, checks that it answers and
// that its settings keep the line across a restart (one warning naming
// each unsafe one, see Store.Durability), and returns a Store that owns
// the client (Close closes it). The URL forms
// are:
//
//	redis://[user:password@]host:port[/db][?options]          one server
//	rediss://[user:password@]host:port[/db][?options]         one server, TLS
//	redis+cluster://[user:password@]host1:port,host2:port[?options]   Cluster
//	rediss+cluster://...                                       Cluster, TLS
//
// options are go-redis's URL parameters (dial_timeout, read_timeout,
// pool_size, ...: see redis.ParseURL and redis.ParseClusterURL). For a
// Cluster the hosts listed are seeds: the client discovers the others.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	client, err := clientFromURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, unavailable(fmt.Errorf("ping %s: %w", redactURL(rawURL), err))
	}
	s, err := New(client, append(opts, WithCloseClient())...)
	if err != nil {
		client.Close()
		return nil, err
	}
	s.logDurability(ctx)
	return s, nil
}

// Client settings Open uses unless the URL sets them, so that an
// unreachable Redis fails operations within about a second (and a refused
// connection at once) and the Room's fail policy applies: go-redis's
// defaults wait 5s to dial, retry each dial 5 times and reads for 3s.
const (
	OpenDialTimeout   = time.Second
	OpenReadTimeout   = time.Second
	OpenWriteTimeout  = time.Second
	OpenDialerRetries = 1
)

// failFast also makes the client honour each call's context deadline
// (ContextTimeoutEnabled), which go-redis otherwise ignores, so that the
// Room's per-call deadline (waitroom.WithStoreTimeout) bounds the call.
func failFast(dial, read, write *time.Duration, dialerRetries *int, ctxTimeout *bool) {
	*ctxTimeout = true
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{dial, OpenDialTimeout}, {read, OpenReadTimeout}, {write, OpenWriteTimeout}} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if *dialerRetries == 0 {
		*dialerRetries = OpenDialerRetries
	}
}

// clientFromURL builds the client rawURL describes, without connecting.
func clientFromURL(rawURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("waitroom: redisstore: URL %q: want redis://, rediss:// or redis+cluster://", redactURL(rawURL))
	}
	switch scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("waitroom: redisstore: URL %q: %w", redactURL(rawURL), err)
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.ContextTimeoutEnabled)
		return redis.NewClient(o), nil
	case "redis+cluster", "rediss+cluster":
		o, err := parseClusterURL(strings.TrimSuffix(scheme, "+cluster"), rest)
		if err != nil {
			return nil, fmt.Errorf("waitroom: redisstore: URL %q: %w", redactURL(rawURL), err)
		}
		failFast(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.DialerRetries, &o.ContextTimeoutEnabled)
		return redis.NewClusterClient(o), nil
	}
	return nil, fmt.Errorf("waitroom: redisstore: URL %q: unknown scheme %q, want redis, rediss, redis+cluster or rediss+cluster", redactURL(rawURL), scheme)
}

// parseClusterURL reads "[userinfo@]host1:port,host2:port[/][?query]"
// after the scheme: the first host becomes the URL's host, the others addr
// parameters, as redis.ParseClusterURL expects.
func parseClusterURL(scheme, rest string) (*redis.ClusterOptions, error) {
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	path, query, _ := strings.Cut(tail, "?")
	if path != "" && path != "/" {
		return nil, errors.New("a Cluster has only database 0: drop the path")
	}
	userinfo, hosts := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	var addrs []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			addrs = append(addrs, h)
		}
	}
	if len(addrs) == 0 {
		return nil, errors.New("no host")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	u := scheme + "://" + userinfo + addrs[0]
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return redis.ParseClusterURL(u)
}

// redactURL hides the password of rawURL, for error messages.
func redactURL(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(invalid URL)"
	}
	at := strings.LastIndex(rest, "@")
	slash := strings.IndexAny(rest, "/?")
	if at < 0 || (slash >= 0 && slash < at) {
		return rawURL
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return rawURL
	}
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}
