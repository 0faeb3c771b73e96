package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/dynamostore"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/redisstore"
)

// openStore opens the store named by the -store flag. It returns the key
// ring kept in that store when the store can share one between instances
// (nil: the Room generates its own).
func openStore(ctx context.Context, raw string) (waitroom.Store, *waitroom.KeyRing, error) {
	scheme, _, _ := strings.Cut(raw, "://")
	switch scheme {
	case "", "memory":
		return memstore.New(), nil, nil
	case "redis", "rediss", "redis+cluster", "rediss+cluster":
		s, err := redisstore.Open(ctx, raw)
		return withSharedKeys(ctx, s, err)
	case "dynamodb":
		s, err := dynamostore.Open(ctx, raw)
		return withSharedKeys(ctx, s, err)
	}
	return nil, nil, fmt.Errorf("waitroom: unknown store %q (want memory, redis://…, redis+cluster://…, dynamodb://…)", raw)
}

// sharingStore is a store that keeps a key ring every instance can read.
type sharingStore interface {
	waitroom.Store
	SharedKeys(ctx context.Context) (*waitroom.KeyRing, error)
}

// withSharedKeys returns the store just opened with the key ring it keeps.
func withSharedKeys[S sharingStore](ctx context.Context, s S, err error) (waitroom.Store, *waitroom.KeyRing, error) {
	if err != nil {
		return nil, nil, err
	}
	keys, err := s.SharedKeys(ctx)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, keys, nil
}
