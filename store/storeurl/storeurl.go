// Package storeurl opens a waitroom.Store named by a URL, for programs that
// take their store from a flag or a configuration file:
//
//	memory                                   the memory store (one instance)
//	redis://host:6379/0, rediss://…          Redis (redisstore.Open)
//	redis+cluster://h1:6379,h2:6379          Redis Cluster
//	dynamodb://TABLE?region=…&endpoint=…     DynamoDB (dynamostore.Open)
//
// A store that many instances share also keeps the key ring they sign
// tokens with; Open returns it.
package storeurl

import (
	"context"
	"fmt"
	"strings"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/dynamostore"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/redisstore"
)

// Open opens the store raw names. keys is the key ring kept in the store
// when it is shared between instances, nil for the memory store (the
// Room then makes its own, good for one instance only).
func Open(ctx context.Context, raw string) (s waitroom.Store, keys *waitroom.KeyRing, err error) {
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

// Shared reports whether the store raw names is shared between instances.
func Shared(raw string) bool {
	scheme, _, _ := strings.Cut(raw, "://")
	return scheme != "" && scheme != "memory"
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
