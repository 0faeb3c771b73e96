package middleware_test

import (
	"context"
	"html/template"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
)

// A zone closed to a visitor says why, as a page and as JSON: a sale over
// is final (410); a sale an operator closed and a full line may open again
// (503 with Retry-After, and a page that asks again by itself).
func TestClosedPageSaysWhy(t *testing.T) {
	for _, c := range []struct {
		name   string
		zone   func(*waitroom.Zone)
		change func(*testing.T, *waitroom.Room)
		status int
		closed string
		words  string
	}{
		{"ended", nil, func(t *testing.T, r *waitroom.Room) { require.NoError(t, r.CloseNow(context.Background(), "checkout")) },
			http.StatusGone, "ended", "The sale has ended"},
		{"rejected", nil, func(t *testing.T, r *waitroom.Room) {
			require.NoError(t, r.SetMode(context.Background(), "checkout", waitroom.ModeReject))
		}, http.StatusServiceUnavailable, "rejected", "The sale is closed"},
		{"full", func(z *waitroom.Zone) { z.MaxWaiting = 1 }, nil, http.StatusServiceUnavailable, "full", "The line is full"},
	} {
		t.Run(c.name, func(t *testing.T) {
			z := checkoutZone(1)
			if c.zone != nil {
				c.zone(&z)
			}
			e := newEnv(t, z, nil)
			require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode, "one inside")
			waiting := e.client()
			require.Equal(t, http.StatusTooManyRequests, waiting.get("/checkout").StatusCode, "one in line")
			if c.change != nil {
				c.change(t, e.room)
			}

			calls := e.origin.calls.Load()
			res := e.client().get("/checkout")
			page := body(res)
			assert.Equal(t, c.status, res.StatusCode)
			assert.Contains(t, page, c.words)
			if c.status == http.StatusServiceUnavailable {
				retry := strconv.Itoa(int(middleware.DefaultMaxRetryAfter / time.Second)) // a minute, capped
				assert.Equal(t, retry, res.Header.Get("Retry-After"))
				assert.Contains(t, page, `<meta http-equiv="refresh" content="`+retry+`">`, "the page asks again by itself")
			} else {
				assert.Empty(t, res.Header.Get("Retry-After"), "a sale over is final")
			}
			res, rep := e.client().getJSON("/checkout")
			assert.Equal(t, c.status, res.StatusCode)
			assert.Equal(t, "closed", rep.State)
			assert.Equal(t, c.closed, rep.Closed)
			assert.Equal(t, calls, e.origin.calls.Load(), "nobody reached the origin")
		})
	}
}

// WithClosedTemplate serves a page of the app's own for a closed zone; the
// waiting page keeps the built-in one.
func TestClosedTemplate(t *testing.T) {
	tmpl := template.Must(template.New("closed").Parse(`<h1>Sold out ({{.Closed}}) in {{.Zone}}</h1>`))
	e := newEnv(t, checkoutZone(1), nil, middleware.WithClosedTemplate(tmpl))
	require.Equal(t, http.StatusOK, e.client().get("/checkout").StatusCode)
	waiting := e.client().get("/checkout")
	assert.Contains(t, body(waiting), "You are in line", "the waiting page is the built-in one")
	require.NoError(t, e.room.SetMode(context.Background(), "checkout", waitroom.ModeReject))
	res := e.client().get("/checkout")
	assert.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	assert.Equal(t, "<h1>Sold out (rejected) in checkout</h1>", body(res))
}
