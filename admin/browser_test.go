package admin_test

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/admin"
	"github.com/waitroom/waitroom/internal/browsertest"
	"github.com/waitroom/waitroom/store/memstore"
)

func TestMain(m *testing.M) { browsertest.Main(m) }

// The dashboard in real Chromium: sign in with the token, watch the
// zone's figures follow a crowd, press pause, and find the zone paused
// through the API.
func TestBrowserDashboard(t *testing.T) {
	ctx := context.Background()
	room, err := waitroom.New(memstore.New(), waitroom.WithTick(20*time.Millisecond),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Capacity: 2, AdmitPerSecond: 5}))
	require.NoError(t, err)
	defer room.Close()
	h, err := admin.New(room, admin.WithToken(token))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the tab closes (cleanups run last first): its event stream holds a connection

	tab := browsertest.New(t)
	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.SendKeys("#token", token),
		chromedp.Click("#signin"),
	))
	browsertest.WaitFor(t, tab, `document.querySelector("section.zone[data-zone=checkout] .waiting")?.textContent === "0" && "shown"`, 10*time.Second)

	// A crowd arrives: the live figures follow without a reload.
	for range 7 {
		_, err := room.Visit(ctx, "checkout", nil, true)
		require.NoError(t, err)
	}
	waiting := browsertest.WaitFor(t, tab, `(() => { const w = document.querySelector("section.zone[data-zone=checkout] .waiting").textContent; return w !== "0" && w })()`, 10*time.Second)
	n, err := strconv.Atoi(waiting)
	require.NoError(t, err)
	assert.Positive(t, n, "the page shows the line")
	browsertest.Screenshot(t, tab, "waitroom-dashboard.png")

	require.NoError(t, chromedp.Do(tab, chromedp.Click(`section.zone[data-zone=checkout] button.pause`)))
	browsertest.WaitFor(t, tab, `document.querySelector("section.zone[data-zone=checkout] .state").textContent === "paused" && "paused"`, 10*time.Second)
	z, ok := room.Zone("checkout")
	require.True(t, ok)
	assert.True(t, z.Paused(), "the button paused the zone")

	e := &env{srv: srv}
	status, body := e.do(t, "GET", "/api/zones/checkout", "", true)
	require.Equal(t, 200, status)
	assert.Equal(t, true, body["paused"], "the API says so too")
}
