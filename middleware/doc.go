// Package middleware puts a waitroom.Room in front of an http.Handler: it
// lets visitors with a valid access token through and queues everyone else
// on a waiting page (or JSON) that follows their place in line live. It
// also serves the endpoints that page uses: status, claim, release, and
// the websocket and event stream that push its updates.
//
// # The way of a request
//
// A request for a path of a zone goes through these steps (Handler.ServeHTTP):
//
//  1. The path is made canonical (waitroom.CanonicalPath: slashes merged,
//     dot segments resolved); the next handler gets that spelling. Bypass
//     rules (WithBypassPaths, WithBypassMethods, WithBypass) and requests
//     no zone protects (Room.MatchPath, else WithZoneFunc) pass on.
//  2. A valid access cookie for the zone ("wr_a_<zone>") passes to the next
//     handler, with the Access in the request context (AccessFrom). This is
//     checked locally: a cache hit or a signature check, never a store call.
//  3. Otherwise the visitor cookie ("wr_v_<zone>") names the visitor's place
//     in line; a missing, forged, expired or foreign one makes a newcomer.
//     A newcomer is first held to the entry limit and check, if set
//     (WithEntryLimit, WithEntryCheck: 429, 403 or a challenge, and no
//     place). The Room decides (Room.Visit): the visitor goes in (direct
//     entry, or its turn has come), or waits, or the zone is closed to it
//     (the sale has ended, an operator has closed it, or the line is full:
//     the closed page, WithClosedTemplate).
//  4. A waiting visitor gets the waiting page with status 429 and
//     Retry-After, or JSON when it accepts application/json. Its repeat
//     requests and the page's polls are answered from the edge cache (see
//     below) without a store call.
//
// When the store fails, the Room's FailPolicy applies: FailClosed answers
// 503 with the waiting page (access tokens already issued keep working,
// since step 2 needs no store), FailOpen passes to the next handler. Error
// texts are logged, never sent.
//
// The next handler ends a visit early by setting the release header
// (WithReleaseHeader) on its response, or by calling Room.Release with the
// visitor of AccessFrom.
//
// # Endpoints
//
// Reserved endpoints, under the prefix (WithPrefix, default "/.waitroom"):
//
//	GET  {prefix}/status?zone=Z&return=U the visitor's standing, as JSON (never claims)
//	GET  {prefix}/claim?zone=Z&return=U  claims an admitted visitor's slot, sets the access cookie, 303 to U
//	POST {prefix}/release?zone=Z         gives up the slot or the place in line, clears the cookies, 204
//	GET  {prefix}/ws?zone=Z&return=U     websocket: pushes the visitor's standing (WithWebSocket)
//	GET  {prefix}/events?zone=Z&return=U server-sent events: the same messages (WithServerSentEvents)
//	GET  {prefix}/wait?zone=Z&return=U   the shell page, the same for every visitor of a zone (WithShellPage)
//
// JSON bodies (waiting page, status endpoint, push messages) have the
// fields state ("waiting", "admitted", "inside", "closed", "unavailable" or
// "none"), zone, position (ahead+1 while waiting), ahead, eta_seconds,
// eta_low_seconds, eta_high_seconds, opens_at (RFC 3339, omitted when open),
// retry_after_seconds, for the page's script progress (0-100), eta_text and
// eta_range_text (the wait in words: "about 4 minutes", "between 2 and 9
// minutes"; "up to 5 minutes" when the estimate is no better than the
// slowest the line can go), and when the state is "admitted" or "inside",
// claim_url: the claim endpoint for the zone and the return URL. The
// return URL is the protected URL the visitor asked for (path and query),
// or at a reserved endpoint its return parameter where that is a path on
// this site outside the prefix, else "/". The waiting page's JSON also has
// status_url, the status endpoint for the zone and that return URL: a
// client that polls it and follows the claim_url it reports comes back to
// the URL it asked for.
//
// Status codes: waiting 429 (WithStatus); sale ended 410 Gone; store
// failure 503 with Retry-After. The status endpoint answers 200 for every
// standing, 400 for a missing or unknown zone, and 404 (state "none") when
// the request holds no valid place in the zone's line. The claim endpoint
// answers 400 unless return is a path on this site ("/...", not "//..."),
// else 303 to it whatever the outcome (the page there shows the standing);
// clients asking for JSON get 409 while still waiting, 410 when the sale
// has ended and 404 without a place instead.
//
// A push handshake is refused with a JSON error and these codes: 400 for a
// missing, malformed or unknown zone; 401 without a valid visitor token for
// the zone (missing, forged, expired, another zone's: load the protected
// page first); 403 for an Origin the Handler does not allow (same host by
// default, see WithOrigins and WithOriginCheck); 429 past the connections
// per client address, 503 past the connections in all, after Close, or
// when the store fails, both with Retry-After (WithMaxConnectionsPerIP,
// WithMaxConnections); 404 when the endpoint is turned off; 426 for a
// request to {prefix}/ws that is not a websocket handshake. A refused page
// falls back to the next channel.
//
// # Live updates
//
// The waiting page follows the line over the best channel that works: a
// websocket, else server-sent events, else polling the status endpoint
// every retry_after_seconds, else (no JavaScript) a <meta> refresh of the
// protected URL. A push connection sends one text message (websocket) or
// one "data:" event (event stream) with the report above when it opens and
// whenever the report changes. The visitor's own turn is pushed at once as
// a report with state "admitted" and claim_url; the page closes the
// connection and goes to claim_url, which sets the access cookie and
// returns the visitor to the URL it first asked for. A report with state
// "closed" (the sale has ended) is final too. After a final report the
// server closes a connection the client has not closed within 5 seconds
// (websocket status 1000, end of stream).
//
// Cost. An open connection is the visitor's heartbeat: it calls
// Room.Heartbeat, one store write, every quarter of the zone's
// AbandonAfter, so its place is kept; a visitor whose connection dropped
// is skipped AbandonAfter after its last heartbeat. Between heartbeats a
// connection costs no store work: the store numbers each place and only
// the exchanger moves the head of the line, each move an event of the
// Room's change feed with its queue number, so a visitor's position is
// derived from the feed (never below the truth, whatever the order in
// which a store read and the events arrive), and admissions made by any
// instance count. A connection reads the store (Room.Status) when it
// opens, unless the edge cache read the visitor's place moments before,
// and again only after lost events, a change of the zone's settings, a
// failed call or the end of its place.
//
// Failures. A heartbeat that fails is tried again 5 seconds later. The
// page is told the store is unavailable only once the place has gone
// unheard for half the abandonment timeout: a store slowed for seconds by
// a crowd's arrival costs the pages nothing they can see, and an outage
// shows within AbandonAfter/2. After lost events the connections' store
// reads are spread over 5 seconds rather than made all at once.
//
// Coalescing. The feed's events only mark a zone's line as moved; the
// connections of a zone are woken at most once per WithPushInterval,
// however many events came (a tick that lets 1000 visitors in makes one
// update), and each sends a message only if its report changed. A
// visitor's own admission wakes its connections at once.
//
// Pacing. A page far back in a long line does not need four messages a
// second: after a position update a connection sleeps through the line's
// moves for a quarter of the visitor's shortest wait (eta_low_seconds),
// from the push interval to 15 seconds, and hears of them once that is
// over. A visitor a minute from its turn hears of the line every 15
// seconds, one a second away every push interval, and the turn itself is
// never paced: 100,000 open pages cost tens of thousands of messages a
// second rather than 400,000.
//
// Presence. A websocket is pinged every 20 seconds (at most every
// AbandonAfter/2) and closed if no pong comes within 10; an event stream
// ends after 30 seconds (at most AbandonAfter/2) and the browser opens it
// again, so a client that vanished without closing stops counting as
// present. Both are counted on the Room's clock, like the heartbeats.
//
// Handler.Close closes every push connection (websocket status 1001, end
// of stream) and waits for their goroutines; so does closing the Room
// (within a quarter second) and shutting down the http.Server that serves
// them (http.Server.Shutdown: the Handler registers itself with
// RegisterOnShutdown when it first serves a push connection).
//
// # The edge cache
//
// Each Handler (or every Handler of one New) keeps a local cache so that
// the crowd's repeat requests do not reach the store: verified access and
// visitor tokens (no second signature check), the ids of access tokens
// released or expired, each waiting visitor's standing (for
// WithPositionTTL, at most a quarter of the zone's AbandonAfter, so the
// visitor's own requests keep its place alive), a zone's "full" and
// "somebody waits" marks (for WithFullTTL: newcomers then go straight to
// the back of the line, one store operation fewer) and the rendered
// waiting pages (keyed by all they show). Its size is WithCacheSize.
//
// The Room's change feed keeps it true: a visitor's admission, release,
// expiry or abandonment drops its standing at once, a freed slot clears
// the zone's "full" mark, and a zone's new settings or lost events drop
// every standing and mark. A value read from the store while such an
// event arrived is not served from the cache. A closed Handler no longer
// hears the feed and stops using the cache; it keeps answering requests.
package middleware
