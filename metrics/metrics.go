// Package metrics exposes a waitroom.Room to Prometheus: the figures of
// each zone, the change feed's events, the store's calls and their
// latency, and what the middleware sees (edge-cache lookups, open push
// connections, fail-policy activations). The root package and the stores
// import no Prometheus: they tell an Observer, and this package is one.
//
//	m := metrics.New()
//	room, _ := waitroom.New(store, waitroom.WithObserver(m), waitroom.WithZone(...))
//	m.Watch(room)
//	h := middleware.Wrap(room, app, middleware.WithObserver(m))
//	adminMux.Handle("GET /metrics", m.Handler())
//
// Metrics, all with the waitroom_ prefix:
//
//	waitroom_visitors_waiting{zone}               gauge    places in line
//	waitroom_visitors_inside{zone}                gauge    slots held (admitted and inside)
//	waitroom_zone_capacity{zone}                  gauge    the zone's Capacity
//	waitroom_admissions_per_second{zone}          gauge    measured over the last 30s
//	waitroom_wait_estimate_seconds{zone}          gauge    the expected wait of a newcomer
//	waitroom_zone_paused{zone}                    gauge    1 while an operator has paused admission
//	waitroom_events_total{zone,kind}              counter  change-feed events: admitted, entered, claimed, released, expired, abandoned, zone
//	waitroom_store_operation_duration_seconds{op} histogram the Room's store calls, by Store method
//	waitroom_store_errors_total{op}               counter  store calls that failed (ErrStoreUnavailable)
//	waitroom_edge_cache_lookups_total{result}     counter  the middleware's cache: hit or miss
//	waitroom_push_connections{channel}            gauge    open push connections: websocket or sse
//	waitroom_fail_policy_total{zone,policy}       counter  requests served by the fail policy
//	waitroom_entry_refusals_total{zone,reason}    counter  newcomers given no place: limit, deny, throttle, challenge, check_error
//
// The zone gauges are read from the store when Prometheus scrapes (one
// Stats call per zone). Label cardinality stays bounded when zones are
// made on the fly (waitroom.WithZoneTemplate): the first WithMaxZones
// zones (default 100) get a label of their own, later ones share
// zone="other" in the counters, and the gauges cover only the labelled
// zones.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waitroom/waitroom"
)

// DefaultMaxZones is the number of zones labelled by name.
const DefaultMaxZones = 100

// otherZone labels the zones past the limit.
const otherZone = "other"

// An Option configures Metrics.
type Option func(*Metrics)

// WithMaxZones sets how many zones get a label of their own (default
// DefaultMaxZones).
func WithMaxZones(n int) Option {
	return func(m *Metrics) {
		if n > 0 {
			m.maxZones = n
		}
	}
}

// WithRegistry registers the metrics with r instead of a registry of
// their own; Handler then serves r's metrics only if r is a Gatherer.
func WithRegistry(r *prometheus.Registry) Option { return func(m *Metrics) { m.reg = r } }

// Metrics is a waitroom.Observer and a middleware observer that keeps
// Prometheus metrics. It is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	maxZones int

	mu     sync.Mutex
	zones  map[string]bool // the labelled zones
	rooms  []*waitroom.Room
	events *prometheus.CounterVec

	storeTime   *prometheus.HistogramVec
	storeErrors *prometheus.CounterVec
	cache       *prometheus.CounterVec
	hit, miss   prometheus.Counter // cache's two series, bound once: the access path pays an atomic add
	conns       *prometheus.GaugeVec
	fail        *prometheus.CounterVec
	refused     *prometheus.CounterVec
}

// New returns Metrics registered with a registry of their own (see
// Handler), or the one of WithRegistry.
func New(opts ...Option) *Metrics {
	m := &Metrics{maxZones: DefaultMaxZones, zones: make(map[string]bool)}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	if m.reg == nil {
		m.reg = prometheus.NewRegistry()
	}
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_events_total", Help: "Events of the zones' change feeds, by kind.",
	}, []string{"zone", "kind"})
	m.storeTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "waitroom_store_operation_duration_seconds", Help: "Time of the Room's store calls, by Store method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_store_errors_total", Help: "Store calls that failed: the store was unavailable.",
	}, []string{"op"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_edge_cache_lookups_total", Help: "Lookups in the middleware's edge cache, by result.",
	}, []string{"result"})
	m.conns = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "waitroom_push_connections", Help: "Open push connections of the waiting pages, by channel.",
	}, []string{"channel"})
	m.fail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_fail_policy_total", Help: "Requests served by the fail policy while the store was unavailable.",
	}, []string{"zone", "policy"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "waitroom_entry_refusals_total", Help: "Newcomers given no place by the entry protection, by reason.",
	}, []string{"zone", "reason"})
	m.hit, m.miss = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("miss")
	m.reg.MustRegister(m.events, m.storeTime, m.storeErrors, m.cache, m.conns, m.fail, m.refused, zoneCollector{m})
	return m
}

// Watch adds room's zones to the zone gauges, read at each scrape.
func (m *Metrics) Watch(room *waitroom.Room) {
	m.mu.Lock()
	m.rooms = append(m.rooms, room)
	m.mu.Unlock()
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// StoreCall records one store call (waitroom.Observer).
func (m *Metrics) StoreCall(op string, took time.Duration, err error) {
	m.storeTime.WithLabelValues(op).Observe(took.Seconds())
	if errors.Is(err, waitroom.ErrStoreUnavailable) {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// Event counts one event of a change feed (waitroom.Observer).
func (m *Metrics) Event(ev waitroom.Event) {
	if ev.Kind == waitroom.EventResync {
		return
	}
	m.events.WithLabelValues(m.label(ev.Zone), ev.Kind.String()).Inc()
}

// CacheLookup counts one lookup in the middleware's edge cache.
func (m *Metrics) CacheLookup(hit bool) {
	if hit {
		m.hit.Inc()
	} else {
		m.miss.Inc()
	}
}

// PushConnections records that the open connections of channel
// ("websocket" or "sse") changed by delta.
func (m *Metrics) PushConnections(channel string, delta int) {
	m.conns.WithLabelValues(channel).Add(float64(delta))
}

// FailPolicy counts one request of zone served by the fail policy p.
func (m *Metrics) FailPolicy(zone string, p waitroom.FailPolicy) {
	m.fail.WithLabelValues(m.label(zone), p.String()).Inc()
}

// EntryRefused counts one newcomer given no place by the middleware's
// entry protection.
func (m *Metrics) EntryRefused(zone, reason string) {
	m.refused.WithLabelValues(m.label(zone), reason).Inc()
}

// label is zone's label value: its name while fewer than maxZones are
// labelled, else "other".
func (m *Metrics) label(zone string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.zones[zone] {
		return zone
	}
	if len(m.zones) < m.maxZones {
		m.zones[zone] = true
		return zone
	}
	return otherZone
}

// zoneCollector reads the zone gauges from the watched Rooms at a scrape.
type zoneCollector struct{ m *Metrics }

var (
	descWaiting  = prometheus.NewDesc("waitroom_visitors_waiting", "Places in the zone's line.", []string{"zone"}, nil)
	descInside   = prometheus.NewDesc("waitroom_visitors_inside", "Slots of the zone held: visitors admitted or inside.", []string{"zone"}, nil)
	descCapacity = prometheus.NewDesc("waitroom_zone_capacity", "The zone's capacity: visitors inside at once.", []string{"zone"}, nil)
	descRate     = prometheus.NewDesc("waitroom_admissions_per_second", "Admissions per second, measured over the last 30 seconds.", []string{"zone"}, nil)
	descWait     = prometheus.NewDesc("waitroom_wait_estimate_seconds", "The expected wait of a visitor joining the back of the line now.", []string{"zone"}, nil)
	descPaused   = prometheus.NewDesc("waitroom_zone_paused", "1 while an operator has paused admission to the zone.", []string{"zone"}, nil)
)

func (c zoneCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWaiting, descInside, descCapacity, descRate, descWait, descPaused} {
		ch <- d
	}
}

// Collect reads each labelled zone's Stats, within 5 seconds in all. A
// zone whose store cannot be read is left out of this scrape (the store
// errors say why).
func (c zoneCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	rooms := append([]*waitroom.Room(nil), c.m.rooms...)
	c.m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	seen := make(map[string]bool)
	for _, room := range rooms {
		for _, zone := range room.Zones() {
			if seen[zone] || c.m.label(zone) == otherZone {
				continue
			}
			seen[zone] = true
			st, err := room.Stats(ctx, zone)
			if err != nil {
				continue
			}
			paused := 0.0
			if st.Paused {
				paused = 1
			}
			for _, v := range []struct {
				d *prometheus.Desc
				v float64
			}{
				{descWaiting, float64(st.Waiting)}, {descInside, float64(st.Inside)}, {descCapacity, float64(st.Capacity)},
				{descRate, st.AdmitRate}, {descWait, st.ETA.Expected.Seconds()}, {descPaused, paused},
			} {
				ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, v.v, zone)
			}
		}
	}
}
