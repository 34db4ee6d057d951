// Package metrics is spread's metrics engine: it aggregates every sample of
// a run into per-metric sinks (HDR histograms for trends, so memory stays
// bounded), keeps the sub-metrics thresholds refer to, evaluates thresholds
// in k6's syntax and produces the summary data.
//
// A run uses it like this (after the init context, so custom metrics exist):
//
//	eng, err := metrics.NewEngine(reg, metrics.Config{Thresholds: raw})
//	eng.AddSamples(samples)                          // from the sample pump
//	failed, abort := eng.EvaluateThresholds(elapsed) // every ~2 s
//	data := eng.Summary(summary.RunInfo{Start: start, Duration: elapsed})
//	exitCode99 := eng.ThresholdsFailed()
package metrics

import (
	"encoding/json"
)

// Config is what the engine needs from the run's options.
type Config struct {
	// Thresholds is options.thresholds as the script gave it:
	// {"metric{tag:v}": "expr" | ["expr", {threshold, abortOnFail, delayAbortEval}], ...}.
	Thresholds json.RawMessage
	// SummaryTrendStats are the trend stats of the summary; nil means
	// k6's default avg, min, med, max, p(90), p(95).
	SummaryTrendStats []string
	// SummaryTimeUnit forces a time unit in the text summary ("s", "ms", "us"); "" = auto.
	SummaryTimeUnit string
}

// DefaultTrendStats are k6's default summaryTrendStats.
var DefaultTrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)"}
