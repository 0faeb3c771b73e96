package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

func TestEventZone(t *testing.T) {
	for path, want := range map[string]string{
		"/events/1/seats": "event-1", "/events/3/checkout": "event-3",
		"/events/9/seats": "", "/events/1": "", "/events/1/other": "", "/": "",
	} {
		got, ok := eventZone(httptest.NewRequest("GET", path, nil))
		require.Equal(t, want != "", ok, path)
		require.Equal(t, want, got, path)
	}
}

// TestBuyReleasesSlot: capacity 1 per event; the first buyer picks a seat
// while the second waits; buying releases the slot and, after an exchange
// step, the second buyer is in. Other events are not affected.
func TestBuyReleasesSlot(t *testing.T) {
	clock := waitroomtest.NewClock(waitroomtest.Start)
	room, err := waitroom.New(memstore.New(), waitroom.WithClock(clock.Now), waitroom.WithManualStep(),
		waitroom.WithZoneTemplate(waitroom.Zone{Capacity: 1, AdmitPerSecond: 10}))
	require.NoError(t, err)
	defer room.Close()
	srv := httptest.NewServer(newShop(room).handler())
	defer srv.Close()

	buyer := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	status := func(c *http.Client, path string) (int, string) {
		resp, err := c.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ann, ben := buyer(), buyer()
	code, body := status(ann, "/events/1/seats")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Pick your seat")
	code, _ = status(ben, "/events/1/seats")
	require.Equal(t, http.StatusTooManyRequests, code, "event 1 holds one buyer at a time")
	code, _ = status(ben, "/events/2/seats")
	require.Equal(t, http.StatusOK, code, "event 2 has its own zone")

	resp, err := ann.PostForm(srv.URL+"/events/1/checkout", url.Values{"seat": {"A1"}})
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), "Seat A1")

	clock.Advance(time.Second)
	require.NoError(t, room.Step(t.Context()))
	code, body = status(ben, "/events/1/seats")
	require.Equal(t, http.StatusOK, code, "the slot went to the next in line")
	require.NotContains(t, body, `value="A1"`, "a sold seat is not offered again")
}
