package admin_test

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzPatch: whatever body a PATCH carries, the answer is the change
// made (200) or a client's error (400, 413), never a failure of the
// server, and the zone it leaves is one a Room takes.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		`{"capacity": 5}`, `{"capacity": 0}`, `{"admit_per_second": 1e308}`, `{"session": "-1s"}`, `{"session": "1ns"}`,
		`{"opens_at": "2026-03-01T10:00:00Z", "closes_at": "2026-03-01T09:00:00Z"}`, `{"mode": "reject"}`, `{"max_waiting": 9223372036854775807}`,
		`{"capacity": 1e3}`, `{"capacity": "5"}`, `[]`, `null`, `{`, `{"capacity": 5, "capacity": 6}`, "\x00", `{"data_ttl": "87600h"}`,
	} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		req, err := http.NewRequest("PATCH", e.srv.URL+"/api/zones/checkout", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		switch res.StatusCode {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("PATCH %q: status %d", body, res.StatusCode)
		}
		z, ok := e.room.Zone("checkout")
		if !ok || z.Capacity < 1 || z.AdmitPerSecond <= 0 || z.Session < 1e9 {
			t.Fatalf("PATCH %q left the zone %+v", body, z)
		}
	})
}
