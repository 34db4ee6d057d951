package summary

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
)

// JSON returns the object passed to handleSummary(data), as JSON.
func (d *Data) JSON() ([]byte, error) {
	c := *d
	c.Metrics = finiteMetrics(d.Metrics)
	if c.Pods == nil {
		c.Pods = map[string]Pod{}
	}
	b, err := marshal(&c, "")
	if err != nil {
		return nil, fmt.Errorf("summary: encode data: %w", err)
	}
	return b, nil
}

// finiteMetrics replaces NaN and infinite values (from odd custom samples),
// which JSON cannot carry, by 0.
func finiteMetrics(in map[string]Metric) map[string]Metric {
	out := make(map[string]Metric, len(in))
	for k, m := range in {
		vals := make(map[string]float64, len(m.Values))
		for s, v := range m.Values {
			vals[s] = finite(v)
		}
		m.Values = vals
		out[k] = m
	}
	return out
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Export returns the --summary-export file: k6's legacy export format
// (root_group with groups and checks keyed by name; metrics with their values
// flattened, rates as {passes, fails, value}, thresholds as "expr": failed)
// plus spread's "pods".
func Export(d *Data) ([]byte, error) {
	metrics := map[string]map[string]any{}
	for key, m := range finiteMetrics(d.Metrics) {
		out := map[string]any{}
		switch m.Type {
		case "rate":
			out["passes"] = m.Values["passes"]
			out["fails"] = m.Values["fails"]
			out["value"] = m.Values["rate"]
		default:
			for s, v := range m.Values {
				out[s] = v
			}
		}
		if len(m.Thresholds) > 0 {
			th := map[string]bool{}
			for expr, r := range m.Thresholds {
				th[expr] = !r.OK // the legacy format says whether it was crossed
			}
			out["thresholds"] = th
		}
		metrics[key] = out
	}
	pods := d.Pods
	if pods == nil {
		pods = map[string]Pod{}
	}
	doc := map[string]any{
		"root_group": legacyGroup(d.RootGroup),
		"metrics":    metrics,
		"pods":       pods,
	}
	b, err := marshal(doc, "    ")
	if err != nil {
		return nil, fmt.Errorf("summary: encode export: %w", err)
	}
	return b, nil
}

// legacyGroup is a group in the legacy export: groups and checks keyed by name.
func legacyGroup(g Group) map[string]any {
	groups := map[string]any{}
	for _, c := range g.Groups {
		groups[c.Name] = legacyGroup(c)
	}
	checks := map[string]any{}
	for _, c := range g.Checks {
		checks[c.Name] = c
	}
	return map[string]any{"name": g.Name, "path": g.Path, "id": g.ID, "groups": groups, "checks": checks}
}

// marshal encodes v without HTML escaping, so "p(95)<500" stays readable.
func marshal(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if indent == "" {
		return bytes.TrimRight(buf.Bytes(), "\n"), nil
	}
	return buf.Bytes(), nil
}
