package redisstore_test

import (
	"testing"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin/admintest"
)

// TestOperatedAcrossInstances: a capacity change and a pause made through
// one instance's admin API take effect on another instance, each with its
// own client of the one Redis.
func TestOperatedAcrossInstances(t *testing.T) {
	admintest.Run(t, func(t *testing.T) waitroom.Store { return newStore(t, sharedClient(t)) })
}
