package summary

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ANSI styles; empty when colors are off.
type palette struct{ green, red, cyan, faint, bold, reset string }

func newPalette(noColor bool) palette {
	if noColor {
		return palette{}
	}
	return palette{green: "\x1b[32m", red: "\x1b[31m", cyan: "\x1b[36m", faint: "\x1b[2m", bold: "\x1b[1m", reset: "\x1b[0m"}
}

func (p palette) paint(style, s string) string {
	if style == "" {
		return s
	}
	return style + s + p.reset
}

func (p palette) mark(ok bool) string {
	if ok {
		return p.paint(p.green, "✓")
	}
	return p.paint(p.red, "✗")
}

// Text returns the default end-of-test summary: thresholds, checks, every
// metric with k6's formats, then the per-pod section when requests carried
// a pod tag.
func Text(d *Data, opts TextOptions) string {
	if d == nil {
		return ""
	}
	noColor := opts.NoColor || d.Options.NoColor
	t := &textWriter{p: newPalette(noColor), indent: opts.Indent, d: d}
	t.thresholds()
	t.checks()
	t.metrics()
	t.pods()
	return t.b.String()
}

type textWriter struct {
	b      strings.Builder
	p      palette
	indent string
	d      *Data
}

func (t *textWriter) line(depth int, s string) {
	if s == "" {
		t.b.WriteString("\n")
		return
	}
	t.b.WriteString(t.indent)
	t.b.WriteString(strings.Repeat("  ", depth))
	t.b.WriteString(s)
	t.b.WriteString("\n")
}

func (t *textWriter) header(title string) {
	t.line(1, t.p.paint(t.p.bold, "█ "+title))
	t.line(0, "")
}

// thresholds lists every threshold under its metric, crossed ones marked ✗.
func (t *textWriter) thresholds() {
	keys := t.d.ThresholdOrder
	if len(keys) == 0 {
		for k, m := range t.d.Metrics {
			if len(m.Thresholds) > 0 {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
	}
	if len(keys) == 0 {
		return
	}
	t.header("THRESHOLDS")
	for _, key := range keys {
		m, ok := t.d.Metrics[key]
		if !ok {
			continue
		}
		allOK := true
		for _, r := range m.Thresholds {
			allOK = allOK && r.OK
		}
		t.line(2, t.p.mark(allOK)+" "+key)
		order := m.ThresholdOrder
		if len(order) == 0 {
			for expr := range m.Thresholds {
				order = append(order, expr)
			}
			sort.Strings(order)
		}
		for _, expr := range order {
			r := m.Thresholds[expr]
			s := "  " + t.p.mark(r.OK) + " '" + expr + "'"
			if r.Stat != "" {
				s += " " + r.Stat + "=" + t.thresholdValue(m, r)
			}
			if !r.OK {
				s += " " + t.p.paint(t.p.red, "(crossed)")
			}
			t.line(2, s)
		}
		t.line(0, "")
	}
}

// thresholdValue renders the value a threshold compared, in the metric's unit.
func (t *textWriter) thresholdValue(m Metric, r ThresholdResult) string {
	switch {
	case m.Type == "rate":
		return formatPercent(r.Value)
	case m.Type == "counter" && r.Stat == "rate":
		return trimFloat(r.Value, 6) + "/s"
	case r.Stat == "count":
		return trimFloat(r.Value, 6)
	}
	return formatValue(r.Value, m.Contains, t.d.Options.SummaryTimeUnit)
}

// checks lists the checks of every group, k6 style.
func (t *textWriter) checks() {
	if !hasChecks(t.d.RootGroup) {
		return
	}
	t.header("CHECKS")
	t.group(t.d.RootGroup, 2)
}

func hasChecks(g Group) bool {
	if len(g.Checks) > 0 {
		return true
	}
	for _, c := range g.Groups {
		if hasChecks(c) {
			return true
		}
	}
	return false
}

func (t *textWriter) group(g Group, depth int) {
	for _, c := range g.Checks {
		t.line(depth, t.p.mark(c.Fails == 0)+" "+c.Name)
		if c.Fails > 0 {
			total := c.Passes + c.Fails
			pct := int(math.Floor(float64(c.Passes) * 100 / float64(total)))
			t.line(depth, t.p.paint(t.p.faint, " ↳  "+strconv.Itoa(pct)+"% — ✓ "+
				strconv.FormatInt(c.Passes, 10)+" / ✗ "+strconv.FormatInt(c.Fails, 10)))
		}
	}
	for _, sub := range g.Groups {
		if len(g.Checks) > 0 || sub.Name != g.Groups[0].Name {
			t.line(0, "")
		}
		t.line(depth, t.p.paint(t.p.bold, "█ "+sub.Name))
		t.line(0, "")
		t.group(sub, depth+1)
	}
	if depth == 2 {
		t.line(0, "")
	}
}

// metricLine is one rendered metric row before alignment.
type metricLine struct {
	label  string   // name, or "{ tag:value }" for a sub-metric
	depth  int      // 0, or 1 for sub-metrics
	mark   string   // ✓/✗ when the metric has thresholds, else ""
	cells  []string // value cells; trends: "stat=value" per stat
	trend  bool
	blankB bool // a blank line and a section title go before this row
	title  string
}

// section of a metric in the summary, by name (numbers spaced so a
// protocol's section can go between two others).
func section(name string) (int, string) {
	switch {
	case name == "checks":
		return 0, ""
	case strings.HasPrefix(name, "http3_"):
		return 20, "HTTP/3"
	case strings.HasPrefix(name, "http_req"):
		return 10, "HTTP"
	case strings.HasPrefix(name, "ws_"):
		return 30, "WEBSOCKET"
	case name == "iteration_duration" || name == "iterations" || name == "dropped_iterations" ||
		name == "vus" || name == "vus_max" || name == "group_duration":
		return 40, "EXECUTION"
	case name == "data_sent" || name == "data_received":
		return 50, "NETWORK"
	}
	return 60, "CUSTOM"
}

// metrics renders every metric, grouped like k6's summary, sub-metrics
// under their parent, trend columns aligned.
func (t *textWriter) metrics() {
	if len(t.d.Metrics) == 0 {
		return
	}
	parents := map[string][]string{}
	var names []string
	for key := range t.d.Metrics {
		if i := strings.IndexByte(key, '{'); i > 0 {
			if _, ok := t.d.Metrics[key[:i]]; ok {
				parents[key[:i]] = append(parents[key[:i]], key)
				continue
			}
		}
		names = append(names, key)
	}
	sort.Slice(names, func(i, j int) bool {
		si, _ := section(baseName(names[i]))
		sj, _ := section(baseName(names[j]))
		if si != sj {
			return si < sj
		}
		return names[i] < names[j]
	})

	var rows []metricLine
	lastSection := -1
	for _, name := range names {
		sec, title := section(baseName(name))
		row := t.row(name, name, 0)
		if sec != lastSection {
			row.blankB = lastSection >= 0
			row.title = title
			lastSection = sec
		}
		rows = append(rows, row)
		subs := parents[name]
		sort.Strings(subs)
		for _, sub := range subs {
			rows = append(rows, t.row(sub, "{ "+sub[len(name)+1:len(sub)-1]+" }", 1))
		}
	}

	// Align: dotted labels to one width, trend stat columns to their widest.
	labelW := 0
	for _, r := range rows {
		if w := utf8.RuneCountInString(r.label) + 2*r.depth; w > labelW {
			labelW = w
		}
	}
	labelW += 3
	var colW []int
	for _, r := range rows {
		if !r.trend {
			continue
		}
		for i, c := range r.cells {
			if i >= len(colW) {
				colW = append(colW, 0)
			}
			if w := utf8.RuneCountInString(c); w > colW[i] {
				colW[i] = w
			}
		}
	}

	t.header("TOTAL RESULTS")
	for _, r := range rows {
		if r.blankB {
			t.line(0, "")
		}
		if r.title != "" {
			t.line(2, t.p.paint(t.p.bold, r.title))
		}
		mark := "  "
		if r.mark != "" {
			mark = r.mark + " "
		}
		lbl := strings.Repeat("  ", r.depth) + r.label
		dots := strings.Repeat(".", labelW-utf8.RuneCountInString(lbl))
		cells := make([]string, len(r.cells))
		for i, c := range r.cells {
			if r.trend && i < len(r.cells)-1 {
				c += strings.Repeat(" ", colW[i]-utf8.RuneCountInString(c))
			}
			cells[i] = c
		}
		t.line(2, mark+lbl+t.p.paint(t.p.faint, dots)+": "+t.colorCells(cells))
	}
	t.line(0, "")
}

func (t *textWriter) colorCells(cells []string) string {
	out := make([]string, len(cells))
	for i, c := range cells {
		if k, v, ok := strings.Cut(c, "="); ok && t.p.cyan != "" {
			pad := len(v) - len(strings.TrimRight(v, " "))
			out[i] = k + "=" + t.p.paint(t.p.cyan, strings.TrimRight(v, " ")) + strings.Repeat(" ", pad)
			continue
		}
		out[i] = t.p.paint(t.p.cyan, c)
	}
	return strings.Join(out, " ")
}

func baseName(key string) string {
	if i := strings.IndexByte(key, '{'); i > 0 {
		return key[:i]
	}
	return key
}

// row renders one metric's value cells by its type.
func (t *textWriter) row(key, label string, depth int) metricLine {
	m := t.d.Metrics[key]
	r := metricLine{label: label, depth: depth}
	if len(m.Thresholds) > 0 {
		ok := true
		for _, th := range m.Thresholds {
			ok = ok && th.OK
		}
		r.mark = t.p.mark(ok)
	}
	v := m.Values
	unit := t.d.Options.SummaryTimeUnit
	switch m.Type {
	case "counter":
		if m.Contains == "data" {
			r.cells = []string{FormatBytes(v["count"]), FormatBytes(v["rate"]) + "/s"}
		} else {
			r.cells = []string{formatValue(v["count"], m.Contains, unit), trimFloat(v["rate"], 6) + "/s"}
		}
	case "gauge":
		r.cells = []string{formatValue(v["value"], m.Contains, unit),
			"min=" + formatValue(v["min"], m.Contains, unit), "max=" + formatValue(v["max"], m.Contains, unit)}
	case "rate":
		r.cells = []string{formatPercent(v["rate"]), "✓ " + trimFloat(v["passes"], 6), "✗ " + trimFloat(v["fails"], 6)}
	case "trend":
		r.trend = true
		for _, st := range t.d.Options.SummaryTrendStats {
			val, ok := v[st]
			if !ok {
				continue
			}
			if st == "count" {
				r.cells = append(r.cells, st+"="+trimFloat(val, 6))
				continue
			}
			r.cells = append(r.cells, st+"="+formatValue(val, m.Contains, unit))
		}
	}
	return r
}

// barWidth is the width in cells of a full (100%) share bar.
const barWidth = 24

// shareBar draws share (0..1) as a bar of block characters, in eighths.
func shareBar(share float64) string {
	if share < 0 || math.IsNaN(share) {
		share = 0
	}
	if share > 1 {
		share = 1
	}
	eighths := int(math.Round(share * barWidth * 8))
	full, rest := eighths/8, eighths%8
	s := strings.Repeat("█", full)
	if rest > 0 {
		s += string([]rune("▏▎▍▌▋▊▉")[rest-1])
	}
	return s
}

// pods renders the per-pod table: which pods served requests, their share,
// and when each was first and last seen, pods in order of first sight.
func (t *textWriter) pods() {
	if len(t.d.Pods) == 0 {
		return
	}
	type podRow struct {
		name string
		pod  Pod
	}
	rows := make([]podRow, 0, len(t.d.Pods))
	var total int64
	for n, p := range t.d.Pods {
		rows = append(rows, podRow{n, p})
		total += p.Requests
	}
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i].pod, rows[j].pod
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		return rows[i].name < rows[j].name
	})
	pods := make([]Pod, len(rows))
	for i, r := range rows {
		pods[i] = r.pod
	}
	serving := maxServingAtOnce(pods)
	fair := 1 / float64(serving)
	t.header("PODS")
	intro := formatCount(float64(total)) + " requests, all served by one pod"
	switch {
	case len(rows) > 1 && serving < len(rows):
		// After a rolling restart or a kill, 1/(pods ever seen) is no
		// one's fair share: count the pods that served at the same time.
		intro = formatCount(float64(total)) + " requests across " + strconv.Itoa(len(rows)) +
			" pods, at most " + strconv.Itoa(serving) + " serving at once (fair share " +
			strconv.FormatFloat(fair*100, 'f', 1, 64) + "% each)"
	case len(rows) > 1:
		intro = formatCount(float64(total)) + " requests across " + strconv.Itoa(len(rows)) +
			" pods (fair share " + strconv.FormatFloat(fair*100, 'f', 1, 64) + "% each)"
	}
	t.line(2, t.p.paint(t.p.faint, intro+"; times from test start"))
	t.line(0, "")

	hasDur, hasFailed := false, false
	for _, r := range rows {
		hasDur = hasDur || r.pod.Duration != nil
		hasFailed = hasFailed || r.pod.Failed > 0
	}
	header := []string{"POD", "REQUESTS", "SHARE", "", "FIRST SEEN", "LAST SEEN"}
	if hasDur {
		header = append(header, "p50", "p95")
	}
	if hasFailed {
		header = append(header, "FAILED")
	}
	var table [][]string
	for _, r := range rows {
		first := r.pod.FirstSeen.Sub(t.d.Start)
		last := r.pod.LastSeen.Sub(t.d.Start)
		if t.d.Start.IsZero() {
			first, last = time.Duration(r.pod.FirstSeenMs*float64(time.Millisecond)), time.Duration(r.pod.LastSeenMs*float64(time.Millisecond))
		}
		row := []string{r.name, formatCount(float64(r.pod.Requests)),
			strconv.FormatFloat(r.pod.Share*100, 'f', 1, 64) + "%", shareBar(r.pod.Share),
			formatOffset(first), formatOffset(last)}
		if hasDur {
			p50, p95 := "-", "-"
			if r.pod.Duration != nil {
				p50 = podDuration(r.pod.Duration["med"], t.d.Options.SummaryTimeUnit)
				p95 = podDuration(r.pod.Duration["p(95)"], t.d.Options.SummaryTimeUnit)
			}
			row = append(row, p50, p95)
		}
		if hasFailed {
			row = append(row, formatCount(float64(r.pod.Failed)))
		}
		table = append(table, row)
	}
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	widths[3] = barWidth
	for _, row := range table {
		for i, c := range row {
			if w := utf8.RuneCountInString(c); w > widths[i] {
				widths[i] = w
			}
		}
	}
	rightAligned := map[int]bool{1: true, 2: true, 4: true, 5: true, 6: true, 7: true, 8: true}
	render := func(cells []string, style func(i int, s string) string) string {
		parts := make([]string, len(cells))
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if rightAligned[i] {
				parts[i] = pad + style(i, c)
			} else {
				parts[i] = style(i, c) + pad
			}
		}
		return strings.TrimRight(strings.Join(parts, "  "), " ")
	}
	t.line(2, render(header, func(_ int, s string) string {
		if s == "" {
			return s
		}
		return t.p.paint(t.p.bold, s)
	}))
	for _, row := range table {
		t.line(2, render(row, func(i int, s string) string {
			if i == 3 {
				return t.p.paint(t.p.cyan, s)
			}
			return s
		}))
	}
	if t.d.Unattributed > 0 {
		t.line(0, "")
		t.line(2, t.p.paint(t.p.faint, formatCount(float64(t.d.Unattributed))+
			" more requests carried no pod (failed before a response, or no pod header/field)"))
	}
	t.line(0, "")
}

// podDuration renders a per-pod latency: in ms with one decimal unless the
// script forced a unit, because pods of one run usually differ by a few ms
// around the same second, which k6's "1s" would hide.
func podDuration(ms float64, unit string) string {
	if unit != "" {
		return FormatDuration(ms, unit)
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}

// maxServingAtOnce is the largest number of pods whose [first seen, last
// seen] spans overlap at one instant (at least 1).
func maxServingAtOnce(pods []Pod) int {
	best := 1
	for _, p := range pods {
		n := 0
		for _, q := range pods {
			if !q.FirstSeen.After(p.FirstSeen) && !q.LastSeen.Before(p.FirstSeen) {
				n++
			}
		}
		best = max(best, n)
	}
	return best
}
