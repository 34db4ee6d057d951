package metrics

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// Engine aggregates a run's samples and evaluates its thresholds.
type Engine struct {
	reg        *ext.Registry
	trendStats []string
	timeUnit   string

	mu      sync.Mutex
	metrics map[string]*metricState
	// byMetric caches metrics[m.Name] by metric pointer: AddSamples runs
	// for ~11 samples per request, and a pointer key hashes much cheaper
	// than the name string. metrics stays the source of truth (two Metric
	// values with one name share a state).
	byMetric map[*ext.Metric]*metricState
	targets  []*target // thresholded metrics and sub-metrics, in script order
	groups   *groupNode
	pods     map[string]*podState
	noPod    float64 // http_reqs without a pod tag
	failed   bool
}

// metricState is one metric's sink and its sub-metrics.
type metricState struct {
	name     string
	typ      ext.MetricType
	contains ext.ValueType
	sink     sink
	subs     []*subState
	special  special // extra bookkeeping, decided once from the name
}

// special says what AddSamples does with a metric besides its sink; kept
// on the state so the per-sample path does not compare metric names.
type special int

const (
	plain special = iota
	checksMetric
	groupDurationMetric
	httpReqsMetric
	httpReqDurationMetric
	httpReqFailedMetric
	grpcReqDurationMetric
)

func specialOf(name string) special {
	switch name {
	case ext.MetricChecks:
		return checksMetric
	case ext.MetricGroupDuration:
		return groupDurationMetric
	case ext.MetricHTTPReqs:
		return httpReqsMetric
	case ext.MetricHTTPReqDuration:
		return httpReqDurationMetric
	case ext.MetricHTTPReqFailed:
		return httpReqFailedMetric
	case ext.MetricGRPCReqDuration:
		return grpcReqDurationMetric
	}
	return plain
}

// subState is a sub-metric: the parent's samples whose tags match.
type subState struct {
	key  string // name{tag:value,...}
	tags [][2]string
	sink sink
}

// target is something thresholds are evaluated on.
type target struct {
	key        string
	typ        ext.MetricType
	sink       sink
	thresholds []*Threshold
}

// podState is what the engine saw of one pod.
type podState struct {
	requests    float64
	first, last time.Time
	failed      float64
	protos      map[string]int64
	duration    *trendSink
}

// expectedResponseSub is the sub-metric k6 always shows under http_req_duration.
var expectedResponseSub = [][2]string{{"expected_response", "true"}}

// NewEngine builds a metrics engine for the metrics of reg. Threshold errors
// name the metric and expression; a threshold on a metric that reg does not
// hold is an error, so create the engine after the init context has run.
func NewEngine(reg *ext.Registry, cfg Config) (*Engine, error) {
	if reg == nil {
		return nil, fmt.Errorf("metrics: nil registry")
	}
	stats := cfg.SummaryTrendStats
	if len(stats) == 0 {
		stats = DefaultTrendStats
	}
	for _, s := range stats {
		if err := validTrendStat(s); err != nil {
			return nil, fmt.Errorf("summaryTrendStats: %w", err)
		}
	}
	switch cfg.SummaryTimeUnit {
	case "", "s", "ms", "us":
	default:
		return nil, fmt.Errorf("summaryTimeUnit %q: want s, ms or us", cfg.SummaryTimeUnit)
	}
	e := &Engine{
		reg:        reg,
		trendStats: append([]string(nil), stats...),
		timeUnit:   cfg.SummaryTimeUnit,
		metrics:    map[string]*metricState{},
		byMetric:   map[*ext.Metric]*metricState{},
		groups:     newGroupNode("", ""),
		pods:       map[string]*podState{},
	}
	specs, err := parseThresholdConfig(cfg.Thresholds)
	if err != nil {
		return nil, err
	}
	for _, sp := range specs {
		name, tags, err := parseMetricKey(sp.Key)
		if err != nil {
			return nil, fmt.Errorf("invalid threshold on %s: %w", sp.Key, err)
		}
		m := reg.Get(name)
		if m == nil {
			return nil, fmt.Errorf("invalid threshold defined on %s; reason: no metric name %q found", sp.Key, name)
		}
		for _, th := range sp.Thresholds {
			if !statAllowed(m.Type, th.Stat) {
				return nil, fmt.Errorf("invalid threshold %q on %s: %s is not valid for a %s metric (use %s)",
					th.Source, sp.Key, th.Stat, m.Type, allowedStats(m.Type))
			}
		}
		ms := e.stateLocked(m)
		t := &target{key: name, typ: m.Type, sink: ms.sink, thresholds: sp.Thresholds}
		if tags != nil {
			sub := e.subLocked(ms, tags)
			t.key, t.sink = sub.key, sub.sink
		}
		e.targets = append(e.targets, t)
	}
	if m := reg.Get(ext.MetricHTTPReqDuration); m != nil {
		e.subLocked(e.stateLocked(m), expectedResponseSub)
	}
	return e, nil
}

func validTrendStat(s string) error {
	switch s {
	case "avg", "min", "med", "max", "count":
		return nil
	}
	if _, ok := percentileOf(s); ok {
		return nil
	}
	return fmt.Errorf("unknown stat %q (want avg, min, med, max, count or p(N))", s)
}

// stateLocked returns the state of metric m, creating it.
func (e *Engine) stateLocked(m *ext.Metric) *metricState {
	if ms := e.byMetric[m]; ms != nil {
		return ms
	}
	ms := e.metrics[m.Name]
	if ms == nil {
		ms = &metricState{name: m.Name, typ: m.Type, contains: m.Contains, sink: newSink(m.Type, m.Contains),
			special: specialOf(m.Name)}
		e.metrics[m.Name] = ms
	}
	e.byMetric[m] = ms
	return ms
}

// subLocked returns the sub-metric of ms with these tags, creating it.
func (e *Engine) subLocked(ms *metricState, tags [][2]string) *subState {
	key := subKey(ms.name, tags)
	for _, s := range ms.subs {
		if s.key == key {
			return s
		}
	}
	s := &subState{key: key, tags: tags, sink: newSink(ms.typ, ms.contains)}
	ms.subs = append(ms.subs, s)
	return s
}

// AddSamples aggregates samples; safe for concurrent use.
func (e *Engine) AddSamples(samples []ext.Sample) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range samples {
		s := &samples[i]
		if s.Metric == nil || math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue // not a measurement; it would poison sums and JSON
		}
		ms := e.stateLocked(s.Metric)
		ms.sink.add(s.Value)
		for _, sub := range ms.subs {
			if matches(s.Tags, sub.tags) {
				sub.sink.add(s.Value)
			}
		}
		switch ms.special {
		case checksMetric:
			if name, ok := s.Tags.Lookup("check"); ok {
				e.groups.check(s.Tags.Get("group"), name, s.Value != 0)
			}
		case groupDurationMetric:
			e.groups.find(s.Tags.Get("group"))
		case httpReqsMetric:
			pod := s.Tags.Get("pod")
			if pod == "" {
				e.noPod += s.Value
				continue
			}
			p := e.podLocked(pod)
			p.requests += s.Value
			if p.first.IsZero() || s.Time.Before(p.first) {
				p.first = s.Time
			}
			if s.Time.After(p.last) {
				p.last = s.Time
			}
			if proto := s.Tags.Get("proto"); proto != "" {
				p.protos[proto]++
			}
		case httpReqDurationMetric:
			if pod := s.Tags.Get("pod"); pod != "" {
				p := e.podLocked(pod)
				if p.duration == nil {
					p.duration = newTrendSink(ext.Time)
				}
				p.duration.add(s.Value)
			}
		case httpReqFailedMetric:
			if pod := s.Tags.Get("pod"); pod != "" && s.Value != 0 {
				e.podLocked(pod).failed++
			}
		case grpcReqDurationMetric:
			// k6 has no grpc_reqs: each gRPC call (or stream) is one
			// grpc_req_duration sample, so it counts as a request to its
			// pod, and a non-OK status as a failure.
			pod := s.Tags.Get("pod")
			if pod == "" {
				e.noPod++
				continue
			}
			p := e.podLocked(pod)
			p.requests++
			if p.first.IsZero() || s.Time.Before(p.first) {
				p.first = s.Time
			}
			if s.Time.After(p.last) {
				p.last = s.Time
			}
			p.protos["grpc"]++
			if p.duration == nil {
				p.duration = newTrendSink(ext.Time)
			}
			p.duration.add(s.Value)
			if st := s.Tags.Get("status"); st != "" && st != "0" {
				p.failed++
			}
		}
	}
}

func (e *Engine) podLocked(name string) *podState {
	p := e.pods[name]
	if p == nil {
		p = &podState{protos: map[string]int64{}}
		e.pods[name] = p
	}
	return p
}

// matches reports whether tags hold every selector pair.
func matches(tags ext.TagSet, sel [][2]string) bool {
	for _, kv := range sel {
		v, ok := tags.Lookup(kv[0])
		if !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// EvaluateThresholds evaluates every threshold against what was aggregated
// so far. failed is true when any threshold does not hold; abort is true
// when a failed threshold has abortOnFail and elapsed >= its delayAbortEval.
func (e *Engine) EvaluateThresholds(elapsed time.Duration) (failed, abort bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evaluateLocked(elapsed)
}

func (e *Engine) evaluateLocked(elapsed time.Duration) (failed, abort bool) {
	for _, t := range e.targets {
		for _, th := range t.thresholds {
			v := t.sink.stat(th.Stat, th.Percentile, elapsed)
			th.evaluated, th.last, th.ok = true, v, th.check(v)
			if !th.ok {
				failed = true
				if th.AbortOnFail && elapsed >= th.DelayAbortEval {
					abort = true
				}
			}
		}
	}
	e.failed = failed
	return failed, abort
}

// ThresholdsFailed reports whether any threshold failed at the last evaluation.
func (e *Engine) ThresholdsFailed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

// HasThresholds reports whether the run defines any threshold.
func (e *Engine) HasThresholds() bool {
	return len(e.targets) > 0
}

// groupNode is a group with its checks, in first-seen order.
type groupNode struct {
	name, path string
	groups     []*groupNode
	checks     []*checkCount
}

type checkCount struct {
	name          string
	passes, fails int64
}

func newGroupNode(name, path string) *groupNode { return &groupNode{name: name, path: path} }

// find returns the group at path ("::a::b"), creating the chain.
func (g *groupNode) find(path string) *groupNode {
	if path == "" {
		return g
	}
	cur := g
	parts := strings.Split(strings.TrimPrefix(path, "::"), "::")
	p := ""
	for _, name := range parts {
		p += "::" + name
		var next *groupNode
		for _, c := range cur.groups {
			if c.name == name {
				next = c
				break
			}
		}
		if next == nil {
			next = newGroupNode(name, p)
			cur.groups = append(cur.groups, next)
		}
		cur = next
	}
	return cur
}

func (g *groupNode) check(path, name string, pass bool) {
	grp := g.find(path)
	var c *checkCount
	for _, x := range grp.checks {
		if x.name == name {
			c = x
			break
		}
	}
	if c == nil {
		c = &checkCount{name: name}
		grp.checks = append(grp.checks, c)
	}
	if pass {
		c.passes++
	} else {
		c.fails++
	}
}

// metricNames returns the metric names with states, sorted.
func (e *Engine) metricNamesLocked() []string {
	names := make([]string, 0, len(e.metrics))
	for n := range e.metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
