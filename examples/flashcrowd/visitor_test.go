package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// limits records the requests' time limits that do starts, to fire them
// by hand.
type limits struct {
	mu      sync.Mutex
	started []func()
	stopped int
}

func (l *limits) afterFunc(d time.Duration, f func()) func() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started = append(l.started, f)
	return func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.stopped++
		return true
	}
}

func (l *limits) count() (started, stopped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.started), l.stopped
}

func (l *limits) fire(i int) {
	l.mu.Lock()
	f := l.started[i]
	l.mu.Unlock()
	f()
}

// A request's limit runs from the moment it has a socket: one queued
// behind a busy socket for longer than its limit is still answered, and
// one the server does not answer on its socket fails with errNoAnswer.
func TestRequestLimitStartsOnTheSocket(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			entered <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	defer close(release)

	tr := newTransport(1) // one socket: the second request queues for it
	defer tr.CloseIdleConnections()
	l := &limits{}
	c := &client{afterFunc: l.afterFunc, counters: &counters{}}
	hc := &http.Client{Transport: tr}
	get := func(ctx context.Context, path string) *http.Request {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		return req
	}

	slow := &virtualVisitor{}
	slowErr := make(chan error, 1)
	go func() {
		_, _, err := c.do(hc, get(context.Background(), "/slow"), slow, time.Second)
		slowErr <- err
	}()
	<-entered

	queued := make(chan struct{})
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GetConn: func(string) { close(queued) },
	})
	fast := &virtualVisitor{}
	type result struct {
		resp *http.Response
		done func()
		err  error
	}
	fastRes := make(chan result, 1)
	go func() {
		resp, done, err := c.do(hc, get(ctx, "/fast"), fast, time.Second)
		fastRes <- result{resp, done, err}
	}()
	<-queued
	started, _ := l.count()
	assert.Equal(t, 1, started, "the queued request's limit has not started")

	// The slow request's limit passes: it fails, and its socket goes to
	// the queued request, whose limit starts only now.
	l.fire(0)
	err := <-slowErr
	require.Error(t, err)
	assert.ErrorIs(t, err, errNoAnswer)
	assert.Contains(t, err.Error(), "GET /slow: no answer in time: 1s on its socket")

	r := <-fastRes
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusNoContent, r.resp.StatusCode)
	drain(r.resp)
	r.done()
	started, stopped := l.count()
	assert.Equal(t, 2, started, "the queued request's limit started once it had a socket")
	assert.GreaterOrEqual(t, stopped, 2, "both limits stopped once their requests ended")
	assert.Positive(t, fast.lastSocketWait, "the time it waited for the socket is counted apart")
}
