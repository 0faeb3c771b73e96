// Package faultproxy is a TCP proxy for tests that puts the faults of a
// network between a client and a server: latency, dropped connections,
// refused connections and half-open ones. Its faults change while it runs,
// and it counts what passes, so a test can point a store's client at it
// and break the network under a running Room.
//
// It listens on a loopback port of its own and forwards each connection to
// the target. Every fault applies from the moment it is set: a latency to
// the bytes read from then on, a half-open link to every connection, open
// or new.
package faultproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// A Proxy forwards TCP connections from its address to a target, with the
// faults set on it. It is safe for concurrent use. Close stops it and every
// goroutine it started.
type Proxy struct {
	ln net.Listener

	mu       sync.Mutex
	target   string
	latency  time.Duration
	halfOpen bool
	refuse   bool
	links    map[*link]struct{}
	closed   bool

	wg sync.WaitGroup // the accept loop and every link's pumps

	accepted  atomic.Int64
	up        atomic.Int64 // bytes delivered to the target
	down      atomic.Int64 // bytes delivered to the client
	swallowed atomic.Int64 // bytes read while half-open, never delivered
}

// Stats counts what a Proxy has seen.
type Stats struct {
	Accepted  int64 // connections accepted, refused ones too
	Open      int   // connections open now
	Up        int64 // bytes delivered from clients to the target
	Down      int64 // bytes delivered from the target to clients
	Swallowed int64 // bytes that vanished on half-open connections
}

// New starts a proxy to target ("host:port") on a free loopback port.
func New(target string) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("waitroom: faultproxy: target is empty")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("waitroom: faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, target: target, links: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the proxy's address, "127.0.0.1:port": give it to the
// client instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetTarget sends new connections to addr; open ones stay where they are
// (Drop them to move every client), as after a DNS or virtual IP switch.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	p.target = addr
	p.mu.Unlock()
}

// SetLatency delays every chunk of bytes read from then on, in each
// direction, by d before it is delivered (a round trip costs 2d). Order is
// kept, and bytes keep flowing while earlier ones wait: it adds latency,
// not a bandwidth limit, up to 1024 reads in flight each way (past that
// the proxy reads no more until the oldest is delivered). 0 removes it.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = max(d, 0)
	p.mu.Unlock()
}

// SetHalfOpen makes every connection, open or new, half-open while on:
// it stays open, nothing closes or resets it, and the bytes sent either
// way vanish, as when a peer or a middlebox has gone without a word. A
// client notices only by its own timeouts. Connections accepted while on
// never reach the target; those open before carry bytes again once off
// (the bytes in between are lost).
func (p *Proxy) SetHalfOpen(on bool) {
	p.mu.Lock()
	p.halfOpen = on
	p.mu.Unlock()
}

// SetRefuse makes new connections be reset as soon as they are accepted,
// as by a server that is down, while on.
func (p *Proxy) SetRefuse(on bool) {
	p.mu.Lock()
	p.refuse = on
	p.mu.Unlock()
}

// Drop resets every open connection (RST, both sides) and reports how many
// there were. New connections are accepted as before.
func (p *Proxy) Drop() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
	return len(links)
}

// Heal removes every fault: no latency, no half-open links, no refusals.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.latency, p.halfOpen, p.refuse = 0, false, false
	p.mu.Unlock()
}

// Stats returns the proxy's counts.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	open := len(p.links)
	p.mu.Unlock()
	return Stats{Accepted: p.accepted.Load(), Open: open, Up: p.up.Load(), Down: p.down.Load(), Swallowed: p.swallowed.Load()}
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines to end. Calling it again does nothing.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.Drop()
	p.wg.Wait()
	return err
}

// faults returns the faults in force now.
func (p *Proxy) faults() (latency time.Duration, halfOpen bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency, p.halfOpen
}

// accept takes connections until the listener closes.
func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		target, refuse, halfOpen, closed := p.target, p.refuse, p.halfOpen, p.closed
		p.mu.Unlock()
		if refuse || closed {
			resetConn(c)
			continue
		}
		var up net.Conn
		if !halfOpen {
			// Dialled here, one at a time: on loopback that is quick, and
			// a target that refuses resets the client at once.
			up, err = net.DialTimeout("tcp", target, time.Second)
			if err != nil {
				resetConn(c)
				continue
			}
		}
		p.start(c, up)
	}
}

// A link is one proxied connection: the client's side and the target's
// (nil for a connection accepted half-open, which goes nowhere).
type link struct {
	p      *Proxy
	client net.Conn
	target net.Conn
	done   chan struct{}
	once   sync.Once
}

// start runs the pumps of a new link.
func (p *Proxy) start(client, target net.Conn) {
	l := &link{p: p, client: client, target: target, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.reset()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-l.done
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	if target == nil {
		p.pump(l, client, nil, nil)
		return
	}
	p.pump(l, client, target, &p.up)
	p.pump(l, target, client, &p.down)
}

// chunk is bytes read, to be delivered at due.
type chunk struct {
	b   []byte
	due time.Time
}

// pump moves bytes from src to dst (nil: nowhere) on two goroutines, a
// reader that stamps each chunk with its due time and a writer that
// delivers it then. Either's end closes the link.
func (p *Proxy) pump(l *link, src, dst net.Conn, delivered *atomic.Int64) {
	q := make(chan chunk, 1024)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer close(q)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				latency, halfOpen := p.faults()
				if halfOpen || dst == nil {
					p.swallowed.Add(int64(n))
				} else {
					c := chunk{b: append([]byte(nil), buf[:n]...), due: time.Now().Add(latency)}
					select {
					case q <- c:
					case <-l.done:
						return
					}
				}
			}
			if err != nil {
				l.close()
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		var t *time.Timer
		for c := range q {
			if wait := time.Until(c.due); wait > 0 {
				if t == nil {
					t = time.NewTimer(wait)
				} else {
					t.Reset(wait)
				}
				select {
				case <-t.C:
				case <-l.done:
					return
				}
			}
			if _, err := dst.Write(c.b); err != nil {
				l.close()
				return
			}
			delivered.Add(int64(len(c.b)))
		}
	}()
}

// close ends the link: both sides closed as usual (FIN).
func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		if l.target != nil {
			l.target.Close()
		}
	})
}

// reset ends the link with a reset on both sides.
func (l *link) reset() {
	l.once.Do(func() {
		close(l.done)
		resetConn(l.client)
		if l.target != nil {
			resetConn(l.target)
		}
	})
}

// resetConn closes c with a TCP reset rather than a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
