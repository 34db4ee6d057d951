package ext

import (
	"fmt"
	"regexp"
	"sort"
	"sync"
	"time"
)

// MetricType is k6's metric kind.
type MetricType int

// Metric kinds, as k6 names them in outputs ("counter", "gauge", ...).
const (
	Counter MetricType = iota
	Gauge
	Rate
	Trend
)

func (t MetricType) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Rate:
		return "rate"
	case Trend:
		return "trend"
	}
	return "unknown"
}

// ValueType says what a metric's values are ("contains" in k6's outputs).
type ValueType int

// Value types: plain numbers, times in milliseconds, bytes.
const (
	Default ValueType = iota
	Time
	Data
)

func (v ValueType) String() string {
	switch v {
	case Time:
		return "time"
	case Data:
		return "data"
	}
	return "default"
}

// Metric is a named series of samples.
type Metric struct {
	Name     string
	Type     MetricType
	Contains ValueType
}

// Sample is one measurement. Value is in milliseconds for Time metrics,
// bytes for Data metrics, 0/1 for Rate metrics.
type Sample struct {
	Metric   *Metric
	Time     time.Time
	Tags     TagSet
	Value    float64
	Metadata map[string]string
}

var metricName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,127}$`)

// Registry holds every metric of a run, built-in and custom.
type Registry struct {
	mu      sync.RWMutex
	metrics map[string]*Metric
}

// NewRegistry returns a registry holding the built-in metrics.
func NewRegistry() *Registry {
	r := &Registry{metrics: map[string]*Metric{}}
	for _, b := range builtins {
		r.metrics[b.Name] = &Metric{Name: b.Name, Type: b.Type, Contains: b.Contains}
	}
	return r
}

// NewMetric returns the metric called name, creating it if needed. Asking
// again with the same type returns the same metric; a different type or
// value type is an error, as is a name k6 would reject.
func (r *Registry) NewMetric(name string, t MetricType, contains ...ValueType) (*Metric, error) {
	if !metricName.MatchString(name) {
		return nil, fmt.Errorf("invalid metric name %q: use letters, digits and underscores, at most 128", name)
	}
	vt := Default
	if len(contains) > 0 {
		vt = contains[0]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.metrics[name]; ok {
		if m.Type != t || m.Contains != vt {
			return nil, fmt.Errorf("metric %q already exists as a %s (%s)", name, m.Type, m.Contains)
		}
		return m, nil
	}
	m := &Metric{Name: name, Type: t, Contains: vt}
	r.metrics[name] = m
	return m, nil
}

// Get returns the metric called name, or nil.
func (r *Registry) Get(name string) *Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.metrics[name]
}

// All returns every metric, sorted by name.
func (r *Registry) All() []*Metric {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Metric, 0, len(r.metrics))
	for _, m := range r.metrics {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names of the built-in metrics (k6's names).
const (
	MetricVUs               = "vus"
	MetricVUsMax            = "vus_max"
	MetricIterations        = "iterations"
	MetricIterationDuration = "iteration_duration"
	MetricDroppedIterations = "dropped_iterations"
	MetricChecks            = "checks"
	MetricGroupDuration     = "group_duration"
	MetricDataSent          = "data_sent"
	MetricDataReceived      = "data_received"

	MetricHTTPReqs              = "http_reqs"
	MetricHTTPReqDuration       = "http_req_duration"
	MetricHTTPReqBlocked        = "http_req_blocked"
	MetricHTTPReqConnecting     = "http_req_connecting"
	MetricHTTPReqTLSHandshaking = "http_req_tls_handshaking"
	MetricHTTPReqSending        = "http_req_sending"
	MetricHTTPReqWaiting        = "http_req_waiting"
	MetricHTTPReqReceiving      = "http_req_receiving"
	MetricHTTPReqFailed         = "http_req_failed"

	// gRPC (k6/net/grpc), k6's names.
	MetricGRPCReqDuration         = "grpc_req_duration"
	MetricGRPCStreams             = "grpc_streams"
	MetricGRPCStreamsMsgsSent     = "grpc_streams_msgs_sent"
	MetricGRPCStreamsMsgsReceived = "grpc_streams_msgs_received"
)

var builtins = []Metric{
	{MetricVUs, Gauge, Default},
	{MetricVUsMax, Gauge, Default},
	{MetricIterations, Counter, Default},
	{MetricIterationDuration, Trend, Time},
	{MetricDroppedIterations, Counter, Default},
	{MetricChecks, Rate, Default},
	{MetricGroupDuration, Trend, Time},
	{MetricDataSent, Counter, Data},
	{MetricDataReceived, Counter, Data},
	{MetricHTTPReqs, Counter, Default},
	{MetricHTTPReqDuration, Trend, Time},
	{MetricHTTPReqBlocked, Trend, Time},
	{MetricHTTPReqConnecting, Trend, Time},
	{MetricHTTPReqTLSHandshaking, Trend, Time},
	{MetricHTTPReqSending, Trend, Time},
	{MetricHTTPReqWaiting, Trend, Time},
	{MetricHTTPReqReceiving, Trend, Time},
	{MetricHTTPReqFailed, Rate, Default},
	{MetricGRPCReqDuration, Trend, Time},
	{MetricGRPCStreams, Counter, Default},
	{MetricGRPCStreamsMsgsSent, Counter, Default},
	{MetricGRPCStreamsMsgsReceived, Counter, Default},
}
