package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

const token = "s3cret-admin-token-0123"

type env struct {
	room  *waitroom.Room
	srv   *httptest.Server
	log   *waitroomtest.Log
	clock *waitroomtest.Clock
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{log: &waitroomtest.Log{}, clock: waitroomtest.NewClock(waitroomtest.Start)}
	var err error
	e.room, err = waitroom.New(memstore.New(), waitroom.WithClock(e.clock.Now), waitroom.WithManualStep(),
		waitroom.WithLogger(e.log.Logger()),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AdmitPerSecond: 10}))
	require.NoError(t, err)
	t.Cleanup(func() { e.room.Close() })
	h, err := admin.New(e.room, admin.WithToken(token), admin.WithLogger(e.log.Logger()))
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request with the token (auth true) or without, and returns
// the status and the decoded JSON body.
func (e *env) do(t *testing.T, method, path, body string, auth bool) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(res.Body)
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &out), "a JSON body: %s", b)
	}
	return res.StatusCode, out
}

func TestNewNeedsAuthentication(t *testing.T) {
	room, err := waitroom.New(memstore.New(), waitroom.WithManualStep())
	require.NoError(t, err)
	defer room.Close()
	_, err = admin.New(room)
	require.ErrorContains(t, err, "waitroom: admin: no authentication")
	_, err = admin.New(room, admin.WithToken("short"))
	require.ErrorContains(t, err, "at least 16 bytes")
	_, err = admin.New(room, admin.WithAuth(func(*http.Request) bool { return false }))
	require.NoError(t, err)
}

// Every endpoint refuses a request without the token, or with a wrong
// one, and changes nothing.
func TestEveryEndpointNeedsTheToken(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/zones", ""},
		{"GET", "/api/zones/checkout", ""},
		{"PATCH", "/api/zones/checkout", `{"capacity": 9}`},
		{"POST", "/api/zones/checkout/pause", ""},
		{"POST", "/api/zones/checkout/resume", ""},
		{"POST", "/api/zones/checkout/close", ""},
		{"POST", "/api/zones/checkout/revoke", `{"visitor": "v"}`},
		{"POST", "/api/zones/checkout/admit", `{"visitor": "v"}`},
		{"GET", "/api/zones/checkout/head", ""},
		{"GET", "/api/stream", ""},
	} {
		status, body := e.do(t, c.method, c.path, c.body, false)
		assert.Equal(t, http.StatusUnauthorized, status, "%s %s without a token", c.method, c.path)
		assert.Equal(t, "authentication required", body["error"])

		req, _ := http.NewRequest(c.method, e.srv.URL+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+token+"x")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, res.StatusCode, "%s %s with a wrong token", c.method, c.path)
	}
	z, _ := e.room.Zone("checkout")
	assert.Equal(t, 1, z.Capacity, "nothing changed")
	assert.False(t, z.Paused())
	assert.True(t, z.ClosesAt.IsZero())
	assert.Empty(t, e.log.Lines("INFO"), "nothing audited")
}

func TestListAndRead(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		_, err := e.room.Visit(context.Background(), "checkout", nil, true)
		require.NoError(t, err)
	}
	status, body := e.do(t, "GET", "/api/zones", "", true)
	require.Equal(t, http.StatusOK, status)
	zones := body["zones"].([]any)
	require.Len(t, zones, 1)
	z := zones[0].(map[string]any)
	assert.Equal(t, "checkout", z["name"])
	assert.Equal(t, "fifo", z["mode"])
	assert.Equal(t, "10m0s", z["session"])
	live := z["live"].(map[string]any)
	assert.Equal(t, 2.0, live["waiting"])
	assert.Equal(t, 1.0, live["inside"])

	status, body = e.do(t, "GET", "/api/zones/nowhere", "", true)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, "no such zone", body["error"])
}

func TestPatch(t *testing.T) {
	e := newEnv(t)
	status, body := e.do(t, "PATCH", "/api/zones/checkout",
		`{"capacity": 50, "admit_per_second": 5, "session": "2m", "mode": "passthrough", "max_waiting": 1000, "closes_at": "2026-03-01T12:00:00Z"}`, true)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, 50.0, body["capacity"])
	z, _ := e.room.Zone("checkout")
	assert.Equal(t, 50, z.Capacity)
	assert.Equal(t, 5.0, z.AdmitPerSecond)
	assert.Equal(t, 2*time.Minute, z.Session)
	assert.Equal(t, waitroom.ModePassthrough, z.Mode)
	assert.Equal(t, int64(1000), z.MaxWaiting)
	assert.True(t, z.ClosesAt.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	audit := strings.Join(e.log.Lines("INFO"), "\n")
	assert.Contains(t, audit, "action=change")
	assert.Contains(t, audit, "capacity: 1 -> 50", "the Room logs what changed")

	for _, c := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"capacity": `, 400, "malformed JSON"},
		{`{"capacity": 5, "colour": "red"}`, 400, `unknown field "colour"`},
		{`{"capacity": 0}`, 400, "capacity must be at least 1"},
		{`{"capacity": -3}`, 400, "capacity must not be negative"},
		{`{"admit_per_second": 0}`, 400, "admit_per_second must be positive"},
		{`{"admit_per_second": 2e9}`, 400, "admission rate must be between 0 and 1e9"},
		{`{"session": "soon"}`, 400, "session must be a positive duration"},
		{`{"opens_at": "tomorrow"}`, 400, "opens_at must be an RFC 3339 instant"},
		{`{"opens_at": "2026-03-01T13:00:00Z"}`, 400, "not after it opens"},
		{`{"mode": "lottery"}`, 400, "mode must be fifo, passthrough, reject or random"},
		{`{"max_waiting": -1}`, 400, "max_waiting must not be negative"},
		{`{}`, 400, "nothing to change"},
		{`{"capacity": 5} {"capacity": 6}`, 400, "more than one JSON value"},
		{`{"capacity": 5, "pad": "` + strings.Repeat("x", 70_000) + `"}`, 413, "body over 65536 bytes"},
	} {
		status, body := e.do(t, "PATCH", "/api/zones/checkout", c.body, true)
		assert.Equal(t, c.status, status, "%.60s", c.body)
		assert.Contains(t, body["error"], c.want, "%.60s", c.body)
	}
	z, _ = e.room.Zone("checkout")
	assert.Equal(t, 50, z.Capacity, "refused changes change nothing")
	status, _ = e.do(t, "PATCH", "/api/zones/nowhere", `{"capacity": 5}`, true)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestPauseResumeCloseRevoke(t *testing.T) {
	e := newEnv(t)
	in, err := e.room.Visit(context.Background(), "checkout", nil, true)
	require.NoError(t, err)
	require.Equal(t, waitroom.StateInside, in.State)

	status, body := e.do(t, "POST", "/api/zones/checkout/pause", "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["paused"])
	status, body = e.do(t, "POST", "/api/zones/checkout/resume", "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, body["paused"])

	status, body = e.do(t, "POST", "/api/zones/checkout/revoke", `{"visitor": "`+in.Visitor.ID+`"}`, true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["released"], "the visitor's slot is taken away")
	status, body = e.do(t, "POST", "/api/zones/checkout/revoke", `{"visitor": "`+in.Visitor.ID+`"}`, true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, body["released"], "twice: nothing more held")
	status, _ = e.do(t, "POST", "/api/zones/checkout/revoke", `{}`, true)
	assert.Equal(t, http.StatusBadRequest, status)

	status, body = e.do(t, "POST", "/api/zones/checkout/close", "", true)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["live"].(map[string]any)["closed"])
	out, err := e.room.Visit(context.Background(), "checkout", nil, true)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateClosed, out.State)

	status, _ = e.do(t, "POST", "/api/zones/nowhere/pause", "", true)
	assert.Equal(t, http.StatusNotFound, status)
	audit := strings.Join(e.log.Lines("INFO"), "\n")
	for _, a := range []string{"action=pause", "action=resume", "action=revoke", "action=close"} {
		assert.Contains(t, audit, a)
	}
}

// The dashboard's page is open; its login turns the token into a cookie
// that the event stream accepts. The stream's first event comes at once.
func TestDashboardLoginAndStream(t *testing.T) {
	e := newEnv(t)
	res, err := http.Get(e.srv.URL + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Contains(t, string(page), `<form id="login">`)
	assert.NotContains(t, string(page), "checkout", "the page holds no data")

	res, err = http.PostForm(e.srv.URL+"/login", url.Values{"token": {"wrong-token-wrong-token"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	res, err = http.PostForm(e.srv.URL+"/login", url.Values{"token": {token}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusNoContent, res.StatusCode)
	cookies := res.Cookies()
	require.Len(t, cookies, 1)
	assert.True(t, cookies[0].HttpOnly)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/stream", nil)
	req.AddCookie(cookies[0])
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	require.True(t, sc.Scan())
	assert.Equal(t, "event: zones", sc.Text())
	require.True(t, sc.Scan())
	data, ok := strings.CutPrefix(sc.Text(), "data: ")
	require.True(t, ok)
	var ev struct {
		Zones []struct {
			Name string `json:"name"`
		} `json:"zones"`
	}
	require.NoError(t, json.Unmarshal([]byte(data), &ev))
	require.Len(t, ev.Zones, 1)
	assert.Equal(t, "checkout", ev.Zones[0].Name)
}

// The head of the line, and letting one visitor in ahead of it.
func TestHeadAndAdmit(t *testing.T) {
	e := newEnv(t)
	var out []waitroom.Outcome
	for range 4 {
		o, err := e.room.Visit(context.Background(), "checkout", nil, true)
		require.NoError(t, err)
		out = append(out, o)
	}
	status, body := e.do(t, "GET", "/api/zones/checkout/head?n=2", "", true)
	require.Equal(t, http.StatusOK, status)
	head := body["head"].([]any)
	require.Len(t, head, 2)
	first := head[0].(map[string]any)
	assert.Equal(t, out[1].Visitor.ID, first["visitor"])
	assert.Equal(t, 1.0, first["place"])
	assert.Equal(t, "2026-03-01T10:00:00Z", first["waiting_since"])
	for _, q := range []string{"0", "1001", "x"} {
		status, _ = e.do(t, "GET", "/api/zones/checkout/head?n="+q, "", true)
		assert.Equal(t, http.StatusBadRequest, status, "n=%s", q)
	}

	status, body = e.do(t, "POST", "/api/zones/checkout/admit", `{"visitor": "`+out[3].Visitor.ID+`"}`, true)
	assert.Equal(t, http.StatusConflict, status, "the one slot is held")
	assert.Contains(t, body["error"], "no slot is free")
	_, err := e.room.Release(context.Background(), "checkout", out[0].Visitor.ID)
	require.NoError(t, err)
	status, body = e.do(t, "POST", "/api/zones/checkout/admit", `{"visitor": "`+out[3].Visitor.ID+`"}`, true)
	require.Equal(t, http.StatusOK, status, "%v", body)
	o, err := e.room.Visit(context.Background(), "checkout", &out[3].Visitor, false)
	require.NoError(t, err)
	assert.Equal(t, waitroom.StateInside, o.State, "the last in line went in ahead of the others")
	status, _ = e.do(t, "POST", "/api/zones/checkout/admit", `{"visitor": "nobody"}`, true)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, strings.Join(e.log.Lines("INFO"), "\n"), "action=admit")
}
