package main

import (
	"context"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/dynamostore"
	"github.com/waitroom/waitroom/store/redisstore"
)

// storeMeter reads what a simulation costs the store's server: Redis's
// CPU time (INFO cpu: used_cpu_sys + used_cpu_user, summed over a
// Cluster's masters) and memory (INFO memory: used_memory), DynamoDB's
// capacity units (dynamostore.Store.ConsumedCapacity, by DynamoDB's
// published rules). The Redis figures are the server's own, so whatever
// else uses the server meanwhile counts too.
type storeMeter struct {
	redis  redis.UniversalClient // nil unless Redis
	dynamo []*dynamostore.Store  // empty unless DynamoDB

	cpu0, mem0 float64
	units0     dynamostore.Capacity
}

func newStoreMeter(stores []waitroom.Store) *storeMeter {
	m := &storeMeter{}
	for _, s := range stores {
		switch s := s.(type) {
		case *redisstore.Store:
			if m.redis == nil {
				m.redis = s.Client()
			}
		case *dynamostore.Store:
			m.dynamo = append(m.dynamo, s)
		}
	}
	return m
}

// start takes the readings the run's figures are counted from.
func (m *storeMeter) start(ctx context.Context) {
	if m.redis != nil {
		m.cpu0 = m.redisCPU(ctx)
		m.mem0 = m.redisMemory(ctx)
	}
	m.units0 = m.units()
}

// peak measures Redis's memory per place in line, with waiting places.
func (m *storeMeter) peak(ctx context.Context, fig *simFigures, waiting int64) {
	if m.redis == nil || waiting <= 0 {
		return
	}
	if mem := m.redisMemory(ctx); mem >= 0 && m.mem0 >= 0 {
		fig.RedisMemoryPerWaiting = (mem - m.mem0) / float64(waiting)
	}
}

// stop measures the run's CPU time and capacity units per visitor.
func (m *storeMeter) stop(ctx context.Context, fig *simFigures, visitors int) {
	if m.redis != nil {
		if cpu := m.redisCPU(ctx); cpu >= 0 && m.cpu0 >= 0 {
			fig.RedisCPUPerVisitor = (cpu - m.cpu0) * 1e6 / float64(visitors)
		}
	}
	if len(m.dynamo) > 0 {
		u := m.units().Sub(m.units0)
		fig.DynamoReadPerVisitor = u.ReadUnits / float64(visitors)
		fig.DynamoWritePerVisitor = u.WriteUnits / float64(visitors)
	}
}

func (m *storeMeter) units() dynamostore.Capacity {
	var c dynamostore.Capacity
	for _, s := range m.dynamo {
		u := s.ConsumedCapacity()
		c.ReadUnits += u.ReadUnits
		c.WriteUnits += u.WriteUnits
		c.Requests += u.Requests
	}
	return c
}

// redisCPU is the server's CPU time in seconds (-1: unknown).
func (m *storeMeter) redisCPU(ctx context.Context) float64 {
	return m.redisSum(ctx, "cpu", "used_cpu_sys", "used_cpu_user")
}

// redisMemory is the server's used_memory in bytes (-1: unknown).
func (m *storeMeter) redisMemory(ctx context.Context) float64 {
	return m.redisSum(ctx, "memory", "used_memory")
}

// redisSum adds the named fields of an INFO section, over every master
// of a Cluster; -1 if one cannot be read.
func (m *storeMeter) redisSum(ctx context.Context, section string, fields ...string) float64 {
	read := func(ctx context.Context, c *redis.Client) (float64, bool) {
		info, err := c.Info(ctx, section).Result()
		if err != nil {
			return 0, false
		}
		var sum float64
		for _, f := range fields {
			v, ok := infoField(info, f)
			if !ok {
				return 0, false
			}
			sum += v
		}
		return sum, true
	}
	switch c := m.redis.(type) {
	case *redis.Client:
		if v, ok := read(ctx, c); ok {
			return v
		}
	case *redis.ClusterClient:
		var mu sync.Mutex
		var sum float64
		okAll := true
		err := c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			v, ok := read(ctx, c)
			mu.Lock()
			sum += v
			okAll = okAll && ok
			mu.Unlock()
			return nil
		})
		if err == nil && okAll {
			return sum
		}
	}
	return -1
}

// infoField reads one numeric field of an INFO reply.
func infoField(info, name string) (float64, bool) {
	for line := range strings.Lines(info) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && k == name {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}
