package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Durability reports the settings of the Redis servers (every master of a
// Cluster) under which a restart or memory pressure loses the line: each
// finding names the server, the setting and what it costs. The store
// needs appendonly yes (without it a restart loses every place in line,
// the order and the shared key ring) and maxmemory-policy noeviction
// (any other policy evicts places under memory pressure; the volatile-*
// policies too, since every key of a zone has a TTL). err is non-nil when
// the settings cannot be read, as where CONFIG is renamed or refused
// (managed Redis).
func (s *Store) Durability(ctx context.Context) (findings []string, err error) {
	var mu sync.Mutex
	check := func(ctx context.Context, c *redis.Client) error {
		got, err := c.ConfigGet(ctx, "*").Result()
		if err != nil {
			return fmt.Errorf("waitroom: redisstore: CONFIG GET on %s: %w", c.Options().Addr, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if v := got["appendonly"]; v != "yes" {
			findings = append(findings, fmt.Sprintf("%s: appendonly is %q, not \"yes\": a restart loses every place in line, their order and the shared key ring",
				c.Options().Addr, v))
		}
		if v := got["maxmemory-policy"]; v != "noeviction" {
			findings = append(findings, fmt.Sprintf("%s: maxmemory-policy is %q, not \"noeviction\": under memory pressure Redis evicts places in line (every waitroom key has a TTL)",
				c.Options().Addr, v))
		}
		return nil
	}
	switch c := s.client.(type) {
	case *redis.Client:
		err = check(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	default:
		err = fmt.Errorf("waitroom: redisstore: cannot read the settings through a %T", s.client)
	}
	return findings, err
}

// logDurability logs what Durability finds: one warning naming every
// unsafe setting, or one line saying the settings could not be read.
func (s *Store) logDurability(ctx context.Context) {
	findings, err := s.Durability(ctx)
	if err != nil {
		s.cfg.logger.Info("waitroom: redisstore: cannot check that Redis keeps the line across a restart (appendonly yes, maxmemory-policy noeviction)", "err", err)
	}
	if len(findings) > 0 {
		s.cfg.logger.Warn("waitroom: redisstore: Redis may lose the line: " + strings.Join(findings, "; "))
	}
}
