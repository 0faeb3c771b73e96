package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

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

// The waiting page follows the line over a websocket; any client can. It
// opens {prefix}/ws with the visitor cookie the waiting page set, reads one
// JSON report when it connects and one whenever its standing changes, and
// at its turn gets state "admitted" with the claim URL to go to.
func ExampleWrap_liveUpdates() {
	room, err := waitroom.New(memstore.New(),
		waitroom.WithZone(waitroom.Zone{Name: "checkout", Paths: []string{"/checkout"}, Capacity: 1, AdmitPerSecond: 10}),
		waitroom.WithManualStep())
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	h := middleware.Wrap(room, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "checkout")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close() // ends open connections before the server closes

	// Alice goes in; Bob waits and keeps his visitor cookie.
	ctx := context.Background()
	alice, _ := room.Visit(ctx, "checkout", nil, true)
	res, err := http.Get(srv.URL + "/checkout/seat?row=7")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	var cookie string
	for _, c := range res.Cookies() {
		if c.Name == "wr_v_checkout" {
			cookie = c.Name + "=" + c.Value
		}
	}

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+
		"/.waitroom/ws?zone=checkout&return="+url.QueryEscape("/checkout/seat?row=7"),
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {cookie}}})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.CloseNow()
	next := func() (r struct {
		State    string `json:"state"`
		Position int    `json:"position"`
		ClaimURL string `json:"claim_url"`
	}) {
		if err := wsjson.Read(ctx, conn, &r); err != nil {
			log.Fatal(err)
		}
		return r
	}
	r := next()
	fmt.Println(r.State, "at position", r.Position)

	room.Release(ctx, "checkout", alice.Visitor.ID)
	room.Step(ctx) // the exchanger's tick: Bob's turn, pushed at once
	r = next()
	fmt.Println(r.State, r.ClaimURL)
	conn.Close(websocket.StatusNormalClosure, "") // and go to the claim URL
	// Output:
	// waiting at position 1
	// admitted /.waitroom/claim?return=%2Fcheckout%2Fseat%3Frow%3D7&zone=checkout
}
