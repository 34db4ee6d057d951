package prometheusrw

import (
	"fmt"
	"strconv"
	"strings"

	"spread.dev/spread/ext"
)

// Prefix starts every series name, as in k6's remote-write output.
const Prefix = "k6_"

// TrendStat is one statistic of a trend sent as a gauge (K6_PROMETHEUS_RW_TREND_STATS).
type TrendStat struct {
	Name   string  // as written: "p(99)", "avg", "med", ...
	Suffix string  // series suffix: "p99", "avg", "med", ...
	Pct    float64 // percentile for p(x), 50 for med
}

// ParseTrendStats reads a comma-separated stat list such as "p(95),p(99.9),avg".
func ParseTrendStats(s string) ([]TrendStat, error) {
	var out []TrendStat
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		name := strings.TrimSpace(part)
		if name == "" {
			continue
		}
		st := TrendStat{Name: name, Suffix: name}
		switch name {
		case "avg", "min", "max", "count", "sum":
		case "med":
			st.Pct = 50
		default:
			if !strings.HasPrefix(name, "p(") || !strings.HasSuffix(name, ")") {
				return nil, fmt.Errorf("trend stat %q: want avg, min, max, med, count, sum or p(N)", name)
			}
			num := name[2 : len(name)-1]
			p, err := strconv.ParseFloat(num, 64)
			if err != nil || p < 0 || p > 100 {
				return nil, fmt.Errorf("trend stat %q: percentile must be a number in 0..100", name)
			}
			st.Pct = p
			// k6's naming: p(95) → p95, p(99.9) → p999.
			st.Suffix = "p" + strings.ReplaceAll(num, ".", "")
		}
		if !seen[st.Suffix] {
			seen[st.Suffix] = true
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no trend stats in %q", s)
	}
	return out, nil
}

// SeriesNames returns the series names a metric becomes: one for counters
// (`_total`), rates (`_rate`) and gauges, one per stat for trends, or one
// native histogram (`_seconds` for time trends).
func SeriesNames(m *ext.Metric, stats []TrendStat, native bool) []string {
	base := Prefix + SanitizeName(m.Name)
	switch m.Type {
	case ext.Counter:
		return []string{base + "_total"}
	case ext.Rate:
		return []string{base + "_rate"}
	case ext.Gauge:
		return []string{base}
	}
	if native {
		if m.Contains == ext.Time {
			return []string{base + "_seconds"}
		}
		return []string{base}
	}
	out := make([]string, 0, len(stats))
	for _, st := range stats {
		out = append(out, base+"_"+st.Suffix)
	}
	return out
}

// SanitizeName turns s into a valid Prometheus metric or label name:
// characters other than [a-zA-Z0-9_] become '_', and a leading digit gets
// a '_' in front.
func SanitizeName(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if i == 0 && r >= '0' && r <= '9' {
			b.WriteByte('_')
		}
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
