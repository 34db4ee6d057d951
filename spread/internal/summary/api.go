// Package summary turns a finished run's aggregated metrics into what k6
// users expect at the end of a test: the data object handed to
// handleSummary(), the default end-of-test text (with spread's per-pod
// section) and the --summary-export JSON file.
//
// The metrics engine (spread/internal/metrics) fills a Data; this package only
// renders it, so it has no dependency on the engine.
package summary

import (
	"time"
)

// RunInfo is what the engine knows about the run that the metrics do not.
type RunInfo struct {
	Start       time.Time      // when the test started (first/last seen of pods are relative to it)
	Duration    time.Duration  // test run duration (state.testRunDurationMs)
	Options     map[string]any // consolidated options, for reference (not rendered)
	NoColor     bool           // options.noColor
	IsStdOutTTY bool           // state.isStdOutTTY
	IsStdErrTTY bool           // state.isStdErrTTY
}

// Data is k6's handleSummary() data object plus spread's "pods" key. Its
// JSON form (Data.JSON) is exactly what the script's handleSummary gets.
type Data struct {
	RootGroup Group             `json:"root_group"`
	Options   Options           `json:"options"`
	State     State             `json:"state"`
	Metrics   map[string]Metric `json:"metrics"`
	// Pods holds per-pod request counts from http_reqs samples' `pod` tag,
	// keyed by pod name; empty (not absent) when no sample had a pod.
	Pods map[string]Pod `json:"pods"`
	// Unattributed counts http_reqs samples without a pod tag (errors, or
	// servers that do not name themselves); not part of any share.
	Unattributed int64 `json:"-"`

	// Start is the test start time; not in the JSON (state has the duration).
	Start time.Time `json:"-"`
	// ThresholdOrder lists the thresholded metric keys in script order.
	ThresholdOrder []string `json:"-"`
}

// Group is a k6 group with its checks; the root group has empty name/path.
type Group struct {
	Name   string  `json:"name"`
	Path   string  `json:"path"`
	ID     string  `json:"id"` // md5 hex of Path, as k6
	Groups []Group `json:"groups"`
	Checks []Check `json:"checks"`
}

// Check is one check() name within a group, with its pass/fail counts.
type Check struct {
	Name   string `json:"name"`
	Path   string `json:"path"` // group path + "::" + name
	ID     string `json:"id"`   // md5 hex of Path
	Passes int64  `json:"passes"`
	Fails  int64  `json:"fails"`
}

// Options are the summary-related options as k6 passes them.
type Options struct {
	SummaryTrendStats []string `json:"summaryTrendStats"`
	SummaryTimeUnit   string   `json:"summaryTimeUnit"`
	NoColor           bool     `json:"noColor"`
}

// State describes the run as k6's data.state does.
type State struct {
	IsStdOutTTY       bool    `json:"isStdOutTTY"`
	IsStdErrTTY       bool    `json:"isStdErrTTY"`
	TestRunDurationMs float64 `json:"testRunDurationMs"`
}

// Metric is one metric (or sub-metric, keyed "name{tag:value}") with its
// aggregated values: counter {count, rate}, gauge {value, min, max}, rate
// {rate, passes, fails}, trend {the summaryTrendStats}.
type Metric struct {
	Type       string                     `json:"type"`     // counter, gauge, rate, trend
	Contains   string                     `json:"contains"` // default, time, data
	Values     map[string]float64         `json:"values"`
	Thresholds map[string]ThresholdResult `json:"thresholds,omitempty"`

	// ThresholdOrder lists the Thresholds keys in the order the script gave them.
	ThresholdOrder []string `json:"-"`
}

// ThresholdResult says whether one threshold expression held.
type ThresholdResult struct {
	OK bool `json:"ok"`

	Stat  string  `json:"-"` // the aggregation it compared: p(95), rate, ...
	Value float64 `json:"-"` // that aggregation's value at the last evaluation
}

// Pod is what the run saw of one pod (from http_reqs samples tagged pod).
type Pod struct {
	Requests  int64     `json:"requests"`
	Share     float64   `json:"share"` // Requests / all requests that carried a pod tag
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// FirstSeenMs and LastSeenMs are the same instants in ms since test start.
	FirstSeenMs float64 `json:"first_seen_ms"`
	LastSeenMs  float64 `json:"last_seen_ms"`
	// Failed counts http_req_failed samples with value 1 tagged with this pod.
	Failed int64 `json:"failed"`
	// Duration holds http_req_duration stats for this pod ("med", "p(95)"),
	// in ms; absent when no duration sample carried the pod tag.
	Duration map[string]float64 `json:"http_req_duration,omitempty"`
	// Protos counts requests per proto tag (HTTP/1.1, HTTP/2.0, HTTP/3.0).
	Protos map[string]int64 `json:"protos,omitempty"`
}

// TextOptions control the default end-of-test text.
type TextOptions struct {
	NoColor bool   // plain text, no ANSI colors
	Indent  string // prefix of every line (k6 uses one space)
}
