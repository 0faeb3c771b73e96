// Package admin is the operator's side of a waitroom.Room: a JSON API to
// watch and steer a live sale, and a dashboard that shows it. Mount the
// Handler where operators reach it and visitors do not (another address,
// or a path behind your own access control); never on a protected path.
//
// Every request must authenticate: with a bearer token (WithToken,
// compared in constant time) or a check of your own (WithAuth, for mTLS or
// single sign-on). New refuses to build a Handler without one. Every change
// is logged (log/slog, at Info) with who made it and what changed.
//
// The API, with the token in $TOKEN and the Handler on 127.0.0.1:8081:
//
//	# every zone, with its settings and live figures
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/zones
//	# one zone
//	curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/zones/checkout
//	# raise capacity and the admission rate
//	curl -X PATCH -H "Authorization: Bearer $TOKEN" \
//	     -d '{"capacity": 500, "admit_per_second": 50}' http://127.0.0.1:8081/api/zones/checkout
//	# stop letting anyone in, and go on
//	curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/zones/checkout/pause
//	curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/zones/checkout/resume
//	# end the sale now
//	curl -X POST -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8081/api/zones/checkout/close
//	# take one visitor's slot and access away
//	curl -X POST -H "Authorization: Bearer $TOKEN" \
//	     -d '{"visitor": "3q2-7f0xQeKVYxkq8bG2Ag"}' http://127.0.0.1:8081/api/zones/checkout/revoke
//	# the head of the line: visitor id, place, waiting since
//	curl -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:8081/api/zones/checkout/head?n=20'
//	# let one visitor in ahead of the line (a free slot, whatever the rate)
//	curl -X POST -H "Authorization: Bearer $TOKEN" \
//	     -d '{"visitor": "3q2-7f0xQeKVYxkq8bG2Ag"}' http://127.0.0.1:8081/api/zones/checkout/admit
//
// PATCH takes any of the zone's settings: capacity, admit_per_second,
// session, claim_window, abandon_after and data_ttl (durations as Go
// writes them: "90s", "10m"), opens_at and closes_at (RFC 3339, "" for
// none), mode ("fifo", "passthrough", "reject", "random") and max_waiting. A change
// is stored and every instance applies it from the change feed; lowering
// capacity evicts nobody. Settings no Room would take (capacity 0, a rate
// over 1e9 per second, a sale that closes before it opens) are refused
// with 400 and the reason; an unknown zone is 404; a body over 64 KiB is
// 413; unknown fields are 400.
//
// The dashboard is the page at "/": it asks for the token, keeps it in an
// HttpOnly cookie, and follows GET /api/stream, a server-sent event of
// every zone's report each second, with charts and buttons for pause,
// resume, capacity and rate. It loads nothing from elsewhere.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/waitroom/waitroom"
)

// maxBody caps a request body.
const maxBody = 64 << 10

// An Option configures a Handler.
type Option func(*config)

type config struct {
	token  string
	auth   func(*http.Request) bool
	logger *slog.Logger
}

// WithToken lets in requests that carry "Authorization: Bearer <token>".
// The token must be at least 16 bytes.
func WithToken(token string) Option { return func(c *config) { c.token = token } }

// WithAuth lets in the requests for which allow returns true (a client
// certificate, a single sign-on session). With WithToken too, a request
// passes if either lets it in.
func WithAuth(allow func(*http.Request) bool) Option { return func(c *config) { c.auth = allow } }

// WithLogger sets the logger of the audit records. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Handler serves the admin API and the dashboard of one Room.
type Handler struct {
	room *waitroom.Room
	cfg  config
	mux  *http.ServeMux
}

// New returns the Handler of room. It fails without authentication
// (WithToken or WithAuth).
func New(room *waitroom.Room, opts ...Option) (*Handler, error) {
	if room == nil {
		return nil, errors.New("waitroom: admin: room is nil")
	}
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.token == "" && c.auth == nil {
		return nil, errors.New("waitroom: admin: no authentication: give WithToken or WithAuth")
	}
	if c.token != "" && len(c.token) < 16 {
		return nil, fmt.Errorf("waitroom: admin: the token must be at least 16 bytes, got %d", len(c.token))
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	h := &Handler{room: room, cfg: c, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/zones", h.list)
	h.mux.HandleFunc("GET /api/zones/{zone}", h.get)
	h.mux.HandleFunc("PATCH /api/zones/{zone}", h.patch)
	h.mux.HandleFunc("POST /api/zones/{zone}/pause", h.action("pause", room.Pause))
	h.mux.HandleFunc("POST /api/zones/{zone}/resume", h.action("resume", room.Resume))
	h.mux.HandleFunc("POST /api/zones/{zone}/close", h.action("close", room.CloseNow))
	h.mux.HandleFunc("POST /api/zones/{zone}/revoke", h.revoke)
	h.mux.HandleFunc("POST /api/zones/{zone}/admit", h.admit)
	h.mux.HandleFunc("GET /api/zones/{zone}/head", h.head)
	h.mux.HandleFunc("GET /api/stream", h.stream)
	h.mux.HandleFunc("GET /{$}", h.dashboard)
	h.mux.HandleFunc("POST /login", h.login)
	return h, nil
}

// ServeHTTP authenticates the request and serves it. The dashboard's page
// and its login form are the only things served without authentication:
// the page holds no data.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	open := (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Path == "/" ||
		r.Method == http.MethodPost && r.URL.Path == "/login"
	if !open && !h.allowed(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="waitroom"`)
		writeError(w, http.StatusUnauthorized, "authentication required")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

// allowed reports whether r authenticates.
func (h *Handler) allowed(r *http.Request) bool {
	if h.cfg.auth != nil && h.cfg.auth(r) {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// The dashboard's event stream cannot set headers: it sends the
		// token as a cookie (set by the dashboard's login form).
		c, err := r.Cookie(tokenCookie)
		if err != nil {
			return false
		}
		got = c.Value
	}
	return h.tokenMatches(got)
}

// tokenMatches compares got with the token in constant time.
func (h *Handler) tokenMatches(got string) bool {
	return h.cfg.token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.cfg.token)) == 1
}

// tokenCookie carries the token of a dashboard's session.
const tokenCookie = "waitroom_admin"

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	zones, err := h.zones(r.Context())
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"zones": zones})
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	z, err := h.zone(r.Context(), r.PathValue("zone"))
	if err != nil {
		h.zoneError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, z)
}

// zones reports every zone the Room knows, sorted by name.
func (h *Handler) zones(ctx context.Context) ([]zoneReport, error) {
	names := h.room.Zones()
	out := make([]zoneReport, 0, len(names))
	for _, name := range names {
		z, err := h.zone(ctx, name)
		if errors.Is(err, waitroom.ErrZoneNotFound) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, z)
	}
	return out, nil
}

// zone reports one zone: its settings and its live figures.
func (h *Handler) zone(ctx context.Context, name string) (zoneReport, error) {
	z, ok := h.room.Zone(name)
	if !ok {
		return zoneReport{}, fmt.Errorf("%w: %q", waitroom.ErrZoneNotFound, name)
	}
	st, err := h.room.Stats(ctx, name)
	if err != nil {
		return zoneReport{}, err
	}
	return reportOf(z, st), nil
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	zone := r.PathValue("zone")
	var p zonePatch
	if !readJSON(w, r, &p) {
		return
	}
	edit, err := p.edit()
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	before, after, err := h.room.ChangeZone(r.Context(), zone, edit)
	if err != nil {
		h.zoneError(w, r, err)
		return
	}
	h.audit(r, "change", zone, "before", reportOf(before, waitroom.Stats{}).settings(), "after", reportOf(after, waitroom.Stats{}).settings())
	h.get(w, r)
}

// action serves one of the zone's buttons: pause, resume, close.
func (h *Handler) action(name string, do func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		zone := r.PathValue("zone")
		if err := do(r.Context(), zone); err != nil {
			h.zoneError(w, r, err)
			return
		}
		h.audit(r, name, zone)
		h.get(w, r)
	}
}

// readVisitor reads the body {"visitor": id} of a request about one
// visitor of a known zone, or answers 400 or 404.
func (h *Handler) readVisitor(w http.ResponseWriter, r *http.Request, zone string) (string, bool) {
	var body struct {
		Visitor string `json:"visitor"`
	}
	if !readJSON(w, r, &body) {
		return "", false
	}
	if body.Visitor == "" || len(body.Visitor) > 128 {
		writeError(w, http.StatusBadRequest, "visitor must be a visitor id of 1-128 bytes")
		return "", false
	}
	if _, ok := h.room.Zone(zone); !ok {
		writeError(w, http.StatusNotFound, "no such zone")
		return "", false
	}
	return body.Visitor, true
}

// admit lets one waiting visitor in ahead of the line.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request) {
	zone := r.PathValue("zone")
	visitor, ok := h.readVisitor(w, r, zone)
	if !ok {
		return
	}
	slot, err := h.room.LetIn(r.Context(), zone, visitor)
	switch {
	case errors.Is(err, waitroom.ErrNotQueued):
		writeError(w, http.StatusConflict, "the visitor is not waiting in this zone's line")
		return
	case errors.Is(err, waitroom.ErrZoneFull):
		writeError(w, http.StatusConflict, "no slot is free: the zone holds its capacity")
		return
	case err != nil:
		h.zoneError(w, r, err)
		return
	}
	h.audit(r, "admit", zone, "visitor", visitor)
	writeJSON(w, http.StatusOK, map[string]any{"zone": zone, "visitor": visitor, "claim_by": instant(slot.Until)})
}

// head shows the first places in line: ?n= of them (default 20, at most
// waitroom.MaxHead).
func (h *Handler) head(w http.ResponseWriter, r *http.Request) {
	zone := r.PathValue("zone")
	n := 20
	if q := r.URL.Query().Get("n"); q != "" {
		v, err := strconv.Atoi(q)
		if err != nil || v < 1 || v > waitroom.MaxHead {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("n must be a number from 1 to %d", waitroom.MaxHead))
			return
		}
		n = v
	}
	places, err := h.room.Head(r.Context(), zone, n)
	if err != nil {
		h.zoneError(w, r, err)
		return
	}
	type entry struct {
		Visitor      string `json:"visitor"`
		Place        int64  `json:"place"` // 1 for next
		WaitingSince string `json:"waiting_since"`
		LastSeen     string `json:"last_seen"`
	}
	out := make([]entry, len(places))
	for i, p := range places {
		out[i] = entry{Visitor: p.Visitor, Place: p.Ahead + 1, WaitingSince: instant(p.Arrived), LastSeen: instant(p.LastSeen)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"zone": zone, "head": out})
}

func (h *Handler) revoke(w http.ResponseWriter, r *http.Request) {
	zone := r.PathValue("zone")
	visitor, ok := h.readVisitor(w, r, zone)
	if !ok {
		return
	}
	held, err := h.room.Release(r.Context(), zone, visitor)
	if err != nil {
		h.zoneError(w, r, err)
		return
	}
	h.audit(r, "revoke", zone, "visitor", visitor, "held", held)
	writeJSON(w, http.StatusOK, map[string]any{"zone": zone, "visitor": visitor, "released": held})
}

// audit logs a change an operator made.
func (h *Handler) audit(r *http.Request, action, zone string, args ...any) {
	args = append([]any{"action", action, "zone", zone, "by", r.RemoteAddr}, args...)
	h.cfg.logger.Info("waitroom: admin", args...)
}

// zoneError answers a failed read or change of a zone.
func (h *Handler) zoneError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, waitroom.ErrZoneNotFound):
		writeError(w, http.StatusNotFound, "no such zone")
	case errors.Is(err, waitroom.ErrInvalidZone):
		writeError(w, http.StatusBadRequest, err.Error()) // our own words: what was refused and why
	default:
		h.storeError(w, r, err)
	}
}

// storeError answers a failure of the store, logged in full and told in
// none of its detail.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.logger.Error("waitroom: admin: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	if errors.Is(err, context.Canceled) {
		return // the operator went away
	}
	writeError(w, http.StatusServiceUnavailable, "the store is unavailable; see the server's log")
}

// readJSON decodes the body into v, or answers 400 or 413.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", maxBody))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// jsonDuration is a duration as Go writes it ("1m30s").
type jsonDuration time.Duration

func (d jsonDuration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }
