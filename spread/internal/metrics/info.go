package metrics

import (
	"spread.dev/spread/output"
)

// The engine is the run's output.MetricInfoSource: outputs that list a
// metric's thresholds and sub-metrics (k6's JSON output) ask it through
// output.WithMetricInfo, handed over by the run's output manager.
var _ output.MetricInfoSource = (*Engine)(nil)

// MetricInfo returns the thresholds and sub-metrics of metric name.
func (e *Engine) MetricInfo(name string) output.MetricInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	var info output.MetricInfo
	for _, t := range e.targets {
		if t.key == name {
			for _, th := range t.thresholds {
				info.Thresholds = append(info.Thresholds, th.Source)
			}
		}
	}
	if ms := e.metrics[name]; ms != nil {
		for _, s := range ms.subs {
			tags := make(map[string]string, len(s.tags))
			for _, kv := range s.tags {
				tags[kv[0]] = kv[1]
			}
			info.Submetrics = append(info.Submetrics, output.Submetric{
				Name: s.key, Suffix: s.key[len(name)+1 : len(s.key)-1], Tags: tags})
		}
	}
	return info
}
