package report

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
)

// The report's first screen answers the write-up's question before any
// table: one small chart of requests/s per pod for every run, all on the
// same axes with the scale event marked (so "the new pod stays flat" is
// seen at a glance), and fairness against cost: each run's new-pod share
// against its p95 latency and against its requests/s, one labelled point
// per run.

const (
	smallW, smallH = 250, 120
	smallPad       = 22
	scatterW       = 520
	scatterH       = 300
	scatterPadL    = 52
	scatterPadB    = 40
	scatterPadT    = 26
	scatterPadR    = 16
)

// ShowAnswer says whether the page has runs to compare (the experiments'
// report; a single `spread run` page does not need the first screen).
func (r Report) ShowAnswer() bool { return len(r.Runs) > 1 }

// SmallMultiples renders one small requests/s-per-pod chart per run, with
// shared axes.
func (r Report) SmallMultiples() template.HTML {
	xMax, yMax := 1.0, 1.0
	for _, run := range r.Runs {
		s := run.Series
		if n := len(s.X); n > 0 {
			xMax = math.Max(xMax, s.X[n-1]+s.StepS)
		}
		for _, p := range s.Pods {
			for _, v := range s.PodRPS[p] {
				yMax = math.Max(yMax, v)
			}
		}
	}
	yMax = niceCeil(yMax)
	var b strings.Builder
	b.WriteString(`<div class="multiples">`)
	for _, run := range r.Runs {
		s := run.Series
		pw, ph := float64(smallW-2*smallPad), float64(smallH-2*smallPad)
		sx := func(x float64) float64 { return smallPad + pw*x/xMax }
		sy := func(y float64) float64 { return smallPad + ph*(1-y/yMax) }
		fmt.Fprintf(&b, `<svg class="small" data-run="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d">`,
			html.EscapeString(run.Summary.Name), smallW, smallH, smallW, smallH)
		fmt.Fprintf(&b, `<text x="%d" y="13" class="stitle">%s</text>`, smallPad, html.EscapeString(run.Summary.Name))
		fmt.Fprintf(&b, `<line class="axis" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, smallPad, smallW-smallPad, sy(0), sy(0))
		fmt.Fprintf(&b, `<text class="ytick" x="%d" y="%.1f">%s</text>`, smallPad-2, sy(yMax)+4, tickText(yMax))
		for _, m := range run.Markers {
			if m.Kind != "scale" {
				continue
			}
			fmt.Fprintf(&b, `<line class="smarker" x1="%.1f" x2="%.1f" y1="%d" y2="%.1f"/>`, sx(m.AtS), sx(m.AtS), smallPad, sy(0))
		}
		for i, p := range s.Pods {
			var d strings.Builder
			for j, v := range s.PodRPS[p] {
				cmd := "L"
				if j == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&d, "%s%.1f,%.1f", cmd, sx(s.X[j]+s.StepS/2), sy(v))
			}
			fmt.Fprintf(&b, `<path class="sseries" data-series="%s" d="%s" stroke="%s" fill="none" stroke-width="1.5"/>`,
				html.EscapeString(p), d.String(), palette[i%len(palette)])
		}
		if sh := run.Summary.NewPodShare; sh != nil {
			fmt.Fprintf(&b, `<text x="%d" y="%d" class="snote">new-pod share %.2f</text>`, smallPad, smallH-6, *sh)
		}
		b.WriteString(`</svg>`)
	}
	fmt.Fprintf(&b, `</div><p class="meta">requests/s per pod over %.0f s, every chart 0–%s req/s; first pod blue, the pod added at the scale-up orange; red line: the scale event.</p>`, xMax, tickText(yMax))
	return template.HTML(b.String())
}

// FairnessCharts renders new-pod share against p95 latency and against
// requests/s, one labelled point per run that scaled up.
func (r Report) FairnessCharts() template.HTML {
	type pt struct {
		name          string
		share, p95, r float64
	}
	var pts []pt
	for _, run := range r.Runs {
		if s := run.Summary; s.NewPodShare != nil {
			pts = append(pts, pt{s.Name, *s.NewPodShare, s.P95Ms, s.RPS})
		}
	}
	if len(pts) == 0 {
		return ""
	}
	draw := func(id, xlabel string, x func(pt) float64) string {
		xMax := 1.0
		for _, p := range pts {
			xMax = math.Max(xMax, x(p))
		}
		xMax = niceCeil(xMax * 1.05)
		pw, ph := float64(scatterW-scatterPadL-scatterPadR), float64(scatterH-scatterPadT-scatterPadB)
		sx := func(v float64) float64 { return scatterPadL + pw*v/xMax }
		sy := func(v float64) float64 { return scatterPadT + ph*(1-v) }
		var b strings.Builder
		fmt.Fprintf(&b, `<svg class="scatter" id="%s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d">`, id, scatterW, scatterH, scatterW, scatterH)
		fmt.Fprintf(&b, `<text x="%d" y="16" class="ctitle">new-pod share against %s</text>`, scatterPadL, html.EscapeString(xlabel))
		for i := 0; i <= 4; i++ {
			y := float64(i) / 4
			fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/><text class="ytick" x="%d" y="%.1f">%.2f</text>`,
				scatterPadL, scatterW-scatterPadR, sy(y), sy(y), scatterPadL-4, sy(y)+4, y)
			xv := xMax * float64(i) / 4
			fmt.Fprintf(&b, `<text class="xtick" x="%.1f" y="%d">%s</text>`, sx(xv), scatterH-scatterPadB+14, tickText(xv))
		}
		fmt.Fprintf(&b, `<text class="xlabel" x="%.1f" y="%d">%s</text>`, sx(xMax/2), scatterH-8, html.EscapeString(xlabel))
		for i, p := range pts {
			fmt.Fprintf(&b, `<g class="point" data-run="%s"><circle cx="%.1f" cy="%.1f" r="4.5" fill="%s"/><text x="%.1f" y="%.1f">%s</text></g>`,
				html.EscapeString(p.name), sx(x(p)), sy(p.share), palette[i%len(palette)], sx(x(p))+6, sy(p.share)-5+float64(i%2)*12, html.EscapeString(p.name))
		}
		b.WriteString(`</svg>`)
		return b.String()
	}
	return template.HTML(`<div class="charts">` + draw("fair-vs-p95", "p95 latency (ms)", func(p pt) float64 { return p.p95 }) +
		draw("fair-vs-rps", "requests/s", func(p pt) float64 { return p.r }) + `</div>`)
}

func tickText(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.0fk", v/1000)
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
