// Package output defines what a results output is (`--out NAME=ARG`) and
// keeps the registry of outputs by name: json, csv, prometheus-rw,
// web-dashboard, html...
//
// An Output gets every sample of a run (AddSamples) between Start and
// Stop. Anything more it needs it asks for by implementing small optional
// interfaces, which the run's output manager (spread/internal/engine)
// checks for and honours; there are no globals to read:
//
//   - WithMetricInfo: the thresholds and sub-metrics of each metric (what
//     k6's JSON output lists in its "Metric" lines). SetMetricInfo is
//     called before Start.
//   - WithTestTimes: the moment the test itself starts (after setup(),
//     when the executors start) and ends (before teardown()). TestStarted
//     and TestEnded are called once each, in that order, from the run's
//     goroutine; a run that fails before the scenarios calls neither.
//   - WithRunStatus: the run's final status (exit code, cause), once,
//     after the last sample and before Stop.
//
// The order of calls, for each output: SetMetricInfo, Start,
// AddSamples..., TestStarted, AddSamples..., TestEnded, AddSamples...,
// SetRunStatus, Stop. Stop is called on every path once Start succeeded
// (also on errors and interrupts) so files are complete.
//
// A new output registers its Factory from init (extension outputs do the
// same); spread's built-in outputs are listed in one place instead
// (spread/internal/cli/builtins.go).
package output

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// Output receives every sample of a run.
type Output interface {
	// Description is shown at the start of the run ("json (out.json)").
	Description() string
	// Start is called once before the first sample.
	Start() error
	// AddSamples is called from the engine's sample loop; it must not block
	// for long (buffer and flush in the background).
	AddSamples(samples []ext.Sample)
	// Stop flushes and closes; called once, also on interrupt.
	Stop() error
}

// WithMetricInfo is an Output that shows metric metadata beyond the type:
// the run calls SetMetricInfo before Start.
type WithMetricInfo interface {
	Output
	SetMetricInfo(MetricInfoSource)
}

// MetricInfoSource answers what the run knows about a metric.
type MetricInfoSource interface {
	// MetricInfo returns the thresholds and sub-metrics of metric name
	// (empty for a metric without any).
	MetricInfo(name string) MetricInfo
}

// MetricInfo is what outputs may show about a metric beyond its type.
type MetricInfo struct {
	Thresholds []string    // expressions on the metric itself, as written
	Submetrics []Submetric // sub-metrics, with or without thresholds
}

// Submetric describes a sub-metric as k6's JSON output does.
type Submetric struct {
	Name   string            `json:"name"`   // http_req_duration{status:200}
	Suffix string            `json:"suffix"` // status:200
	Tags   map[string]string `json:"tags"`
}

// WithTestTimes is an Output that needs the test's own start and end (the
// scenarios, without setup() and teardown()): --k8s-scale times its steps
// from TestStarted and cancels those not due by TestEnded.
type WithTestTimes interface {
	Output
	TestStarted(at time.Time)
	TestEnded(at time.Time)
}

// WithRunStatus is an Output told how the run ended, before Stop.
type WithRunStatus interface {
	Output
	SetRunStatus(RunStatus)
}

// RunStatus is how a run ended.
type RunStatus struct {
	ExitCode int   // k6's exit code: 0, 99 thresholds, 105 interrupted, 107 exception, 108 aborted...
	Err      error // the cause; nil when the run passed
}

// Params is what an output is built from.
type Params struct {
	Arg        string            // what follows "name=" in --out, may be ""
	Registry   *ext.Registry     // every metric of the run
	Env        map[string]string // process env plus -e values (K6_* settings)
	Stdout     io.Writer
	Stderr     io.Writer
	TestID     string    // a run identifier (e.g. for the prometheus-rw testid label)
	StartTime  time.Time // when the run starts (before setup; see WithTestTimes for the test itself)
	ScriptPath string
}

// Factory builds an output.
type Factory func(Params) (Output, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an output available as --out name[=arg]; call from init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := factories[name]; dup {
		panic("output: " + name + " registered twice")
	}
	factories[name] = f
}

// New builds the output named in an --out value "name[=arg]".
func New(spec string, p Params) (Output, error) {
	name, arg := spec, ""
	for i := 0; i < len(spec); i++ {
		if spec[i] == '=' {
			name, arg = spec[:i], spec[i+1:]
			break
		}
	}
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown output %q (known: %v)", name, Names())
	}
	p.Arg = arg
	o, err := f(p)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	return o, nil
}

// Names lists the registered outputs.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(factories))
	for n := range factories {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
