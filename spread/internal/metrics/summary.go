package metrics

import (
	"crypto/md5"
	"encoding/hex"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/summary"
)

// podStats are the per-pod http_req_duration stats of the summary.
var podStats = []string{"med", "p(95)"}

// Summary evaluates the thresholds once more over the whole run and returns
// the handleSummary data: metrics that got samples (plus any metric or
// sub-metric a threshold names), checks by group, and per-pod counts.
func (e *Engine) Summary(run summary.RunInfo) *summary.Data {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evaluateLocked(run.Duration)

	d := &summary.Data{
		RootGroup: buildGroup(e.groups),
		Options: summary.Options{
			SummaryTrendStats: append([]string(nil), e.trendStats...),
			SummaryTimeUnit:   e.timeUnit,
			NoColor:           run.NoColor,
		},
		State: summary.State{
			IsStdOutTTY:       run.IsStdOutTTY,
			IsStdErrTTY:       run.IsStdErrTTY,
			TestRunDurationMs: float64(run.Duration) / float64(time.Millisecond),
		},
		Metrics:      map[string]summary.Metric{},
		Pods:         map[string]summary.Pod{},
		Unattributed: int64(e.noPod),
		Start:        run.Start,
	}

	thresholded := map[string]*target{}
	for _, t := range e.targets {
		if prev := thresholded[t.key]; prev != nil {
			// The same key twice in the script: merge for display.
			merged := *prev
			merged.thresholds = append(append([]*Threshold(nil), prev.thresholds...), t.thresholds...)
			thresholded[t.key] = &merged
			continue
		}
		thresholded[t.key] = t
	}
	add := func(key string, typ ext.MetricType, contains ext.ValueType, s sink) {
		t := thresholded[key]
		if s.count() == 0 && t == nil {
			return
		}
		m := summary.Metric{
			Type:     typ.String(),
			Contains: contains.String(),
			Values:   e.values(typ, s, run.Duration),
		}
		if t != nil {
			m.Thresholds = map[string]summary.ThresholdResult{}
			for _, th := range t.thresholds {
				m.Thresholds[th.Source] = summary.ThresholdResult{OK: th.ok, Value: th.last, Stat: th.Stat}
				m.ThresholdOrder = append(m.ThresholdOrder, th.Source)
			}
		}
		d.Metrics[key] = m
	}
	for _, name := range e.metricNamesLocked() {
		ms := e.metrics[name]
		add(name, ms.typ, ms.contains, ms.sink)
		for _, sub := range ms.subs {
			add(sub.key, ms.typ, ms.contains, sub.sink)
		}
	}
	for _, t := range e.targets {
		d.ThresholdOrder = appendUnique(d.ThresholdOrder, t.key)
	}

	var attributed float64
	for _, p := range e.pods {
		attributed += p.requests
	}
	for name, p := range e.pods {
		if p.requests == 0 {
			continue // only durations or failures carried this pod
		}
		sp := summary.Pod{
			Requests:  int64(p.requests),
			FirstSeen: p.first,
			LastSeen:  p.last,
			Failed:    int64(p.failed),
			Protos:    p.protos,
		}
		if attributed > 0 {
			sp.Share = p.requests / attributed
		}
		if !run.Start.IsZero() {
			sp.FirstSeenMs = float64(p.first.Sub(run.Start)) / float64(time.Millisecond)
			sp.LastSeenMs = float64(p.last.Sub(run.Start)) / float64(time.Millisecond)
		}
		if p.duration != nil && p.duration.count() > 0 {
			sp.Duration = map[string]float64{}
			for _, st := range podStats {
				pct, _ := percentileOf(st)
				sp.Duration[st] = p.duration.stat(st, pct, run.Duration)
			}
		}
		d.Pods[name] = sp
	}
	return d
}

// values are a metric's summary values as k6 names them per type.
func (e *Engine) values(typ ext.MetricType, s sink, elapsed time.Duration) map[string]float64 {
	v := map[string]float64{}
	switch typ {
	case ext.Counter:
		v["count"] = s.stat("count", 0, elapsed)
		v["rate"] = s.stat("rate", 0, elapsed)
	case ext.Gauge:
		v["value"] = s.stat("value", 0, elapsed)
		v["min"] = s.stat("min", 0, elapsed)
		v["max"] = s.stat("max", 0, elapsed)
	case ext.Rate:
		v["rate"] = s.stat("rate", 0, elapsed)
		v["passes"] = s.stat("passes", 0, elapsed)
		v["fails"] = s.stat("fails", 0, elapsed)
	case ext.Trend:
		for _, st := range e.trendStats {
			pct, _ := percentileOf(st)
			v[st] = s.stat(st, pct, elapsed)
		}
	}
	return v
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// md5hex is k6's group and check id: the md5 of the path.
func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func buildGroup(g *groupNode) summary.Group {
	out := summary.Group{Name: g.name, Path: g.path, ID: md5hex(g.path),
		Groups: []summary.Group{}, Checks: []summary.Check{}}
	for _, c := range g.groups {
		out.Groups = append(out.Groups, buildGroup(c))
	}
	for _, c := range g.checks {
		p := g.path + "::" + c.name
		out.Checks = append(out.Checks, summary.Check{Name: c.name, Path: p, ID: md5hex(p),
			Passes: c.passes, Fails: c.fails})
	}
	return out
}
