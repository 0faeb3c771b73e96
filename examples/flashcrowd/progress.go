package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress draws a one-line progress bar on a terminal (stderr): the share
// of visitors done, and the room's counts.
type progress struct {
	w     io.Writer
	total int
	last  time.Time
	wall  time.Time // a simulation's start on the machine's clock: elapsed is then virtual
}

func newProgress(w io.Writer, total int) *progress { return &progress{w: w, total: total} }

const barWidth = 30

func (p *progress) line(s sample, finished int, errors int64, elapsed time.Duration) string {
	frac := float64(finished) / float64(max(p.total, 1))
	n := int(frac * barWidth)
	bar := strings.Repeat("=", n) + strings.Repeat(" ", barWidth-n)
	inside := "?"
	if s.Inside >= 0 {
		inside = fmt.Sprint(s.Inside)
	}
	l := fmt.Sprintf("\r[%s] %3.0f%%  arrived %d/%d  admitted %d  waiting %d  inside %s  errors %d  %5.1fs ",
		bar, 100*frac, s.Arrived, p.total, s.Admitted, s.Waiting, inside, errors, elapsed.Seconds())
	if !p.wall.IsZero() {
		l += fmt.Sprintf("virtual, %.0fs wall ", time.Since(p.wall).Seconds())
	}
	return l
}

// show redraws the bar at most 5 times a second.
func (p *progress) show(s sample, finished int, errors int64, elapsed time.Duration) {
	if p.w == nil || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	io.WriteString(p.w, p.line(s, finished, errors, elapsed))
}

// done draws the final state and ends the line.
func (p *progress) done(s sample, finished int, errors int64, elapsed time.Duration) {
	if p.w == nil {
		return
	}
	io.WriteString(p.w, p.line(s, finished, errors, elapsed)+"\n")
}
