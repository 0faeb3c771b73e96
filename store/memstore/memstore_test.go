package memstore_test

import (
	"testing"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) waitroom.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}
