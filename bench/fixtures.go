package bench

import (
	"fmt"
	"net/http"
)

// Fixture is a comparison ready to run: a baseline side and a subject
// side, with what they need kept running until Close.
type Fixture struct {
	Base, Subject Side
	Room          *Room // the subject's waiting room
	closers       []func() error
}

// Close stops the servers and the room.
func (f *Fixture) Close() {
	for i := len(f.closers) - 1; i >= 0; i-- {
		f.closers[i]()
	}
}

func (f *Fixture) serve(h http.Handler) (*Server, error) {
	s, err := Serve(h)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, s.Close)
	return s, nil
}

// AccessTokenFixture compares a request with a valid access token through
// the waiting-room-wrapped httputil.ReverseProxy (subject) with the same
// request through the bare httputil.ReverseProxy (baseline), both in front
// of the same hello origin. Each of the workers is a visitor who entered
// (direct entry, one store call each, made here); both sides get its
// cookie.
func AccessTokenFixture(c *http.Client, workers int) (f *Fixture, err error) {
	f = &Fixture{}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	origin, err := f.serve(Hello)
	if err != nil {
		return nil, err
	}
	bareProxy, err := NewProxy(origin.URL)
	if err != nil {
		return nil, err
	}
	bare, err := f.serve(bareProxy)
	if err != nil {
		return nil, err
	}
	room, err := NewRoom(2 * workers)
	if err != nil {
		return nil, err
	}
	f.Room = room
	f.closers = append(f.closers, room.Close)
	proxy, err := NewProxy(origin.URL)
	if err != nil {
		return nil, err
	}
	h := room.Wrap(proxy)
	f.closers = append(f.closers, h.Close)
	wrapped, err := f.serve(h)
	if err != nil {
		return nil, err
	}
	var headers []http.Header
	for range workers {
		resp, err := Visit(c, wrapped.URL, nil)
		if err != nil {
			return nil, err
		}
		tok := Cookie(resp, "wr_a_"+ZoneName)
		if resp.StatusCode != http.StatusOK || tok == "" {
			return nil, fmt.Errorf("waitroom: bench: a newcomer did not enter: status %d", resp.StatusCode)
		}
		headers = append(headers, http.Header{"Cookie": {"wr_a_" + ZoneName + "=" + tok}})
	}
	f.Base = Side{Name: "bare proxy", URL: bare.URL, Headers: headers, Status: http.StatusOK}
	f.Subject = Side{Name: "wrapped proxy, valid access token", URL: wrapped.URL, Headers: headers, Status: http.StatusOK}
	return f, nil
}

// WaitingPageFixture compares the waiting page of a full zone, answered
// from the edge cache (subject), with a bare hello handler (baseline),
// each served directly on its own listener. The zone holds one visitor,
// who entered here; each of the workers is a visitor in line (registered
// here: those are the only store calls). accept is the Accept header of
// every request: "text/html" for the page, "application/json" for the
// JSON form.
func WaitingPageFixture(c *http.Client, workers int, accept string) (f *Fixture, err error) {
	f = &Fixture{}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	hello, err := f.serve(Hello)
	if err != nil {
		return nil, err
	}
	room, err := NewRoom(1)
	if err != nil {
		return nil, err
	}
	f.Room = room
	f.closers = append(f.closers, room.Close)
	h := room.Wrap(Hello)
	f.closers = append(f.closers, h.Close)
	wrapped, err := f.serve(h)
	if err != nil {
		return nil, err
	}
	resp, err := Visit(c, wrapped.URL, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("waitroom: bench: the first visitor did not enter: status %d", resp.StatusCode)
	}
	var headers []http.Header
	for range workers {
		resp, err := Visit(c, wrapped.URL, http.Header{"Accept": {accept}})
		if err != nil {
			return nil, err
		}
		tok := Cookie(resp, "wr_v_"+ZoneName)
		if resp.StatusCode != http.StatusTooManyRequests || tok == "" {
			return nil, fmt.Errorf("waitroom: bench: a visitor was not queued: status %d", resp.StatusCode)
		}
		headers = append(headers, http.Header{"Cookie": {"wr_v_" + ZoneName + "=" + tok}, "Accept": {accept}})
	}
	f.Base = Side{Name: "hello handler", URL: hello.URL, Headers: headers, Status: http.StatusOK}
	f.Subject = Side{Name: "cached waiting page (" + accept + ")", URL: wrapped.URL, Headers: headers, Status: http.StatusTooManyRequests}
	return f, nil
}
