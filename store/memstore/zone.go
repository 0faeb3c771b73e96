package memstore

import (
	"container/heap"
	"sync"
	"time"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/storekit"
)

// zone is the whole state of one zone, guarded by mu.
//
// Memory layout. A waiting visitor costs one entry in the queue (a string
// header and two int64: 32 bytes), one entry in waiting (string header and
// uint64) and its id's bytes, shared by both. Places leave only at the head
// (Exchange) or are marked gone where they stand (Release), so a visitor's
// distance from the head is mySeq - headSeq, O(1) at any queue length. The
// queue is a list of fixed-size chunks: appending never copies the line,
// and the memory of places that left is given back a chunk at a time.
type zone struct {
	mu    sync.Mutex
	dead  bool // expired and removed from the store; every op treats it as absent
	state waitroom.ZoneState

	// expiry: the zone's data expires DataTTL after max(lastWrite, ClosesAt).
	lastWrite int64

	// queue: the places with arrival numbers first.. in chunks of
	// chunkSize, in arrival order; nextSeq is the number the next
	// registration gets. The line's order is that of the queue numbers
	// (draw.Number of the arrival number; the arrival number itself
	// unless a draw renumbered it): head is the queue number of the first
	// place in line, every number below it has left, and chunks wholly
	// below every place still in line are dropped.
	chunks  []*chunk
	spare   *chunk // a dropped chunk kept for reuse: no allocation at steady state
	first   uint64
	head    uint64
	nextSeq uint64
	waiting map[string]uint64 // visitor -> arrival number, for places still in line
	draw    waitroom.Draw     // the order drawn at the opening (ModeRandomAtOpen)

	// bucket: one slot per admitted or inside visitor, including slots past
	// their deadline not yet found (they count as free).
	slots    map[string]*slot
	deadline slotHeap // the same slots, earliest deadline first

	// admission rate: credit accrues at AdmitPerSecond from creditAt (never
	// before OpensAt), capped at RateBurst; each admission costs 1.
	credit   float64
	creditAt int64

	admittedTotal uint64
	lastAdmit     int64

	feed feed
}

// place is one entry of the queue. visitor is "" once the place is gone
// (released, admitted or skipped).
type place struct {
	visitor  string
	arrived  int64 // unix nanoseconds
	lastSeen int64
}

// slot is one entry of the bucket.
type slot struct {
	visitor  string
	seq      uint64 // queue number, 0 for direct entry
	token    string
	until    int64
	arrived  int64
	lastSeen int64
	inside   bool // claimed (or entered directly); false while admitted
	index    int  // in the deadline heap
}

func (sl *slot) state() waitroom.VisitorState {
	if sl.inside {
		return waitroom.StateInside
	}
	return waitroom.StateAdmitted
}

func (sl *slot) public() waitroom.Slot {
	return waitroom.Slot{TokenID: sl.token, Until: unix(sl.until)}
}

func newZone(st waitroom.ZoneState, now int64, feedSize int) *zone {
	z := &zone{
		state:    st,
		first:    1,
		head:     1,
		nextSeq:  1,
		waiting:  make(map[string]uint64),
		slots:    make(map[string]*slot),
		credit:   st.RateBurst(),
		creditAt: now,
	}
	z.feed.max = feedSize
	return z
}

// expiredAt reports whether the zone's data has expired at now. A zone
// with no DataTTL never expires.
func (z *zone) expiredAt(now int64) bool {
	if z.state.DataTTL <= 0 {
		return false
	}
	end := z.lastWrite
	if !z.state.ClosesAt.IsZero() {
		end = max(end, z.state.ClosesAt.UnixNano())
	}
	return now >= end+int64(z.state.DataTTL)
}

// kill marks z removed and wakes its feed's readers, who look again.
func (z *zone) kill() {
	z.dead = true
	z.feed.wake()
}

// touch records a write at now.
func (z *zone) touch(now int64) {
	z.lastWrite = max(z.lastWrite, now)
}

// emit appends an event to the zone's feed and records the write.
func (z *zone) emit(ev waitroom.Event, now int64) {
	ev.Zone = z.state.Name
	ev.At = unix(now)
	z.feed.append(ev)
	z.touch(now)
}

// openAt reports whether the zone admits anyone at now.
func (z *zone) openAt(now int64) bool {
	return z.state.OpenAt(unix(now))
}

// --- queue ---

// chunkSize is the number of places in one chunk of the queue (32 KiB).
const chunkSize = 1024

type chunk [chunkSize]place

// headSeq returns the Seq of the first place in line, 0 if nobody waits.
func (z *zone) headSeq() uint64 {
	if len(z.waiting) == 0 {
		return 0
	}
	return z.head
}

// at returns the queue entry with arrival number seq; first <= seq <
// nextSeq.
func (z *zone) at(seq uint64) *place {
	off := seq - z.first
	return &z.chunks[off/chunkSize][off%chunkSize]
}

// number returns the queue number of the place that arrived seq-th.
func (z *zone) number(seq uint64) uint64 { return z.draw.Number(seq) }

// push appends a place for visitor and returns its Seq.
func (z *zone) push(visitor string, now int64) uint64 {
	seq := z.nextSeq
	if off := seq - z.first; off/chunkSize == uint64(len(z.chunks)) {
		c := z.spare
		z.spare = nil
		if c == nil {
			c = new(chunk)
		}
		z.chunks = append(z.chunks, c)
	}
	z.nextSeq++
	*z.at(seq) = place{visitor: visitor, arrived: now, lastSeen: now}
	z.waiting[visitor] = seq
	return seq
}

// leave removes the place with Seq seq from the line (it must be waiting)
// and moves the head past places that are gone.
func (z *zone) leave(seq uint64) {
	p := z.at(seq)
	delete(z.waiting, p.visitor)
	p.visitor = ""
	z.advance()
}

// advance moves the head past places that are gone and drops the chunks
// the line has left behind: while the head is in the drawn numbers, every
// drawn place may still be in line.
func (z *zone) advance() {
	for z.head < z.nextSeq && z.at(z.draw.Arrival(z.head)).visitor == "" {
		z.head++
	}
	low := z.head
	if d := z.draw; d.Count > 1 && low >= d.First && low-d.First < d.Count {
		low = d.First
	}
	for low-z.first >= chunkSize {
		c := z.chunks[0]
		*c = chunk{}
		z.spare = c
		z.chunks[0] = nil
		z.chunks = z.chunks[1:]
		z.first += chunkSize
	}
}

// drawDue draws the line's order at now if the zone must (see
// waitroom.Draw): the places from the head to the back of the line.
func (z *zone) drawDue(now int64, seed func() uint64) {
	if !storekit.DrawDue(z.state, z.draw.Drawn(), now, time.Nanosecond) {
		return
	}
	first := z.nextSeq
	if len(z.waiting) > 0 {
		first = z.head
	}
	z.draw = waitroom.Draw{First: first, Count: z.nextSeq - first, Seed: seed(), At: unix(now)}
	z.advance() // the first drawn number may be a place gone
	z.emit(waitroom.Event{Kind: waitroom.EventDrawn}, now)
}

// undrawn reports whether the zone is to draw its order and has not.
func (z *zone) undrawn() bool {
	return z.state.Mode == waitroom.ModeRandomAtOpen && !z.draw.Drawn()
}

// abandoned reports whether p has not been seen for longer than
// AbandonAfter at now.
func (z *zone) abandoned(p *place, now int64) bool {
	return p.lastSeen+int64(z.state.AbandonAfter) < now
}

// --- bucket ---

// live returns the visitor's slot if it holds one that has not passed its
// deadline at now.
func (z *zone) live(visitor string, now int64) *slot {
	sl := z.slots[visitor]
	if sl == nil || sl.until <= now {
		return nil
	}
	return sl
}

// addSlot puts a slot in the bucket.
func (z *zone) addSlot(sl *slot) {
	z.slots[sl.visitor] = sl
	heap.Push(&z.deadline, sl)
}

// dropSlot takes a slot out of the bucket.
func (z *zone) dropSlot(sl *slot) {
	delete(z.slots, sl.visitor)
	heap.Remove(&z.deadline, sl.index)
}

// expire removes sl, past its deadline, appending EventExpired.
func (z *zone) expire(sl *slot, now int64) {
	z.dropSlot(sl)
	z.emit(waitroom.Event{Kind: waitroom.EventExpired, Visitor: sl.visitor, QueueSeq: sl.seq, TokenID: sl.token}, now)
}

// leak removes every slot past its deadline at now, appending EventExpired
// for each, and returns how many leaked.
func (z *zone) leak(now int64) int {
	n := 0
	for len(z.deadline) > 0 && z.deadline[0].until <= now {
		z.expire(z.deadline[0], now)
		n++
	}
	return n
}

// held counts the slots that have not passed their deadline at now, without
// removing any: it visits only the expired part of the heap.
func (z *zone) held(now int64) int {
	expired := 0
	var walk func(i int)
	walk = func(i int) {
		if i >= len(z.deadline) || z.deadline[i].until > now {
			return
		}
		expired++
		walk(2*i + 1)
		walk(2*i + 2)
	}
	walk(0)
	return len(z.deadline) - expired
}

// --- admission rate ---

// accrue counts the credit at now (storekit.Accrue).
func (z *zone) accrue(now int64) {
	z.credit, z.creditAt = storekit.Accrue(z.state, z.credit, z.creditAt, now, time.Nanosecond)
}

// admitted records one admission at now.
func (z *zone) admitted(now int64) {
	z.credit--
	z.admittedTotal++
	z.lastAdmit = max(z.lastAdmit, now)
}

// slotHeap orders slots by deadline, earliest first.
type slotHeap []*slot

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i].until < h[j].until }
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *slotHeap) Push(x any) {
	sl := x.(*slot)
	sl.index = len(*h)
	*h = append(*h, sl)
}
func (h *slotHeap) Pop() any {
	old := *h
	n := len(old)
	sl := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	sl.index = -1
	return sl
}

// fix restores the heap order after sl's deadline changed.
func (h *slotHeap) fix(sl *slot) { heap.Fix(h, sl.index) }
