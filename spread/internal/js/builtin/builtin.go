// Package builtin implements the script modules the engine provides
// itself: `k6` (check, sleep, group, fail), `k6/metrics` (Counter, Gauge,
// Rate, Trend) and `k6/execution`.
package builtin

import (
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
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
	// Iteration is the running iteration as the executor handed it (the
	// zero value in setup and teardown): the one source of the scenario
	// fields.
	Iteration() executor.Iteration
	VUsActive() int64
	VUsInitialized() int64
	IterationsCompleted() int64
	IterationsInterrupted() int64
	TestStart() time.Time
	// Abort stops the whole test (exit code 108) with reason.
	Abort(reason string)
	// Fail marks the test as failed (exit code 110); it goes on.
	Fail(reason string)
	// Options are the consolidated options as a JS-friendly value.
	Options() map[string]any
	// VUTags are the VU's tags (exec.vu.metrics.tags), mutable by the script.
	VUTags() map[string]string
	// SetVUTag sets one tag on the VU for later samples ("" removes it).
	SetVUTag(k, v string)
	// VUMetadata is exec.vu.metrics.metadata: sample metadata (not tags,
	// so no new time series), mutable by the script.
	VUMetadata() map[string]string
	// SetVUMetadata sets (or with del removes) one metadata entry.
	SetVUMetadata(k, v string, del bool)
}

// Modules maps the builtin import paths to their module.
func Modules() map[string]ext.Module {
	return map[string]ext.Module{
		"k6":           k6Module{},
		"k6/metrics":   metricsModule{},
		"k6/execution": executionModule{},
	}
}
