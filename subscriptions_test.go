package waitroom

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Subscribers are called in the order they subscribed; one that cancels
// is called no more; the zero value dispatches to nobody.
func TestSubscribersOrderAndCancel(t *testing.T) {
	var s subscribers
	s.dispatch(Event{Seq: 1}) // nobody yet

	var got []string
	record := func(name string) func(Event) {
		return func(ev Event) { got = append(got, name) }
	}
	cancelA := s.add(record("a"))
	s.add(record("b"))
	s.add(record("c"))
	s.dispatch(Event{Seq: 2})
	assert.Equal(t, []string{"a", "b", "c"}, got)

	got = nil
	cancelA()
	cancelA() // a second cancel does nothing
	s.add(record("d"))
	s.dispatch(Event{Seq: 3})
	assert.Equal(t, []string{"b", "c", "d"}, got)
}
