package report

import (
	"sort"
	"time"
)

// Metric names the timeline reads (k6's, see DESIGN.md section 4).
const (
	metricReqs     = "http_reqs"
	metricDuration = "http_req_duration"
	metricFailed   = "http_req_failed"
	metricH3Conns  = "http3_connections_opened"
	metricConnect  = "http_req_connecting"
)

// Timeline aggregates a run's HTTP samples into fixed time steps (requests
// per pod, errors, latency quantiles) plus run totals. Memory grows with the
// run's length and pod count, never with the number of requests.
type Timeline struct {
	Step time.Duration

	steps      map[int64]*step
	perPod     map[string]int64
	latency    *Histogram
	requests   int64
	failed     int64
	rateCount  int64 // http_req_failed samples seen
	h3Conns    float64
	connects   int64 // requests that opened a connection (http_req_connecting > 0)
	first      time.Time
	last       time.Time
	sawRequest bool
}

type step struct {
	perPod  map[string]int64
	failed  int64
	latency *Histogram
}

// NewTimeline returns an empty timeline with the given step (1s if zero).
func NewTimeline(stepSize time.Duration) *Timeline {
	if stepSize <= 0 {
		stepSize = time.Second
	}
	return &Timeline{Step: stepSize, steps: map[int64]*step{}, perPod: map[string]int64{}, latency: NewHistogram()}
}

func (t *Timeline) stepAt(at time.Time) *step {
	k := at.UnixNano() / int64(t.Step)
	s := t.steps[k]
	if s == nil {
		s = &step{perPod: map[string]int64{}, latency: NewHistogram()}
		t.steps[k] = s
	}
	return s
}

// Add records one sample of metric with its time, value and tags; metrics
// the report does not chart are ignored.
func (t *Timeline) Add(metric string, at time.Time, value float64, tags map[string]string) {
	switch metric {
	case metricReqs:
		pod := tags["pod"]
		if pod == "" {
			pod = "(none)"
		}
		n := int64(value)
		t.requests += n
		t.perPod[pod] += n
		t.stepAt(at).perPod[pod] += n
		if !t.sawRequest || at.Before(t.first) {
			t.first = at
		}
		if !t.sawRequest || at.After(t.last) {
			t.last = at
		}
		t.sawRequest = true
	case metricDuration:
		t.latency.Add(value)
		t.stepAt(at).latency.Add(value)
	case metricFailed:
		t.rateCount++
		if value != 0 {
			t.failed++
			t.stepAt(at).failed++
		}
	case metricH3Conns:
		t.h3Conns += value
	case metricConnect:
		// k6 reports 0 for a request on a reused connection, so a positive
		// value marks a request that dialled.
		if value > 0 {
			t.connects++
		}
	}
}

// Requests is the number of HTTP requests seen.
func (t *Timeline) Requests() int64 { return t.requests }

// Failed is the number of failed requests (http_req_failed = 1).
func (t *Timeline) Failed() int64 { return t.failed }

// ErrorRate is failed / all http_req_failed samples (0 without samples).
func (t *Timeline) ErrorRate() float64 {
	if t.rateCount == 0 {
		return 0
	}
	return float64(t.failed) / float64(t.rateCount)
}

// PerPod returns requests by pod (a copy).
func (t *Timeline) PerPod() map[string]int64 {
	out := make(map[string]int64, len(t.perPod))
	for k, v := range t.perPod {
		out[k] = v
	}
	return out
}

// Latency is the histogram of every http_req_duration value.
func (t *Timeline) Latency() *Histogram { return t.latency }

// H3ConnectionsOpened is the sum of http3_connections_opened samples.
func (t *Timeline) H3ConnectionsOpened() float64 { return t.h3Conns }

// Connects is the number of requests that opened a new connection (their
// http_req_connecting was positive).
func (t *Timeline) Connects() int64 { return t.connects }

// Span returns the times of the first and last http_reqs sample.
func (t *Timeline) Span() (first, last time.Time, ok bool) {
	return t.first, t.last, t.sawRequest
}

// Series is a timeline cut into steps for charts, x in seconds from Origin.
type Series struct {
	Origin time.Time
	StepS  float64
	X      []float64            // start of each step, seconds from Origin
	PodRPS map[string][]float64 // requests/s per pod
	Pods   []string             // pods in order of first appearance
	P50    []float64            // ms; NaN-free (0 where no samples)
	P95    []float64
	Errors []float64 // failed requests/s
	Has    []bool    // whether a step had latency samples
}

// Series returns the charted series from origin (the run's start; the
// first sample's step when zero) to the last step with data.
func (t *Timeline) Series(origin time.Time) Series {
	stepNs := int64(t.Step)
	keys := make([]int64, 0, len(t.steps))
	for k := range t.steps {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	s := Series{StepS: t.Step.Seconds(), PodRPS: map[string][]float64{}}
	if len(keys) == 0 {
		s.Origin = origin
		return s
	}
	if origin.IsZero() {
		origin = time.Unix(0, keys[0]*stepNs)
	}
	s.Origin = origin
	startK := origin.UnixNano() / stepNs
	if keys[0] < startK {
		startK = keys[0]
	}
	endK := keys[len(keys)-1]
	firstSeen := map[string]int64{}
	for _, k := range keys {
		for pod := range t.steps[k].perPod {
			if _, ok := firstSeen[pod]; !ok {
				firstSeen[pod] = k
				s.Pods = append(s.Pods, pod)
			}
		}
	}
	sort.SliceStable(s.Pods, func(i, j int) bool {
		a, b := firstSeen[s.Pods[i]], firstSeen[s.Pods[j]]
		if a != b {
			return a < b
		}
		return s.Pods[i] < s.Pods[j]
	})
	// Steps are aligned on the clock, not on the run: the first one starts
	// before the origin and the last one ends after the last sample. Both
	// are partial, and a rate over the full step width would draw a dip at
	// each end of every line (and an x before 0). So x is the start of the
	// covered part and rates are per covered second, at least a quarter of
	// a step so a sliver cannot blow a rate up.
	_, last, _ := t.Span()
	from, to := origin.UnixNano(), last.UnixNano()
	for k := startK; k <= endK; k++ {
		lo, hi := k*stepNs, (k+1)*stepNs
		if k == startK && from > lo && from < hi {
			lo = from
		}
		if k == endK && to > lo && to < hi {
			hi = to
		}
		width := max(hi-lo, stepNs/4)
		perSec := 1e9 / float64(width)
		x := float64(lo-origin.UnixNano()) / 1e9
		s.X = append(s.X, x)
		st := t.steps[k]
		for _, pod := range s.Pods {
			v := 0.0
			if st != nil {
				v = float64(st.perPod[pod]) * perSec
			}
			s.PodRPS[pod] = append(s.PodRPS[pod], v)
		}
		if st == nil || st.latency.Count() == 0 {
			s.P50 = append(s.P50, 0)
			s.P95 = append(s.P95, 0)
			s.Has = append(s.Has, false)
		} else {
			s.P50 = append(s.P50, st.latency.Quantile(0.50))
			s.P95 = append(s.P95, st.latency.Quantile(0.95))
			s.Has = append(s.Has, true)
		}
		e := 0.0
		if st != nil {
			e = float64(st.failed) * perSec
		}
		s.Errors = append(s.Errors, e)
	}
	return s
}
