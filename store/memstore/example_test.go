package memstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
)

// A zone with two slots: three visitors queue, the exchanger lets the first
// two in, the third waits with nobody ahead.
func Example() {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

	zone, err := s.PutZone(ctx, waitroom.ZoneState{
		Name: "checkout", Capacity: 2, AdmitPerSecond: 10,
		Session: 10 * time.Minute, ClaimWindow: time.Minute, AbandonAfter: time.Minute,
		DataTTL: 24 * time.Hour,
	}, now)
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"ann", "bob", "cat"} {
		if _, err := s.Register(ctx, zone.Name, v, now); err != nil {
			log.Fatal(err)
		}
	}
	x, _ := s.Exchange(ctx, zone.Name, now.Add(time.Second), 10)
	for _, a := range x.Admitted {
		fmt.Println("admitted", a.Visitor, "until", a.Slot.Until.Format(time.TimeOnly))
	}
	p, _ := s.Position(ctx, zone.Name, "cat", now.Add(2*time.Second))
	fmt.Println(p.Visitor, p.State, "ahead:", p.Ahead)
	// Output:
	// admitted ann until 10:01:01
	// admitted bob until 10:01:01
	// cat waiting ahead: 0
}
