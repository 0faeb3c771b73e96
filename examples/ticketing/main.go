// Command ticketing is a small ticket shop that uses the waiting room
// directly as middleware: a list of events, one zone per event (seat
// selection and checkout of /events/{id}/…), and a checkout that releases
// the visitor's slot to the next in line.
//
//	go run ./examples/ticketing -addr 127.0.0.1:8081
package main

import (
	"context"
	"flag"
	"html/template"
	"log"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/middleware"
	"github.com/waitroom/waitroom/store/memstore"
)

type event struct {
	ID, Name, Venue string
	Seats           []string
}

var events = []event{
	{"1", "The Gophers — reunion tour", "Arena 1", []string{"A1", "A2", "A3", "B1", "B2", "B3"}},
	{"2", "Concurrency is not parallelism (live)", "Hall 2", []string{"1", "2", "3", "4"}},
	{"3", "Garbage Collector & the Pauses", "Club 3", []string{"front", "middle", "back"}},
}

func findEvent(id string) (event, bool) {
	for _, e := range events {
		if e.ID == id {
			return e, true
		}
	}
	return event{}, false
}

// eventZone maps /events/{id}/seats and /events/{id}/checkout to the zone
// "event-{id}", for events that exist.
func eventZone(r *http.Request) (string, bool) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/events/")
	if !ok {
		return "", false
	}
	id, page, _ := strings.Cut(rest, "/")
	if _, known := findEvent(id); !known || (page != "seats" && page != "checkout") {
		return "", false
	}
	return "event-" + id, true
}

// shop holds the sold seats.
type shop struct {
	mu   sync.Mutex
	sold map[string]bool // "eventID/seat"
	room *waitroom.Room
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	capacity := flag.Int("capacity", 2, "visitors picking seats at once, per event")
	flag.Parse()

	room, err := waitroom.New(memstore.New(), waitroom.WithZoneTemplate(waitroom.Zone{
		Capacity: *capacity, AdmitPerSecond: 1, Session: 2 * time.Minute,
	}))
	if err != nil {
		log.Fatal(err)
	}
	defer room.Close()
	h := newShop(room).handler()
	slog.Info("ticket shop", "open", "http://"+*addr+"/")
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func newShop(room *waitroom.Room) *shop { return &shop{sold: map[string]bool{}, room: room} }

// handler returns the shop's routes behind the waiting room.
func (s *shop) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.list)
	mux.HandleFunc("GET /events/{id}/seats", s.seats)
	mux.HandleFunc("POST /events/{id}/checkout", s.checkout)
	return middleware.New(s.room, middleware.WithZoneFunc(eventZone))(mux)
}

func (s *shop) list(w http.ResponseWriter, r *http.Request) {
	render(w, listPage, events)
}

func (s *shop) seats(w http.ResponseWriter, r *http.Request) {
	e, ok := findEvent(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	var free []string
	for _, seat := range e.Seats {
		if !s.sold[e.ID+"/"+seat] {
			free = append(free, seat)
		}
	}
	s.mu.Unlock()
	render(w, seatsPage, map[string]any{"Event": e, "Free": free})
}

func (s *shop) checkout(w http.ResponseWriter, r *http.Request) {
	e, ok := findEvent(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	seat := r.PostFormValue("seat")
	s.mu.Lock()
	valid := false
	for _, x := range e.Seats {
		valid = valid || x == seat
	}
	taken := s.sold[e.ID+"/"+seat]
	if valid && !taken {
		s.sold[e.ID+"/"+seat] = true
	}
	s.mu.Unlock()
	if !valid || taken {
		w.WriteHeader(http.StatusConflict)
		render(w, messagePage, "That seat is no longer available. Go back and pick another.")
		return
	}
	// The order is placed: give this visitor's place to the next in line.
	if a, ok := middleware.AccessFrom(r.Context()); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.room.Release(ctx, a.Zone, a.Visitor); err != nil {
			slog.Warn("release failed; the slot will leak at the session's end", "err", err)
		}
	}
	render(w, messagePage, "Seat "+seat+" for "+e.Name+" is yours. Enjoy the show!")
}

func render(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		slog.Warn("render", "err", err)
	}
}

const head = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Ticket shop</title><style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
button{padding:.5rem 1rem;font-size:1rem}</style></head><body>`

var (
	listPage = template.Must(template.New("list").Parse(head + `<h1>Upcoming events</h1><ul>
{{range .}}<li><strong>{{.Name}}</strong>, {{.Venue}} — <a href="/events/{{.ID}}/seats">pick a seat</a></li>{{end}}
</ul></body></html>`))
	seatsPage = template.Must(template.New("seats").Parse(head + `<h1>{{.Event.Name}}</h1>
{{if .Free}}<form method="post" action="/events/{{.Event.ID}}/checkout"><fieldset><legend>Pick your seat</legend>
{{range .Free}}<label><input type="radio" name="seat" value="{{.}}" required> {{.}}</label><br>{{end}}
</fieldset><p><button>Buy</button></p></form>{{else}}<p>Sold out.</p>{{end}}</body></html>`))
	messagePage = template.Must(template.New("msg").Parse(head + `<p>{{.}}</p><p><a href="/">All events</a></p></body></html>`))
)
