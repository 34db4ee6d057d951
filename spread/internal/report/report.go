// Package report turns a run's samples into charts and writes one
// self-contained HTML page (inline CSS and SVG, no network, no script
// needed): a summary table and, per run, requests/s per pod over time with
// the scale events marked, latency p50/p95 over time and errors over time.
package report

import (
	"bufio"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"time"
)

// Report is what one HTML page shows.
type Report struct {
	Title     string
	Command   string // how the results were made, shown under the title
	Generated time.Time
	Notes     []string
	Runs      []Run
}

// Run is one experiment or one `spread run`: its numbers and its timeline.
type Run struct {
	Summary Summary
	Series  Series
	Markers []Marker
}

// Column is one column of the summary table: the summary.json key it shows
// and how to print it.
type Column struct {
	Key   string
	Title string
}

// Columns are the summary table's columns, in order.
var Columns = []Column{
	{"name", "experiment"}, {"protocol", "proto"}, {"mode", "mode"}, {"proxy", "proxy"},
	{"replicas", "replicas"}, {"scale_at_s", "scale at (s)"}, {"requests", "requests"},
	{"rps", "req/s"}, {"p50_ms", "p50 (ms)"}, {"p95_ms", "p95 (ms)"}, {"error_rate", "errors"},
	{"new_pod_share", "new-pod share"}, {"fair_share", "fair share"}, {"top_pod_share", "top pod"},
	{"stall_s", "stall (s)"}, {"stalled_requests", "stalled"}, {"connections_opened", "conns opened"}, {"expected", "expected"}, {"verdict", "verdict"},
}

// Cell is a rendered table cell: the text shown and the exact JSON value.
type Cell struct {
	Key   string
	Text  string
	Value string // JSON value of the key in summary.json ("" for composite cells)
	Class string
}

// Cells renders s as the summary table's row.
func Cells(s Summary) []Cell {
	out := make([]Cell, 0, len(Columns))
	for _, c := range Columns {
		out = append(out, cell(c.Key, s))
	}
	return out
}

func cell(key string, s Summary) Cell {
	num := func(v float64, prec int) Cell {
		return Cell{Key: key, Text: strconv.FormatFloat(v, 'f', prec, 64), Value: strconv.FormatFloat(v, 'g', -1, 64), Class: "num"}
	}
	opt := func(v *float64, prec int) Cell {
		if v == nil {
			return Cell{Key: key, Text: "–", Value: "null", Class: "num"}
		}
		return num(*v, prec)
	}
	str := func(v string) Cell { return Cell{Key: key, Text: v, Value: strconv.Quote(v)} }
	switch key {
	case "name":
		return str(s.Name)
	case "protocol":
		return str(s.Protocol)
	case "mode":
		return str(s.Mode)
	case "proxy":
		return str(s.Proxy)
	case "replicas":
		t := strconv.Itoa(s.ReplicasBefore)
		if s.ReplicasAfter != s.ReplicasBefore {
			t += "→" + strconv.Itoa(s.ReplicasAfter)
		}
		return Cell{Key: key, Text: t, Class: "num"}
	case "scale_at_s":
		return opt(s.ScaleAtS, 1)
	case "requests":
		return Cell{Key: key, Text: strconv.FormatInt(s.Requests, 10), Value: strconv.FormatInt(s.Requests, 10), Class: "num"}
	case "rps":
		return num(s.RPS, 1)
	case "p50_ms":
		return num(s.P50Ms, 1)
	case "p95_ms":
		return num(s.P95Ms, 1)
	case "error_rate":
		return num(s.ErrorRate, 4)
	case "new_pod_share":
		return opt(s.NewPodShare, 3)
	case "fair_share":
		return opt(s.FairShare, 3)
	case "top_pod_share":
		return num(s.TopPodShare, 3)
	case "stall_s":
		return opt(s.StallS, 2)
	case "stalled_requests":
		if s.StalledRequests == nil {
			return Cell{Key: key, Text: "–", Value: "null", Class: "num"}
		}
		v := strconv.FormatInt(*s.StalledRequests, 10)
		return Cell{Key: key, Text: v, Value: v, Class: "num"}
	case "connections_opened":
		return Cell{Key: key, Text: strconv.FormatInt(s.ConnectionsOpened, 10), Value: strconv.FormatInt(s.ConnectionsOpened, 10), Class: "num"}
	case "expected":
		return str(s.Expected)
	case "verdict":
		c := str(s.Verdict)
		c.Class = "verdict " + s.Verdict
		return c
	}
	return Cell{Key: key}
}

// VisibleColumns are the summary table's columns that have a value in at
// least one run: a plain `spread run --out html=` has no mode, proxy,
// scale, expectation or verdict, and a row of empty experiment columns
// only says the page was made for something else.
func (r Report) VisibleColumns() []Column {
	var out []Column
	for _, c := range Columns {
		for _, run := range r.Runs {
			if t := cell(c.Key, run.Summary).Text; t != "" && t != "–" {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// RowCells renders s as a row of the summary table's visible columns.
func (r Report) RowCells(s Summary) []Cell {
	cols := r.VisibleColumns()
	out := make([]Cell, 0, len(cols))
	for _, c := range cols {
		out = append(out, cell(c.Key, s))
	}
	return out
}

// Charts returns the three charts of a run.
func (r Run) Charts(idx int) []Chart {
	s := r.Series
	var pods []Line
	for i, p := range s.Pods {
		pods = append(pods, Line{Name: p, Color: palette[i%len(palette)], Y: s.PodRPS[p]})
	}
	if len(s.Pods) > 1 {
		total := make([]float64, len(s.X))
		for _, p := range s.Pods {
			for j, v := range s.PodRPS[p] {
				total[j] += v
			}
		}
		pods = append(pods, Line{Name: "total", Color: "#777777", Y: total, Dash: true})
	}
	skip := make([]bool, len(s.Has))
	for i, h := range s.Has {
		skip[i] = !h
	}
	id := fmt.Sprintf("run%d", idx)
	return []Chart{
		{ID: id + "-rps", Title: "requests/s per pod", YLabel: "req/s", X: s.X, Lines: pods, Markers: r.Markers},
		{ID: id + "-latency", Title: "latency (http_req_duration)", YLabel: "ms", X: s.X, Markers: r.Markers, Lines: []Line{
			{Name: "p50", Color: palette[0], Y: s.P50, Skip: skip},
			{Name: "p95", Color: palette[1], Y: s.P95, Skip: skip},
		}},
		{ID: id + "-errors", Title: "failed requests/s", YLabel: "errors/s", X: s.X, Markers: r.Markers, Lines: []Line{
			{Name: "errors", Color: "#C00000", Y: s.Errors},
		}},
	}
}

// PodRow is one line of a run's per-pod table.
type PodRow struct {
	Pod      string
	Requests int64
	Share    float64
}

// PodRows lists the run's pods by name with their share of requests.
func (r Run) PodRows() []PodRow {
	var total int64
	for _, n := range r.Summary.PerPod {
		total += n
	}
	rows := make([]PodRow, 0, len(r.Summary.PerPod))
	for p, n := range r.Summary.PerPod {
		share := 0.0
		if total > 0 {
			share = float64(n) / float64(total)
		}
		rows = append(rows, PodRow{p, n, share})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Pod < rows[j].Pod })
	return rows
}

// Render writes the report as one HTML page.
func Render(w io.Writer, r Report) error {
	if r.Generated.IsZero() {
		r.Generated = time.Now()
	}
	if err := page.Execute(w, r); err != nil {
		return fmt.Errorf("report: render: %w", err)
	}
	return nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"cells":   Cells,
	"columns": func() []Column { return Columns },
	"pct":     func(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) + "%" },
	"fmtopt": func(v *float64) string {
		if v == nil || math.IsNaN(*v) {
			return "–"
		}
		return strconv.FormatFloat(*v, 'f', 3, 64)
	},
	"utc": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}).Parse(pageHTML))

// WriteFile renders r into the file at path (created or truncated).
func WriteFile(path string, r Report) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := Render(w, r); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
