package metrics

import (
	"sync"

	"spread.dev/spread/ext"
)

// Outputs are built from the registry alone (output.Params has no
// thresholds), yet k6's JSON output lists each metric's thresholds and
// sub-metrics; so the engine publishes them per registry for outputs to read.
var published sync.Map // *ext.Registry -> *Engine

func publish(reg *ext.Registry, e *Engine) { published.Store(reg, e) }

// SubmetricInfo describes a sub-metric as k6's JSON output does.
type SubmetricInfo struct {
	Name   string            `json:"name"`   // http_req_duration{status:200}
	Suffix string            `json:"suffix"` // status:200
	Tags   map[string]string `json:"tags"`
}

// MetricInfo is what outputs may show about a metric beyond its type.
type MetricInfo struct {
	Thresholds []string        // expressions on the metric itself, as written
	Submetrics []SubmetricInfo // sub-metrics, with or without thresholds
}

// Info returns the thresholds and sub-metrics of metric name in the engine
// built on reg; empty when no engine was built on reg yet.
func Info(reg *ext.Registry, name string) MetricInfo {
	v, ok := published.Load(reg)
	if !ok {
		return MetricInfo{}
	}
	e := v.(*Engine)
	e.mu.Lock()
	defer e.mu.Unlock()
	var info MetricInfo
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
			info.Submetrics = append(info.Submetrics, SubmetricInfo{
				Name: s.key, Suffix: s.key[len(name)+1 : len(s.key)-1], Tags: tags})
		}
	}
	return info
}

// Forget drops what Info knows about reg (for long-lived processes and tests).
func Forget(reg *ext.Registry) { published.Delete(reg) }
