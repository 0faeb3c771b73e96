package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
)

// This file checks that a store's operations are linearizable: many
// clients call one zone at once, every call's invocation and response is
// recorded, and porcupine checks that some order of the calls, each taking
// effect between its invocation and its response, is one that the
// contract's sequential model allows.

// linVisitors are the visitors the clients share; linCapacity the zone's.
const (
	linVisitors = 5
	linCapacity = 2
)

// linOp is a call of the history: the operation and its visitor.
type linOp struct {
	kind    string // register, position, release, exchange, claim, enter
	visitor int
}

// linOut is what a call returned, reduced to what the model predicts.
type linOut struct {
	state   waitroom.VisitorState // register, position: the place's state
	seq     uint64                // register, position: its number (0 for a direct entry)
	ok      bool                  // release: held; claim, enter: in
	err     string                // "notqueued", "notadmitted", or "" (a failure fails the test)
	visitor [linCapacity]int8     // exchange: who went in, in order, -1 after the last
}

// linState is the model's state of the zone.
type linState struct {
	next  uint64                             // the least number a new place may have
	state [linVisitors]waitroom.VisitorState // 0: holds nothing
	seq   [linVisitors]uint64
}

// linModel is the contract, sequentially, for the calls the clients make:
// a fixed now (nothing expires, nothing is abandoned) and a rate that
// never binds.
var linModel = porcupine.Model{
	Init: func() any { return linState{next: 1} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(linState), input.(linOp), output.(linOut)
		v := in.visitor
		switch in.kind {
		case "register":
			if s.state[v] == 0 {
				// A new place comes after every place before it; its
				// number need not be the next one (a DynamoDB
				// registration that lost a race leaves its number unused).
				if out.err != "" || out.state != waitroom.StateWaiting || out.seq < s.next {
					return false, s
				}
				s.state[v], s.seq[v] = waitroom.StateWaiting, out.seq
				s.next = out.seq + 1
				return true, s
			}
			return out.err == "" && out.state == s.state[v] && out.seq == s.seq[v], s
		case "position":
			if s.state[v] == 0 {
				return out.err == "notqueued", s
			}
			return out.err == "" && out.state == s.state[v] && out.seq == s.seq[v], s
		case "release":
			held := s.state[v] != 0
			s.state[v], s.seq[v] = 0, 0
			return out.err == "" && out.ok == held, s
		case "claim":
			switch s.state[v] {
			case waitroom.StateAdmitted, waitroom.StateInside:
				s.state[v] = waitroom.StateInside
				return out.err == "" && out.ok, s
			}
			return out.err == "notadmitted", s
		case "enter":
			switch {
			case s.state[v] == waitroom.StateAdmitted || s.state[v] == waitroom.StateInside:
				return out.err == "" && out.ok, s
			case s.waiting() > 0 || s.held() >= linCapacity:
				return out.err == "" && !out.ok, s
			}
			s.state[v], s.seq[v] = waitroom.StateInside, 0
			return out.err == "" && out.ok, s
		case "exchange":
			want := [linCapacity]int8{-1, -1}
			for n := 0; n < linCapacity && s.held() < linCapacity; n++ {
				next := -1
				for i := range s.state {
					if s.state[i] == waitroom.StateWaiting && (next < 0 || s.seq[i] < s.seq[next]) {
						next = i
					}
				}
				if next < 0 {
					break
				}
				s.state[next] = waitroom.StateAdmitted
				want[n] = int8(next)
			}
			return out.err == "" && out.visitor == want, s
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linOp), output.(linOut)
		return fmt.Sprintf("%s(v%d) -> %+v", in.kind, in.visitor, out)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%+v", state.(linState)) },
}

func (s linState) waiting() (n int) {
	for _, st := range s.state {
		if st == waitroom.StateWaiting {
			n++
		}
	}
	return n
}

func (s linState) held() (n int) {
	for _, st := range s.state {
		if st == waitroom.StateAdmitted || st == waitroom.StateInside {
			n++
		}
	}
	return n
}

// History makes clients goroutines call one fresh zone of s at once,
// ops calls each, chosen from seed, and returns every call with its
// invocation and response (a logical clock shared by the clients: a call
// that returned before another was invoked is ordered before it).
func History(t *testing.T, s waitroom.Store, clients, ops int, seed uint64) []porcupine.Operation {
	t.Helper()
	st := newZone(t, s, "lin", func(z *waitroom.ZoneState) {
		z.Capacity = linCapacity
		z.AdmitPerSecond = 1e6
		z.AbandonAfter = time.Hour
	})
	now := at(time.Second)
	ids := make([]string, linVisitors)
	for i := range ids {
		ids[i] = fmt.Sprintf("lin-%d", i)
	}
	var clock atomic.Int64
	var mu sync.Mutex
	var history []porcupine.Operation
	var failed atomic.Value
	var wg sync.WaitGroup
	kinds := []string{"register", "register", "position", "release", "exchange", "claim", "enter"}
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(c)))
			for range ops {
				in := linOp{kind: kinds[rng.IntN(len(kinds))], visitor: rng.IntN(linVisitors)}
				call := clock.Add(1)
				out, err := linCall(t, s, st.Name, ids, in, now)
				ret := clock.Add(1)
				if err != nil {
					failed.Store(err)
					return
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a call failed: %v", err)
	}
	return history
}

// linCall makes one call and reduces its outcome for the model.
func linCall(t *testing.T, s waitroom.Store, zone string, ids []string, in linOp, now time.Time) (linOut, error) {
	ctx := t.Context()
	var out linOut
	place := func(p waitroom.Place, err error) (linOut, error) {
		if errors.Is(err, waitroom.ErrNotQueued) {
			out.err = "notqueued"
			return out, nil
		}
		out.state, out.seq = p.State, p.Seq
		return out, err
	}
	v := ids[in.visitor]
	switch in.kind {
	case "register":
		return place(s.Register(ctx, zone, v, now))
	case "position":
		return place(s.Position(ctx, zone, v, now))
	case "release":
		held, err := s.Release(ctx, zone, v, now)
		out.ok = held
		return out, err
	case "claim":
		_, err := s.Claim(ctx, zone, v, now)
		if errors.Is(err, waitroom.ErrNotAdmitted) {
			out.err = "notadmitted"
			return out, nil
		}
		out.ok = err == nil
		return out, err
	case "enter":
		_, ok, err := s.Enter(ctx, zone, v, now)
		out.ok = ok
		return out, err
	case "exchange":
		x, err := s.Exchange(ctx, zone, now, 10)
		out.visitor = [linCapacity]int8{-1, -1}
		for i, a := range x.Admitted {
			if i >= linCapacity {
				return out, fmt.Errorf("exchange admitted %d visitors into a zone of %d", len(x.Admitted), linCapacity)
			}
			var n int
			if _, err := fmt.Sscanf(a.Visitor, "lin-%d", &n); err != nil {
				return out, err
			}
			out.visitor[i] = int8(n)
		}
		return out, err
	}
	return out, fmt.Errorf("unknown operation %q", in.kind)
}

// CheckLinearizable checks history against the contract's model. A history
// that is not linearizable is written out as porcupine's visualisation,
// under $WAITROOM_ARTIFACTS (default: the test's temporary directory),
// and the path is logged.
func CheckLinearizable(t *testing.T, history []porcupine.Operation) porcupine.CheckResult {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(linModel, history, time.Minute)
	if res != porcupine.Ok {
		dir := os.Getenv("WAITROOM_ARTIFACTS")
		if dir == "" {
			dir = t.TempDir()
		}
		path := filepath.Join(dir, fmt.Sprintf("history-%s.html", filepath.Base(t.Name())))
		if err := porcupine.VisualizePath(linModel, info, path); err != nil {
			t.Logf("visualising the history: %v", err)
		} else {
			t.Logf("the history, visualised: %s", path)
		}
	}
	return res
}

// testLinearizable: 6 clients making 40 calls each at once on one zone
// make a linearizable history.
func testLinearizable(t *testing.T, s waitroom.Store) {
	history := History(t, s, 6, 40, 1)
	require.Len(t, history, 240)
	require.Equal(t, porcupine.Ok, CheckLinearizable(t, history), "the history is linearizable")
}
