package dynamostore

import (
	"testing"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storetest"
)

func TestConformance(t *testing.T) {
	db, _ := localClients(t)
	table := newTable(t, db)
	storetest.Run(t, func(t *testing.T) waitroom.Store { return newStore(t, db, table) })
}
