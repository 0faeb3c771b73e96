package memstore_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/waitroom/waitroom"
	"github.com/waitroom/waitroom/store/memstore"
	"github.com/waitroom/waitroom/waitroomtest"
)

// drawOrder queues n visitors in a ModeRandomAtOpen zone of s, opens it
// and returns the visitors in the order they are let in.
func drawOrder(t *testing.T, s *memstore.Store, n int) []int {
	t.Helper()
	ctx, t0 := t.Context(), waitroomtest.Start
	_, err := s.PutZone(ctx, waitroom.ZoneState{
		Name: "drop", Capacity: n, AdmitPerSecond: float64(4 * n), Session: time.Minute, ClaimWindow: time.Minute,
		AbandonAfter: time.Hour, OpensAt: t0.Add(time.Minute), Mode: waitroom.ModeRandomAtOpen,
	}, t0)
	require.NoError(t, err)
	for i := range n {
		_, err := s.Register(ctx, "drop", fmt.Sprint(i), t0.Add(time.Duration(i)*time.Second))
		require.NoError(t, err)
	}
	x, err := s.Exchange(ctx, "drop", t0.Add(time.Minute), n)
	require.NoError(t, err)
	require.Len(t, x.Admitted, n)
	out := make([]int, n)
	for i, a := range x.Admitted {
		_, err := fmt.Sscan(a.Visitor, &out[i])
		require.NoError(t, err)
	}
	return out
}

// TestDrawUniform: over 4,000 draws of 8 visitors (a fixed seed each),
// each visitor lands on each place equally often: a chi-square test of
// the 8 x 8 table of (visitor, place) counts passes at p > 0.001.
func TestDrawUniform(t *testing.T) {
	const n, trials = 8, 4000
	var counts [n][n]int
	for trial := range trials {
		seed := uint64(trial)*0x9e3779b97f4a7c15 + 1
		s := memstore.New(memstore.WithDrawSeeds(func() uint64 { return seed }))
		for place, visitor := range drawOrder(t, s, n) {
			counts[visitor][place]++
		}
		require.NoError(t, s.Close())
	}
	want := float64(trials) / n
	chi2 := 0.0
	for _, row := range counts {
		for _, c := range row {
			chi2 += (float64(c) - want) * (float64(c) - want) / want
		}
	}
	// Rows and columns each sum to trials: (n-1)^2 = 49 degrees of
	// freedom, whose 0.999 quantile is 85.35.
	t.Logf("chi-square %.1f over 49 degrees of freedom; counts %v", chi2, counts)
	assert.Less(t, chi2, 85.35, "the draw favours some places: %v", counts)
	// And it is not the arrival order, nor any one order, in disguise.
	assert.Less(t, counts[0][0], trials/4, "the first to arrive is not first more often")
}

// TestDrawDiffersAcrossRuns: with the seeds from crypto/rand, two sales
// draw different orders.
func TestDrawDiffersAcrossRuns(t *testing.T) {
	a, b := memstore.New(), memstore.New()
	defer a.Close()
	defer b.Close()
	first, second := drawOrder(t, a, 20), drawOrder(t, b, 20)
	assert.False(t, slices.Equal(first, second), "two draws of 20 agree: a 1 in 20! chance, or no randomness")
	assert.False(t, slices.IsSorted(first), "the draw is not the arrival order")
}
