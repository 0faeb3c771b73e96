package dynamostore

import (
	"testing"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin/admintest"
)

// TestOperatedAcrossInstances: a capacity change and a pause made through
// one instance's admin API take effect on another instance, each with its
// own Store on the one table.
func TestOperatedAcrossInstances(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	admintest.Run(t, func(t *testing.T) waitroom.Store { return newStore(t, db, table) })
}
