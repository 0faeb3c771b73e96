// Package waitroom puts a virtual waiting room in front of any Go server. It
// lets only as many visitors into a protected zone (a checkout, a seat
// selection) as the zone can hold, queues everyone else first come first
// served, and lets them in, in order, as room frees up.
//
// # The tour
//
// A [Room] holds zones. A [Zone] names the paths it protects and its
// Capacity: the size of its leaky bucket of access slots, one per visitor
// inside. A visitor who finds room, with nobody waiting, enters directly and
// gets an access token (a signed JWT, checked locally on every request, no
// store call). Everyone else gets a visitor token (its place in line) and a
// waiting page. Each zone's exchanger runs every tick on every instance and
// lets the next visitors in: in queue order, only into free slots, at most
// AdmitPerSecond. An admitted visitor claims its slot when it comes back
// (ClaimWindow), and the slot leaks when its Session ends or is released
// early ([Room.Release], or the Waitroom-Release response header). A waiting
// visitor keeps its place by being seen: each request of its page
// ([Room.Status]) or, while the page holds a push connection open, a
// heartbeat ([Room.Heartbeat], one store write); one not seen for
// AbandonAfter is skipped.
//
// The shared state lives in a [Store]: store/memstore in process (the
// default, and what tests use), store/redisstore for many instances on Redis
// or Redis Cluster, store/dynamostore on DynamoDB. Each Store operation is
// atomic; the algorithm lives in this package. Every change is written with
// an event in the same atomic step, and every Room reads that change feed in
// order and hands it to its subscribers ([Room.Subscribe]): it is how an
// instance learns that a slot freed elsewhere, and how the middleware's
// edge cache and the live waiting page stay current.
//
// A crowd arriving at once is many small store calls at once. Over a store
// that implements [BatchStore] (all three do), a Room gathers
// the calls its visitors make at the same time (registrations, reads,
// heartbeats, direct entries) into batches, up to 256 calls in one round
// trip and one batch of a zone in flight: a quiet zone's call goes at
// once, alone, and the busier the store, the larger the batches. A
// newcomer's direct entry, or else its place in line, is then one call.
// Claims and releases go on their own: a slot is held while they wait.
// The memory store makes a batch under one hold of its lock, at about the
// cost of single calls; Redis in one script; DynamoDB writes a run of
// registrations as one transaction.
//
// Package store/storekit holds what every store shares (the contract's
// errors, slot ids, the admission-rate credit, the wait of a blocking
// feed read), so that a new store is mostly its queries; store/storetest
// is the suite it must pass.
//
// Package middleware wraps an http.Handler (your app, or an
// httputil.ReverseProxy) with the waiting room: zone matching, cookies, the
// waiting page and its JSON twin, the edge cache of "zone full" decisions
// and verified tokens. It uses only the Room's exported methods
// ([Room.Visit], [Room.Claim], [Room.VerifyAccess] and the like), so an
// app that serves its own waiting page can do what it does.
//
// # A live sale
//
// A zone's Mode says how visitors get in: [ModeFIFO], the line;
// [ModePassthrough], straight in; [ModeReject], nobody new (the closed
// page); [ModeRandomAtOpen], a line drawn at random at the opening, once,
// auditably ([Draw]). Zone.MaxWaiting caps the line. Operators steer a running sale
// from any instance: [Room.ChangeZone] (capacity, rate, durations, the
// sale window, the mode), [Room.Pause] and [Room.Resume], [Room.CloseNow],
// [Room.LetIn] (one visitor ahead of the line) and [Room.Release] (revoke).
// Each change is one stored write that the change feed carries to every
// instance. Package admin serves these as a JSON API and a live dashboard;
// package metrics feeds Prometheus from an [Observer] ([WithObserver]).
//
// # Guarantees
//
//   - Safety: slots held in a zone never exceed its Capacity, on any number
//     of instances; nobody reaches a protected path without a valid access
//     token for that zone.
//   - Fairness: visitors are let in in the order the store gave them places,
//     but for one an operator lets in ahead ([Room.LetIn]).
//   - No loss: a place survives an instance restart (the store holds it); the
//     same visitor never holds two places.
//   - Smoothing: admissions never exceed AdmitPerSecond (with bursts of a
//     quarter second's worth).
//   - Liveness: a freed slot is reused within one tick; a visitor gone longer
//     than AbandonAfter is skipped.
//   - Store outage: a [FailPolicy]; by default the origin stays protected and
//     access tokens already issued keep working.
//
// # Time
//
// Every decision takes the Room's clock ([WithClock]); with [WithManualStep]
// the Room starts no goroutine and admits only when the caller runs
// [Room.Step]. Together they let an app's tests say "fill the zone, advance
// 30 s, expect visitor 3 inside" without sleeping (see package waitroomtest).
package waitroom
