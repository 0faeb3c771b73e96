package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

// The shop lets one visitor at a time into its checkout. The second
// visitor waits; when the first is done (the shop sets the release header),
// the exchanger lets the second in.
func ExampleWrap() {
	room, err := waitroom.New(memstore.New(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AdmitPerSecond: 10}),
		waitroom.WithManualStep()) // this example admits by hand; a real Room runs its exchanger itself
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()

	shop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/checkout/done" {
			w.Header().Set("Waitroom-Release", "1") // paid: let the next visitor in
		}
		fmt.Fprintln(w, "welcome to the checkout")
	})
	h := middleware.Wrap(room, shop)
	defer h.Close()

	// visit sends a request with the visitor's cookies and keeps the new ones.
	visit := func(cookies *[]*http.Cookie, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Accept", "application/json")
		for _, c := range *cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		*cookies = append(*cookies, rec.Result().Cookies()...)
		return rec
	}
	var alice, bob []*http.Cookie

	fmt.Println("alice:", visit(&alice, "/checkout").Code)
	res := visit(&bob, "/checkout")
	var standing struct {
		State    string `json:"state"`
		Position int    `json:"position"`
	}
	json.Unmarshal(res.Body.Bytes(), &standing)
	fmt.Println("bob:", res.Code, standing.State, "at position", standing.Position)

	fmt.Println("alice pays:", visit(&alice, "/checkout/done").Code)
	room.Step(context.Background()) // the exchanger's tick
	fmt.Println("bob:", visit(&bob, "/checkout").Code)
	// Output:
	// alice: 200
	// bob: 429 waiting at position 1
	// alice pays: 200
	// bob: 200
}

// New gives the middleware in the form routers chain. Here the checkout's
// assets bypass the waiting room.
func ExampleNew() {
	room, err := waitroom.New(memstore.New(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()

	waitingRoom := middleware.New(room, middleware.WithBypassPaths("/checkout/assets/"))
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if a, ok := middleware.AccessFrom(r.Context()); ok {
			fmt.Fprintln(w, "inside zone", a.Zone)
			return
		}
		fmt.Fprintln(w, "public page")
	})
	h := waitingRoom(mux)

	for _, path := range []string{"/checkout", "/checkout", "/checkout/assets/app.css", "/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Println(path, rec.Code)
	}
	// Output:
	// /checkout 200
	// /checkout 429
	// /checkout/assets/app.css 200
	// / 200
}
