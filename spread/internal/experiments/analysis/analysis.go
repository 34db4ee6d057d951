// Package analysis reads a run's k6 NDJSON samples in one streaming pass and
// computes what the experiments compare: requests per pod, the share the
// pods added at scale-up got, latency quantiles, errors, and the stall after
// a scale-down.
package analysis

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"spread.dev/spread/internal/report"
)

// Options says which pods and moments matter for a run.
type Options struct {
	// NewPods are the pods added at scale-up.
	NewPods []string
	// CountFrom: new-pod share counts requests from here (the last added
	// pod's readiness plus a settle time) to the end. Zero: no share.
	CountFrom time.Time
	// StallFrom: the stall is the longest request that ended at or after
	// this moment (the first pod leaving at scale-down). Zero: no stall.
	StallFrom time.Time
	// StalledAfter: a request that ended after StallFrom and took at least
	// this long counts as stalled (2s when zero).
	StalledAfter time.Duration
	// Step is the chart resolution (1s when zero).
	Step time.Duration
	// ReadyAt is when the last pod added at scale-up became ready, and
	// Fair the added pods' fair share: with both set, ConvergenceS is
	// measured from ReadyAt.
	ReadyAt time.Time
	Fair    float64
	// RequestMetric is the metric counted as requests per pod ("" =
	// http_reqs). WebSocket rows count ws_msgs_received: the echoes each
	// pod sent back, i.e. the load it carried, since a session makes no
	// HTTP request after its upgrade; their ws_connecting samples (one
	// per session) count as connections opened.
	RequestMetric string
}

// MetricWSMessages is the request unit of WebSocket experiments.
const MetricWSMessages = "ws_msgs_received"

// ConvergedAt is the part of the fair share the added pods must reach over
// ConvergenceWindow for the spread to count as converged (DESIGN.md 4).
const (
	ConvergedAt       = 0.8
	ConvergenceWindow = 2 // seconds
)

// Analysis is the result of one pass over a run's samples.
type Analysis struct {
	Timeline *report.Timeline
	// AfterPerPod counts requests per pod from CountFrom on.
	AfterPerPod map[string]int64
	// NewPodShare is the added pods' share of AfterPerPod (nil without
	// CountFrom or without requests after it).
	NewPodShare *float64
	// LateNewPodShare is the same over the last third of [CountFrom, last request].
	LateNewPodShare *float64
	// StallMs is the longest http_req_duration that ended at or after StallFrom.
	StallMs *float64
	// ConvergenceS is how long after ReadyAt the added pods first served
	// at least ConvergedAt of their fair share over a ConvergenceWindow
	// (the start of the first such window); nil if never.
	ConvergenceS *float64
	// StalledRequests counts the requests that ended after StallFrom and
	// took at least StalledAfter: one per client stuck on a lost connection.
	StalledRequests int64
	// Lines and Points read; BadLines that could not be decoded (skipped).
	Lines, Points, BadLines int64
}

type point struct {
	Type   string `json:"type"`
	Metric string `json:"metric"`
	Data   struct {
		Time  time.Time         `json:"time"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	} `json:"data"`
}

// interesting metrics; other lines are skipped before JSON decoding.
var wanted = [][]byte{[]byte(`"http_reqs"`), []byte(`"http_req_duration"`), []byte(`"http_req_failed"`), []byte(`"http3_connections_opened"`), []byte(`"http_req_connecting"`), []byte(`"grpc_req_duration"`)}

// Read analyses the NDJSON stream r.
func Read(r io.Reader, opt Options) (*Analysis, error) {
	a := &Analysis{Timeline: report.NewTimeline(opt.Step), AfterPerPod: map[string]int64{}}
	if opt.StalledAfter <= 0 {
		opt.StalledAfter = 2 * time.Second
	}
	isNew := map[string]bool{}
	for _, p := range opt.NewPods {
		isNew[p] = true
	}
	// Late-window counts need the run's end, known only at the end: keep
	// per-second counts after CountFrom (bounded by the run's length).
	type sec struct{ all, added int64 }
	perSec := map[int64]*sec{}
	// Convergence needs counts from readiness on (CountFrom adds a settle).
	fromReady := map[int64]*sec{}

	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			a.Lines++
			a.consume(line, opt, isNew, func(t time.Time, added, afterCount bool) {
				bump := func(m map[int64]*sec) {
					k := t.Unix()
					s := m[k]
					if s == nil {
						s = &sec{}
						m[k] = s
					}
					s.all++
					if added {
						s.added++
					}
				}
				if afterCount {
					bump(perSec)
				}
				if !opt.ReadyAt.IsZero() && !t.Before(opt.ReadyAt) {
					bump(fromReady)
				}
			})
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("analysis: read samples: %w", err)
		}
	}
	if !opt.CountFrom.IsZero() {
		var all, added int64
		for p, n := range a.AfterPerPod {
			all += n
			if isNew[p] {
				added += n
			}
		}
		if all > 0 {
			v := float64(added) / float64(all)
			a.NewPodShare = &v
		}
		if _, last, ok := a.Timeline.Span(); ok && last.After(opt.CountFrom) {
			from := last.Add(-last.Sub(opt.CountFrom) / 3).Unix()
			var la, ln int64
			for k, s := range perSec {
				if k >= from {
					la += s.all
					ln += s.added
				}
			}
			if la > 0 {
				v := float64(ln) / float64(la)
				a.LateNewPodShare = &v
			}
		}
	}
	if !opt.ReadyAt.IsZero() && opt.Fair > 0 {
		if _, last, ok := a.Timeline.Span(); ok {
			first := opt.ReadyAt.Unix()
			for k := first; k+ConvergenceWindow-1 <= last.Unix(); k++ {
				var all, added int64
				for j := k; j < k+ConvergenceWindow; j++ {
					if s := fromReady[j]; s != nil {
						all += s.all
						added += s.added
					}
				}
				if all > 0 && float64(added)/float64(all) >= ConvergedAt*opt.Fair {
					v := max(0, time.Unix(k, 0).Sub(opt.ReadyAt).Seconds())
					a.ConvergenceS = &v
					break
				}
			}
		}
	}
	return a, nil
}

func (a *Analysis) consume(line []byte, opt Options, isNew map[string]bool, after func(t time.Time, added, afterCount bool)) {
	relevant := false
	for _, w := range wanted {
		if bytes.Contains(line, w) {
			relevant = true
			break
		}
	}
	if opt.RequestMetric != "" && !relevant {
		relevant = bytes.Contains(line, []byte(`"`+opt.RequestMetric+`"`)) || bytes.Contains(line, []byte(`"ws_connecting"`))
	}
	if !relevant || !bytes.Contains(line, []byte(`"Point"`)) {
		return
	}
	var p point
	if err := json.Unmarshal(line, &p); err != nil {
		a.BadLines++
		return
	}
	if p.Type != "Point" {
		return
	}
	a.Points++
	if p.Metric == "grpc_req_duration" && (opt.RequestMetric == "" || opt.RequestMetric == "http_reqs") {
		// k6 has no grpc_reqs: one grpc_req_duration per call (or stream)
		// is a request, its duration, and a failure unless status 0.
		failed := 0.0
		if st := p.Data.Tags["status"]; st != "" && st != "0" {
			failed = 1
		}
		a.sample("http_reqs", p.Data.Time, 1, p.Data.Tags, opt, isNew, after)
		a.sample("http_req_duration", p.Data.Time, p.Data.Value, p.Data.Tags, opt, isNew, after)
		a.sample("http_req_failed", p.Data.Time, failed, p.Data.Tags, opt, isNew, after)
		return
	}
	if opt.RequestMetric != "" && opt.RequestMetric != "http_reqs" {
		switch p.Metric {
		case opt.RequestMetric:
			p.Metric = "http_reqs" // counted as this run's requests
		case "http_reqs", "http_req_connecting":
			return // not this run's unit (e.g. a script's setup requests)
		case "ws_connecting":
			// One per session opened: the connections column.
			p.Metric = "http_req_connecting"
		}
	}
	a.sample(p.Metric, p.Data.Time, p.Data.Value, p.Data.Tags, opt, isNew, after)
}

// sample counts one point of metric (k6/http's names).
func (a *Analysis) sample(metric string, at time.Time, value float64, tags map[string]string, opt Options, isNew map[string]bool, after func(t time.Time, added, afterCount bool)) {
	a.Timeline.Add(metric, at, value, tags)
	switch metric {
	case "http_reqs":
		pod := tags["pod"]
		afterCount := !opt.CountFrom.IsZero() && !at.Before(opt.CountFrom)
		if afterCount {
			a.AfterPerPod[pod] += int64(value)
		}
		after(at, isNew[pod], afterCount)
	case "http_req_duration":
		if !opt.StallFrom.IsZero() && !at.Before(opt.StallFrom) {
			if a.StallMs == nil || value > *a.StallMs {
				v := value
				a.StallMs = &v
			}
			if value >= float64(opt.StalledAfter)/float64(time.Millisecond) {
				a.StalledRequests++
			}
		}
	}
}
