// Package executor turns k6-style scenario options into a running schedule:
// it parses `options.scenarios` (and the vus/duration/iterations/stages
// shortcuts), runs the six k6 executors (constant-vus, ramping-vus,
// per-vu-iterations, shared-iterations, constant-arrival-rate,
// ramping-arrival-rate) on VUs borrowed from the engine's pool, and splits
// every scenario across execution segments so that N processes together run
// exactly the whole test.
//
// The engine's side of the contract is small: a Pool of VUs, each able to
// RunIteration. The package never touches JavaScript or metrics itself; it
// tells the engine about dropped iterations and warnings through Hooks, and
// exposes live Progress for progress bars.
//
// Usage:
//
//	cfgs, err := executor.ParseScenarios(rawScenariosJSON) // or FromShortcuts(Shortcuts{...})
//	seg, err := executor.NewSegment("0:1/2", "")           // "" "" = the whole test
//	s, err := executor.New(cfgs, seg, executor.Hooks{Dropped: ...})
//	pool.Init(s.PreInitVUs())                              // k6 initialises these before setup()
//	err = s.Run(ctx, pool)                                 // ctx cancel = hard stop; s.Stop() = graceful stop
//
// While it runs, s.Progress() and s.ActiveVUs() are safe to call from any
// goroutine. A VU's test-wide number (k6/execution vu.idInTest) is
// seg.Global(localIndex)+1 for the local 0-based index: unique across
// the segments of a sequence.
//
// Segments: every count a scenario splits (VUs, iterations, arrival-rate
// starts) is dealt out element by element in a fixed cycle, so the N
// processes of a sequence run disjoint shares that sum exactly to the whole
// test (see Segment). shared-iterations is dealt by VU, so a process with
// no VU of a scenario gets none of its iterations either.
//
// Arrival-rate VUs: as in k6, a start is dropped (dropped_iterations) when
// no VU is free and maxVUs is reached, and VUs beyond preAllocatedVUs are
// initialised one at a time in the background. Unlike k6, a start that finds
// no VU free while maxVUs still allows one waits for the first VU to be
// free (a busy one finishing, or the new one) and runs late, instead of
// being dropped while the VU is made; at most maxVUs minus the initialised
// VUs wait so.
//
// Time: the package uses the time package directly; tests run schedules in
// a testing/synctest bubble, where time is virtual and advances as soon as
// every goroutine is blocked, so they check exact timings without sleeping.
package executor

import (
	"context"
	"time"
)

// Executor names, as k6 spells them.
const (
	ConstantVUs         = "constant-vus"
	RampingVUs          = "ramping-vus"
	PerVUIterations     = "per-vu-iterations"
	SharedIterations    = "shared-iterations"
	ConstantArrivalRate = "constant-arrival-rate"
	RampingArrivalRate  = "ramping-arrival-rate"
)

// DefaultScenarioName is the name of the scenario built from the shortcuts.
const DefaultScenarioName = "default"

// Config is one scenario of `options.scenarios`, with k6's JSON field names.
// Fields that do not apply to Executor are zero. ParseScenarios and
// FromShortcuts fill in k6's defaults, so a returned Config is complete.
type Config struct {
	Name         string            `json:"-"`        // the key in options.scenarios
	Executor     string            `json:"executor"` // one of the executor constants
	StartTime    Duration          `json:"startTime"`
	GracefulStop Duration          `json:"gracefulStop"` // default 30s
	Exec         string            `json:"exec"`         // exported function to run; default "default"
	Env          map[string]string `json:"env"`
	Tags         map[string]string `json:"tags"`

	VUs         int64    `json:"vus"`         // constant-vus, per-vu-iterations, shared-iterations
	Iterations  int64    `json:"iterations"`  // per-vu-iterations (per VU), shared-iterations (total)
	Duration    Duration `json:"duration"`    // constant-vus, constant-arrival-rate
	MaxDuration Duration `json:"maxDuration"` // per-vu-iterations, shared-iterations; default 10m

	Stages           []Stage  `json:"stages"`           // ramping-vus (target = VUs), ramping-arrival-rate (target = rate)
	StartVUs         int64    `json:"startVUs"`         // ramping-vus; default 1
	GracefulRampDown Duration `json:"gracefulRampDown"` // ramping-vus; default 30s

	Rate            int64    `json:"rate"`            // constant-arrival-rate: iterations per TimeUnit
	StartRate       int64    `json:"startRate"`       // ramping-arrival-rate
	TimeUnit        Duration `json:"timeUnit"`        // arrival-rate; default 1s
	PreAllocatedVUs int64    `json:"preAllocatedVUs"` // arrival-rate
	MaxVUs          int64    `json:"maxVUs"`          // arrival-rate; default PreAllocatedVUs
}

// Stage is one step of a ramping executor: reach Target linearly over Duration.
type Stage struct {
	Duration Duration `json:"duration"`
	Target   int64    `json:"target"`
}

// Iteration describes one iteration the engine must run on a VU.
type Iteration struct {
	Scenario string            // scenario name (the `scenario` system tag)
	Executor string            // executor name
	Exec     string            // exported function to call
	Env      map[string]string // scenario env, layered over __ENV (shared: do not modify)
	Tags     map[string]string // scenario tags (shared: do not modify)

	// ScenarioStart is when the scenario started (k6/execution scenario.startTime).
	ScenarioStart time.Time
	// Progress returns how far the scenario is, 0..1, at the time of the
	// call (k6/execution scenario.progress).
	Progress func() float64
	// VUIterationInScenario counts this VU's iterations in this scenario, from 0.
	VUIterationInScenario int64
	// IterationInInstance counts this scenario's iterations in this process, from 0.
	IterationInInstance int64
	// IterationInTest is unique across all execution segments of the test,
	// from 0 (k6/execution scenario.iterationInTest).
	IterationInTest int64
}

// VU is one virtual user as the engine provides it.
type VU interface {
	// RunIteration runs one iteration and returns when it ends. ctx is
	// cancelled when the iteration must stop at once (end of gracefulStop or
	// gracefulRampDown, or a hard abort). Errors (script exceptions) are the
	// engine's to report; the executor only keeps going.
	RunIteration(ctx context.Context, it Iteration) error
}

// ClockedVU is a VU that shares its clock reads with the executor (a
// clock read costs ~70-100 ns on a VM, as much as a whole empty goja
// call): RunIterationAt runs it counting the iteration as started at
// start, a clock the caller read just before (the looping executors pass
// the previous iteration's return, as nothing that waits happens between
// two of a VU's iterations), and returns the clock as of its return,
// read after anything slow it did (logging an exception). Errors are as
// RunIteration's.
type ClockedVU interface {
	VU
	RunIterationAt(ctx context.Context, it Iteration, start time.Time) (now time.Time, err error)
}

// Pool lends VUs to scenarios; one VU runs at most one scenario at a time.
type Pool interface {
	// Get returns an idle VU, initialising a new one if none is idle (the
	// arrival-rate executors grow up to maxVUs this way, off their schedule).
	Get(ctx context.Context) (VU, error)
	// Put gives a VU back once a scenario no longer needs it.
	Put(VU)
}

// Hooks lets the engine observe what only the executors know. Nil funcs are skipped.
type Hooks struct {
	// Dropped reports n iteration starts an arrival-rate scenario could not
	// run because no VU was free and maxVUs was reached (dropped_iterations).
	Dropped func(scenario string, tags map[string]string, n int64)
	// Warn reports a condition worth a log line (e.g. maxVUs reached).
	Warn func(scenario, msg string)
	// VUError reports a Pool.Get failure (e.g. VU init threw); the scenario
	// goes on with the VUs it has.
	VUError func(scenario string, err error)
}

// Progress is a live snapshot of one scenario, for progress bars and k6/execution.
type Progress struct {
	Name, Executor string
	Started, Done  bool
	ActiveVUs      int64         // VUs currently lent to this scenario
	MaxVUs         int64         // most VUs this scenario may hold in this segment
	Iterations     int64         // iterations completed (returned) in this process
	Interrupted    int64         // iterations whose ctx was cancelled before they returned
	Dropped        int64         // dropped iteration starts (arrival-rate)
	Elapsed        time.Duration // since the scenario started
	Total          time.Duration // planned length, without gracefulStop
	Fraction       float64       // 0..1: time-based, or iterations-based for the iteration executors
	Description    string        // k6-like line, e.g. "10 looping VUs for 30s (gracefulStop: 30s)"
}
