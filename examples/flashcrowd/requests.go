package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// do sends req as a browser would and returns its response and a func to
// call once its body is read. Its limit runs from the moment the request
// has a socket, for each request of a redirect: the time it waits first
// for one of the crowd's shared sockets is the simulator's, not the
// room's (a browser has its own socket; one process cannot hold 100,000),
// and the report gives it apart. The visitor's wait still counts it.
func (c *client) do(hc *http.Client, req *http.Request, v *virtualVisitor, limit time.Duration) (*http.Response, func(), error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	// The trace's hooks run on this goroutine, within hc.Do.
	var stop func() bool
	asked := time.Now()
	queued := false
	v.lastSocketWait = 0
	trace := &httptrace.ClientTrace{
		GetConn: func(string) {
			asked, queued = time.Now(), true
			c.counters.queued.Add(1)
		},
		GotConn: func(httptrace.GotConnInfo) {
			if queued {
				queued = false
				c.counters.queued.Add(-1)
			}
			v.lastSocketWait += time.Since(asked)
			if stop != nil {
				stop()
			}
			stop = c.startLimit(limit, func() {
				cancel(fmt.Errorf("%w: %v on its socket", errNoAnswer, limit))
			})
		},
	}
	done := func() {
		if stop != nil {
			stop()
		}
		cancel(nil)
	}
	resp, err := hc.Do(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if queued { // it gave up waiting for a socket
		c.counters.queued.Add(-1)
	}
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errNoAnswer) {
			err = fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, cause)
		}
		done()
		return nil, nil, err
	}
	return resp, done, nil
}

// startLimit starts a request's time limit: f runs after d unless the
// returned stop is called first.
func (c *client) startLimit(d time.Duration, f func()) (stop func() bool) {
	if c.afterFunc != nil {
		return c.afterFunc(d, f)
	}
	return time.AfterFunc(d, f).Stop
}

func (c *client) newRequest(ctx context.Context, method, ref, accept string, v *virtualVisitor) (*http.Request, error) {
	return c.newRequestTo(ctx, c.base(), method, ref, accept, v)
}

func (c *client) newRequestTo(ctx context.Context, base *url.URL, method, ref, accept string, v *virtualVisitor) (*http.Request, error) {
	u, err := base.Parse(ref)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set(headerVisitor, strconv.Itoa(v.idx))
	c.counters.requests.Add(1)
	return req, nil
}

// fail counts an error unless the run is being stopped.
func (c *client) fail(v *virtualVisitor, msg string) error {
	err := &visitError{msg}
	if strings.Contains(msg, context.Canceled.Error()) {
		return err
	}
	v.errors++
	v.lastError = msg
	c.counters.errors.Add(1)
	return err
}

type visitError struct{ msg string }

func (e *visitError) Error() string { return e.msg }

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}

func atoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

func secondsOr(n, def int) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

// waitUntil blocks until t or until ctx is done; it reports whether t came.
func waitUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// visitorID reads the visitor id from the visitor cookie in jar: the
// subject of the token, which the visitor may read like any JWT's payload
// (it is signed, not secret). It is how the report matches the store's
// change feed to the visitors.
func visitorID(jar http.CookieJar, base *url.URL, zone string) string {
	for _, ck := range jar.Cookies(base) {
		if ck.Name != "wr_v_"+zone {
			continue
		}
		parts := strings.Split(ck.Value, ".")
		if len(parts) != 3 {
			return ""
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			return ""
		}
		var claims struct {
			Sub string `json:"sub"`
		}
		if json.Unmarshal(payload, &claims) != nil {
			return ""
		}
		return claims.Sub
	}
	return ""
}
