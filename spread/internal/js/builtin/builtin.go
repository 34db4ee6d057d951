// Package builtin implements the script modules the engine provides
// itself: `k6` (check, sleep, group, fail), `k6/metrics` (Counter, Gauge,
// Rate, Trend) and `k6/execution`.
package builtin

import (
	"time"

	"spread.dev/spread/ext"
)

// VU is what the builtin modules need from a VU beyond ext.VU.
type VU interface {
	ext.VU
	// EnterGroup makes name the current group (nested under the current
	// one) and returns its path and a function restoring the parent.
	EnterGroup(name string) (path string, leave func())
	// Exec describes the VU's execution for k6/execution.
	Exec() Exec
}

// Exec is the live execution state k6/execution reads; every method is
// called on the VU's goroutine when a script reads a property.
type Exec interface {
	VUIDInInstance() uint64
	VUIDInTest() uint64
	IterationInInstance() int64
	IterationInScenario() int64
	Scenario() ScenarioInfo
	VUsActive() int64
	VUsInitialized() int64
	IterationsCompleted() int64
	IterationsInterrupted() int64
	TestStart() time.Time
	// Abort stops the whole test (exit code 108) with reason.
	Abort(reason string)
	// Options are the consolidated options as a JS-friendly value.
	Options() map[string]any
	// VUTags are the VU's user tags (exec.vu.tags), mutable by the script.
	VUTags() map[string]string
	// SetVUTag sets one tag on the VU for later samples.
	SetVUTag(k, v string)
}

// ScenarioInfo is the scenario the VU is running now.
type ScenarioInfo struct {
	Name                string
	Executor            string
	StartTime           time.Time
	IterationInInstance int64
	IterationInTest     int64
	Progress            float64
}

// Modules maps the builtin import paths to their module.
func Modules() map[string]ext.Module {
	return map[string]ext.Module{
		"k6":           k6Module{},
		"k6/metrics":   metricsModule{},
		"k6/execution": executionModule{},
	}
}
