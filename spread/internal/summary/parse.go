package summary

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ParseJSON reads back a handleSummary data object (as Data.JSON wrote it,
// possibly changed by the script), so a script's textSummary(data) can be
// rendered by Text. Threshold values are re-read from the metric values
// where the stat is among them.
func ParseJSON(b []byte) (*Data, error) {
	var d Data
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("summary: read data: %w", err)
	}
	if d.Metrics == nil {
		d.Metrics = map[string]Metric{}
	}
	if len(d.Options.SummaryTrendStats) == 0 {
		d.Options.SummaryTrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}
	}
	for key, m := range d.Metrics {
		if len(m.Thresholds) == 0 {
			continue
		}
		d.ThresholdOrder = append(d.ThresholdOrder, key)
		m.ThresholdOrder = nil
		for expr, r := range m.Thresholds {
			stat := thresholdStat(expr)
			if v, ok := m.Values[stat]; ok {
				r.Stat, r.Value = stat, v
			} else if stat == "med" {
				if v, ok := m.Values["p(50)"]; ok {
					r.Stat, r.Value = stat, v
				}
			}
			m.Thresholds[expr] = r
			m.ThresholdOrder = append(m.ThresholdOrder, expr)
		}
		sort.Strings(m.ThresholdOrder)
		d.Metrics[key] = m
	}
	sort.Strings(d.ThresholdOrder)
	// The start time is not in the object; the pods carry both forms.
	for _, p := range d.Pods {
		if !p.FirstSeen.IsZero() {
			d.Start = p.FirstSeen.Add(-time.Duration(p.FirstSeenMs * float64(time.Millisecond)))
			break
		}
	}
	return &d, nil
}

// thresholdStat is the aggregation method of an expression ("p(95)<500" → "p(95)").
func thresholdStat(expr string) string {
	i := strings.IndexAny(expr, "<>=!")
	if i < 0 {
		return ""
	}
	s := strings.ReplaceAll(strings.TrimSpace(expr[:i]), " ", "")
	if s == "value" {
		return "value"
	}
	return s
}
