package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// Line is one series of a chart.
type Line struct {
	Name  string
	Color string
	Y     []float64
	Skip  []bool // points to leave out (no data in that step); nil = none
	Dash  bool
}

// Marker is a vertical line on a chart at a time (the scale event, a pod
// becoming ready), labelled.
type Marker struct {
	AtS   float64 `json:"at_s"`
	Label string  `json:"label"`
	Kind  string  `json:"kind"`
}

// Chart is a line chart over time drawn as inline SVG.
type Chart struct {
	ID      string
	Title   string
	YLabel  string
	X       []float64
	Lines   []Line
	Markers []Marker
}

const (
	chartW, chartH                     = 760, 240
	padLeft, padRight, padTop, padBott = 60, 16, 28, 52
)

// palette for pods and series; colour-blind friendly (Okabe-Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

// SVG renders the chart; it never fails (an empty chart says "no data").
func (c Chart) SVG() template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		html.EscapeString(c.ID), chartW, chartH, chartW, chartH, html.EscapeString(c.Title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="ctitle">%s</text>`, padLeft, html.EscapeString(c.Title))
	if len(c.X) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" class="empty">no data</text></svg>`, chartW/2-30, chartH/2)
		return template.HTML(b.String())
	}
	xmin, xmax := c.X[0], c.X[len(c.X)-1]
	for _, m := range c.Markers {
		xmin, xmax = math.Min(xmin, m.AtS), math.Max(xmax, m.AtS)
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ymax := 0.0
	for _, l := range c.Lines {
		for i, y := range l.Y {
			if (l.Skip == nil || !l.Skip[i]) && y > ymax {
				ymax = y
			}
		}
	}
	ystep := niceStep(ymax / 4)
	ymax = math.Max(ystep, math.Ceil(ymax/ystep-1e-9)*ystep)
	pw, ph := float64(chartW-padLeft-padRight), float64(chartH-padTop-padBott)
	sx := func(x float64) float64 { return padLeft + (x-xmin)/(xmax-xmin)*pw }
	sy := func(y float64) float64 { return padTop + ph - y/ymax*ph }

	// Grid and axes.
	b.WriteString(`<g class="axes">`)
	for y := 0.0; y <= ymax+ystep/2; y += ystep {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padLeft, chartW-padRight, sy(y), sy(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="ytick">%s</text>`, padLeft-6, sy(y)+4, formatTick(y))
	}
	xstep := niceStep((xmax - xmin) / 8)
	for x := math.Ceil(xmin/xstep) * xstep; x <= xmax+1e-9; x += xstep {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="xtick">%s</text>`, sx(x), chartH-padBott+16, formatTick(x)+"s")
	}
	fmt.Fprintf(&b, `<text x="14" y="%.1f" class="ylabel" transform="rotate(-90 14 %.1f)">%s</text>`,
		padTop+ph/2, padTop+ph/2, html.EscapeString(c.YLabel))
	b.WriteString(`</g>`)

	// Markers under the lines.
	for i, m := range c.Markers {
		x := sx(m.AtS)
		fmt.Fprintf(&b, `<g class="marker %s"><line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/><text x="%.1f" y="%d">%s</text></g>`,
			html.EscapeString(m.Kind), x, x, padTop, padTop+ph, x+3, padTop+10+12*(i%3), html.EscapeString(m.Label))
	}

	// Lines: one path per contiguous run of points.
	for i, l := range c.Lines {
		color := l.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		var d strings.Builder
		pen := false
		for j, y := range l.Y {
			if j >= len(c.X) {
				break
			}
			if l.Skip != nil && l.Skip[j] {
				pen = false
				continue
			}
			cmd := "L"
			if !pen {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, sx(c.X[j]), sy(y))
			pen = true
		}
		// A point with no neighbour draws nothing as a path: mark it.
		for j, y := range l.Y {
			if j >= len(c.X) || (l.Skip != nil && l.Skip[j]) {
				continue
			}
			prev := j > 0 && (l.Skip == nil || !l.Skip[j-1])
			next := j+1 < len(l.Y) && j+1 < len(c.X) && (l.Skip == nil || !l.Skip[j+1])
			if !prev && !next {
				fmt.Fprintf(&b, `<circle class="point" cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, sx(c.X[j]), sy(y), color)
			}
		}
		dash := ""
		if l.Dash {
			dash = ` stroke-dasharray="5 3"`
		}
		fmt.Fprintf(&b, `<path class="series" data-series="%s" d="%s" stroke="%s" fill="none" stroke-width="1.8"%s/>`,
			html.EscapeString(l.Name), strings.TrimSpace(d.String()), color, dash)
	}

	// Legend along the bottom.
	lx := float64(padLeft)
	for i, l := range c.Lines {
		color := l.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		fmt.Fprintf(&b, `<g class="legend"><rect x="%.1f" y="%d" width="12" height="4" fill="%s"/><text x="%.1f" y="%d">%s</text></g>`,
			lx, chartH-14, color, lx+16, chartH-9, html.EscapeString(l.Name))
		lx += 24 + 7*float64(len(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 when v <= 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// niceStep rounds a raw tick step to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func formatTick(v float64) string {
	if math.Abs(v) < 1e-9 {
		v = 0 // no "-0"
	}
	switch {
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.0f", v)
	default:
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	}
}
