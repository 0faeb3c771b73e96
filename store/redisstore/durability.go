package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Durability reports the settings of the Redis servers (every master of a
// Cluster, every shard of a Ring, else the one server the client talks
// to) under which a restart or memory pressure loses the line: each
// finding names the server, the setting and what it costs. The store
// needs appendonly yes (without it a restart loses every place in line,
// the order and the shared key ring) and maxmemory-policy noeviction
// (any other policy evicts places under memory pressure; the volatile-*
// policies too, since every key of a zone has a TTL). err is non-nil when
// the settings cannot be read, as where CONFIG is renamed or refused
// (managed Redis).
func (s *Store) Durability(ctx context.Context) (findings []string, err error) {
	var mu sync.Mutex
	check := func(ctx context.Context, c redis.Cmdable, addr string) error {
		got, err := c.ConfigGet(ctx, "*").Result()
		if err != nil {
			return fmt.Errorf("waitroom: redisstore: CONFIG GET on %s: %w", addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if v := got["appendonly"]; v != "yes" {
			findings = append(findings, fmt.Sprintf("%s: appendonly is %q, not \"yes\": a restart loses every place in line, their order and the shared key ring",
				addr, v))
		}
		if v := got["maxmemory-policy"]; v != "noeviction" {
			findings = append(findings, fmt.Sprintf("%s: maxmemory-policy is %q, not \"noeviction\": under memory pressure Redis evicts places in line (every waitroom key has a TTL)",
				addr, v))
		}
		return nil
	}
	each := func(ctx context.Context, c *redis.Client) error { return check(ctx, c, c.Options().Addr) }
	switch c := s.client.(type) {
	case *redis.Client:
		err = each(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, each)
	case *redis.Ring:
		err = c.ForEachShard(ctx, each)
	default: // an AutoPipeliner, say: the server it sends CONFIG to
		err = check(ctx, c, "Redis")
	}
	slices.Sort(findings) // the nodes answer in any order
	return findings, err
}

// logDurability logs what Durability finds as one line: a warning naming
// every unsafe setting (and the servers it could not read, if any), or an
// Info saying the settings could not be read.
func (s *Store) logDurability(ctx context.Context) {
	findings, err := s.Durability(ctx)
	switch {
	case len(findings) > 0 && err != nil:
		s.cfg.logger.Warn("waitroom: redisstore: Redis may lose the line: "+strings.Join(findings, "; "), "unchecked", err)
	case len(findings) > 0:
		s.cfg.logger.Warn("waitroom: redisstore: Redis may lose the line: " + strings.Join(findings, "; "))
	case err != nil:
		s.cfg.logger.Info("waitroom: redisstore: cannot check that Redis keeps the line across a restart (appendonly yes, maxmemory-policy noeviction)", "err", err)
	}
}
