package middleware

import (
	"math"
	"strconv"
	"time"

	"github.com/waitroom/waitroom"
)

// etaWords reads an ETA in words: the headline (PageData.ETAText) and the
// range (PageData.ETARangeText), made together so that they agree. The
// range is only as good as what is known: its lower bound is rounded down
// and its upper bound up, and a lower bound under a minute reads "up to".
// An estimate that is the upper bound itself (the Room measured no
// admission rate yet, or the line moves as slowly as it can) is no likely
// wait: the headline says "up to" that bound rather than "about" it.
func etaWords(e waitroom.ETA) (text, rangeText string) {
	lo := max(e.Low, 0)
	hi := max(e.High, lo)
	expected := min(max(e.Expected, lo), hi)
	rangeText = etaRangeText(lo, hi)
	if expected < hi || lo == hi {
		return etaText(expected), rangeText
	}
	text = upTo(hi)
	if rangeText == text {
		rangeText = "" // said once is enough
	}
	return text, rangeText
}

// etaText reads an expected wait d in words: "less than a minute", "about
// 4 minutes".
func etaText(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	return "about " + plural(spell(d))
}

// etaRangeText reads the range of a wait from lo to hi in words: "between
// 2 and 9 minutes", "between 30 minutes and 3 hours", or "up to 9
// minutes" when lo is under a minute. It is empty when the range says no
// more than a figure would: both ends spell the same, or hi is a minute or
// less.
func etaRangeText(lo, hi time.Duration) string {
	a, ua := spell(lo)
	b, ub := spell(hi)
	if hi <= time.Minute || a == b && ua == ub {
		return ""
	}
	if lo < time.Minute {
		return upTo(hi)
	}
	a, ua = spellDown(lo)
	b, ub = spellUp(hi)
	if ua == ub {
		return "between " + strconv.FormatInt(a, 10) + " and " + plural(b, ub)
	}
	return "between " + plural(a, ua) + " and " + plural(b, ub)
}

// upTo reads a wait of at most hi: "up to 9 minutes", or "less than a
// minute".
func upTo(hi time.Duration) string {
	if hi < time.Minute {
		return "less than a minute"
	}
	return "up to " + plural(spellUp(hi))
}

// spell reads d in a unit fit for a wait (unitOf), minutes rounded up (at
// least 1), hours and days to the nearest.
func spell(d time.Duration) (n int64, unit string) {
	size, unit := unitOf(d)
	if size == time.Minute {
		return max(1, count(d, size, math.Ceil)), unit
	}
	return count(d, size, math.Round), unit
}

// spellDown and spellUp read a bound of a wait: a lower one rounded down
// (0 minutes under a minute), an upper one rounded up.
func spellDown(d time.Duration) (n int64, unit string) {
	size, unit := unitOf(d)
	return count(d, size, math.Floor), unit
}

func spellUp(d time.Duration) (n int64, unit string) {
	size, unit := unitOf(d)
	return count(d, size, math.Ceil), unit
}

// unitOf is the unit fit for a wait of d: minutes up to 90, hours up to 48,
// days beyond.
func unitOf(d time.Duration) (size time.Duration, unit string) {
	switch {
	case d <= 90*time.Minute:
		return time.Minute, "minute"
	case d <= 48*time.Hour:
		return time.Hour, "hour"
	}
	return 24 * time.Hour, "day"
}

// count is d in units of size, rounded by round, at most a million.
func count(d, size time.Duration, round func(float64) float64) int64 {
	return int64(math.Min(round(float64(d)/float64(size)), 1e6))
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.FormatInt(n, 10) + " " + unit + "s"
}
