package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"time"
)

// The chart is a hand-written SVG of two panels over the run's time: the
// flow (arrivals and admissions per second, with the target rate), and the
// room (people in line, slots held, requests in the origin, with the
// capacity). The first shows the spike flattened into a constant flow, the
// second that the origin never sees more than the capacity.

const (
	chartW      = 960
	panelH      = 250
	marginLeft  = 70
	marginRight = 170
	marginTop   = 64
	panelGap    = 60
)

// series is one line of a panel.
type series struct {
	name   string
	color  string
	dashed bool
	pts    [][2]float64 // x in seconds, y
}

// perSecond bins instants into counts per whole second since start, over
// [0, span).
func perSecond(ts []time.Time, start time.Time, span time.Duration) [][2]float64 {
	n := int(math.Ceil(span.Seconds()))
	if n <= 0 {
		return nil
	}
	counts := make([]int, n)
	for _, t := range ts {
		i := int(t.Sub(start) / time.Second)
		if i >= 0 && i < n {
			counts[i]++
		}
	}
	return steps(counts, n)
}

// steps draws counts per second, the first n of them, as steps: a bin is
// flat over its second.
func steps(counts []int, n int) [][2]float64 {
	pts := make([][2]float64, 0, 2*n)
	for i := range min(n, len(counts)) {
		c := float64(counts[i])
		pts = append(pts, [2]float64{float64(i), c}, [2]float64{float64(i + 1), c})
	}
	return pts
}

// WriteChart writes the run's chart as SVG.
func (res *Result) WriteChart(w io.Writer) error {
	cfg := res.Config
	span := res.Duration
	if len(res.Samples) > 0 {
		span = max(span, res.Samples[len(res.Samples)-1].At.Sub(res.Started))
	}
	xmax := math.Max(span.Seconds(), 1)
	rateLine := [][2]float64{{0, cfg.Rate}, {xmax, cfg.Rate}}
	arrivals, admissions := perSecond(res.Arrivals, res.Started, span), perSecond(res.Admission, res.Started, span)
	if res.Sim != nil {
		// A simulation counts per second as it goes.
		n := int(math.Ceil(span.Seconds()))
		arrivals, admissions = steps(res.arrivalsPerSec, n), steps(res.admissionsPerSec, n)
	}
	flow := []series{
		{name: "arrivals/s", color: "#d62728", pts: arrivals},
		{name: "admissions/s", color: "#1f77b4", pts: admissions},
		{name: fmt.Sprintf("rate %g/s", cfg.Rate), color: "#1f77b4", dashed: true, pts: rateLine},
	}
	var waiting, inside, origin [][2]float64
	for _, s := range res.Samples {
		x := s.At.Sub(res.Started).Seconds()
		waiting = append(waiting, [2]float64{x, float64(s.Waiting)})
		if s.Inside >= 0 {
			inside = append(inside, [2]float64{x, float64(s.Inside)})
		}
		if s.InOrigin >= 0 {
			origin = append(origin, [2]float64{x, float64(s.InOrigin)})
		}
	}
	room := []series{
		{name: "in line", color: "#ff7f0e", pts: waiting},
		{name: "slots held", color: "#2ca02c", pts: inside},
		{name: "in the origin", color: "#9467bd", pts: origin},
		{name: fmt.Sprintf("capacity %d", cfg.Capacity), color: "#2ca02c", dashed: true,
			pts: [][2]float64{{0, float64(cfg.Capacity)}, {xmax, float64(cfg.Capacity)}}},
	}

	var b bytes.Buffer
	h := marginTop + 2*panelH + panelGap + 50
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartW, h, chartW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	title := fmt.Sprintf("flashcrowd: %d visitors (%s over %v), capacity %d, %g admissions/s, %s store ×%d",
		cfg.Visitors, cfg.Profile, cfg.Window, cfg.Capacity, cfg.Rate, storeLabel(cfg.Store), cfg.Instances)
	if res.Sim != nil {
		title += ", virtual clock"
	}
	if cfg.URL != "" {
		title = fmt.Sprintf("flashcrowd: %d visitors (%s over %v) against a waiting room by URL", cfg.Visitors, cfg.Profile, cfg.Window)
	}
	text(&b, marginLeft, 22, "start", 14, title)
	panel(&b, marginTop, "flow: arrivals and admissions per second", xmax, flow)
	panel(&b, marginTop+panelH+panelGap, "room: people in line, slots held, requests in the origin", xmax, room)
	text(&b, marginLeft+(chartW-marginLeft-marginRight)/2, h-12, "middle", 12, "seconds since the first arrival")
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// panel draws one panel with its axes, grid, lines and legend at top y.
func panel(b *bytes.Buffer, top int, title string, xmax float64, ss []series) {
	plotW := float64(chartW - marginLeft - marginRight)
	ymax := 1.0
	for _, s := range ss {
		for _, p := range s.pts {
			ymax = math.Max(ymax, p[1])
		}
	}
	ystep := niceStep(ymax / 5)
	ymax = math.Ceil(ymax*1.05/ystep) * ystep
	xstep := niceStep(xmax / 10)
	px := func(x float64) float64 { return marginLeft + x/xmax*plotW }
	py := func(y float64) float64 { return float64(top) + panelH - y/ymax*panelH }

	text(b, marginLeft, top-8, "start", 13, title)
	fmt.Fprintf(b, `<g stroke="#ddd" stroke-width="1">`)
	for y := 0.0; y <= ymax+1e-9; y += ystep {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f"/>`, marginLeft, py(y), px(xmax), py(y))
	}
	for x := 0.0; x <= xmax+1e-9; x += xstep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`, px(x), top, px(x), top+panelH)
	}
	b.WriteString("</g>\n")
	for y := 0.0; y <= ymax+1e-9; y += ystep {
		text(b, marginLeft-6, int(py(y))+4, "end", 11, formatTick(y))
	}
	for x := 0.0; x <= xmax+1e-9; x += xstep {
		text(b, int(px(x)), top+panelH+16, "middle", 11, formatTick(x))
	}
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%d" fill="none" stroke="#444"/>`+"\n", marginLeft, top, plotW, panelH)

	for i, s := range ss {
		if len(s.pts) > 0 {
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.6"`, s.color)
			if s.dashed {
				b.WriteString(` stroke-dasharray="6 4"`)
			}
			b.WriteString(` points="`)
			for j, p := range s.pts {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(b, "%.1f,%.1f", px(p[0]), py(p[1]))
			}
			b.WriteString(`"/>` + "\n")
		}
		ly := top + 14 + 20*i
		lx := chartW - marginRight + 14
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"`, lx, ly-4, lx+24, ly-4, s.color)
		if s.dashed {
			b.WriteString(` stroke-dasharray="6 4"`)
		}
		b.WriteString("/>")
		text(b, lx+30, ly, "start", 12, s.name)
	}
}

// text writes an escaped SVG text element.
func text(b *bytes.Buffer, x, y int, anchor string, size int, s string) {
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="%s" font-size="%d">`, x, y, anchor, size)
	xml.EscapeText(b, []byte(s))
	b.WriteString("</text>\n")
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}
