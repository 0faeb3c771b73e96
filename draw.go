package waitroom

import (
	"crypto/sha1"
	"encoding/binary"
	"strconv"
	"time"
)

// A Draw is the random order a ModeRandomAtOpen zone gives the places in
// its line when it opens. The store draws once, in one atomic step, at
// the first Exchange at or after OpensAt: the Count places numbered First
// to First+Count-1 (those in line then; gone ones keep their number and
// are skipped) are renumbered in a uniformly random order over the same
// numbers, and every place taken after it keeps its arrival number, so it
// queues behind them in arrival order. A place's number never changes
// again, and every instance computes the same one: the order is a keyed
// permutation of the numbers, not a copy of the line, so the draw costs
// one write at any length of line.
//
// Audit. Stats reports the Draw (First, Count, Seed, At); with it anyone
// can recompute every place's drawn number from its arrival number
// (Number) and back (Arrival). The seed comes from crypto/rand at the
// draw, after everyone it orders has arrived, so nobody in line could
// have known it.
//
// The permutation is a Feistel network of drawRounds rounds on the
// smallest power of two at or above Count, each round keyed by SHA-1 of
// the seed, the round and the half it reads, walked until it lands inside
// [0, Count) (cycle walking): a bijection of [0, Count) that every store
// computes alike. The Redis store's scripts mirror it in Lua (prelude.lua,
// drawn); the storetest suite pins both to this one.
type Draw struct {
	First uint64    // the first number drawn (0: nothing drawn)
	Count uint64    // how many numbers were drawn, from First on
	Seed  uint64    // the key of the permutation
	At    time.Time // when the store drew (store clock); zero: not drawn yet
}

// drawRounds is the number of Feistel rounds: at 8 the position of each
// of 8 places over 20,000 seeds already passes a chi-square test; 10
// leaves a margin.
const drawRounds = 10

// Drawn reports whether the draw has taken place.
func (d Draw) Drawn() bool { return !d.At.IsZero() }

// Number returns the drawn number of the place with arrival number a:
// a itself outside the drawn range.
func (d Draw) Number(a uint64) uint64 {
	if d.Count < 2 || a < d.First || a-d.First >= d.Count {
		return a
	}
	return d.First + d.walk(a-d.First, true)
}

// Arrival returns the arrival number of the place with drawn number n:
// the inverse of Number.
func (d Draw) Arrival(n uint64) uint64 {
	if d.Count < 2 || n < d.First || n-d.First >= d.Count {
		return n
	}
	return d.First + d.walk(n-d.First, false)
}

// walk applies the permutation (or its inverse) to x < Count until the
// result is below Count: the network permutes [0, 2^bits), so walking
// from a point below Count returns below Count in a cycle of its own.
func (d Draw) walk(x uint64, forward bool) uint64 {
	bits := 2
	for uint64(1)<<bits < d.Count {
		bits++
	}
	for {
		x = d.feistel(x, bits, forward)
		if x < d.Count {
			return x
		}
	}
}

// feistel is one pass of the network over x < 2^bits: the high half (hi
// bits) and the low half (lo bits) take turns, each round adding to one
// half, modulo its size, the round function of the other.
func (d Draw) feistel(x uint64, bits int, forward bool) uint64 {
	lo := bits / 2
	hi := bits - lo
	l, r := x>>lo, x&(1<<lo-1)
	seed := strconv.FormatUint(d.Seed, 10)
	round := func(i int) {
		if i%2 == 0 {
			f := drawHash(seed, i, r) & (1<<hi - 1)
			if forward {
				l = (l + f) & (1<<hi - 1)
			} else {
				l = (l - f) & (1<<hi - 1)
			}
			return
		}
		f := drawHash(seed, i, l) & (1<<lo - 1)
		if forward {
			r = (r + f) & (1<<lo - 1)
		} else {
			r = (r - f) & (1<<lo - 1)
		}
	}
	if forward {
		for i := range drawRounds {
			round(i)
		}
	} else {
		for i := drawRounds - 1; i >= 0; i-- {
			round(i)
		}
	}
	return l<<lo | r
}

// drawHash is the round function: the first 52 bits of SHA-1 of
// "seed:round:x" (52, so that Lua's doubles hold it exactly).
func drawHash(seed string, round int, x uint64) uint64 {
	b := make([]byte, 0, 48)
	b = append(b, seed...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(round), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, x, 10)
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8]) >> 12
}
