// Package vu is one virtual user: a goja runtime that has run the script's
// init code once and then runs iterations of an exported function on
// demand, with k6's tags, builtin samples and execution state.
package vu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/eventloop"
	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/globals"
	"spread.dev/spread/internal/js"
)

// Host is what a VU asks of the run that owns it, at the moment it needs
// it: the VU gets it at construction (New), so nothing is patched into a
// VU (or Shared) once VUs exist. Every method must be safe from any
// goroutine and must not block for long.
type Host interface {
	// Push receives every sample.
	Push(samples ...ext.Sample)
	// Abort stops the test (test.abort()).
	Abort(reason string)
	// Fail marks the test as failed; it goes on (test.fail()).
	Fail(reason string)
	// SetupData is setup()'s result as JSON ("" before setup or when it
	// returned nothing); a VU reads it once, at its first iteration.
	SetupData() string
	// ActiveVUs is the executors' count of VUs in scenarios
	// (instance.vusActive); a negative value means "not known", and the
	// VUs inside an iteration are counted instead. Whether it is known is
	// asked once, when a VU is made (the engine's scheduler exists
	// before its VUs): a host must not go from known to not known.
	ActiveVUs() int64
	// TestStart is when the executors started, or zero.
	TestStart() time.Time
}

// NopHost is the host of a VU that runs no test (reading the script's
// options): samples go nowhere, nothing is aborted.
type NopHost struct{}

func (NopHost) Push(...ext.Sample)   {}
func (NopHost) Abort(string)         {}
func (NopHost) Fail(string)          {}
func (NopHost) SetupData() string    { return "" }
func (NopHost) ActiveVUs() int64     { return -1 }
func (NopHost) TestStart() time.Time { return time.Time{} }

// Shared is what every VU of a run shares, fixed before the first VU is
// made: the program, the run's options, tags and environment, and the
// counters behind k6/execution.
type Shared struct {
	Program  *js.Program
	Resolver *js.Resolver
	Files    *js.Files
	Logger   *js.Logger
	Registry *ext.Registry
	// Options are the consolidated options (raw JSON per key) modules read.
	Options ext.Options
	// OptionsJS is the same, decoded (handleSummary's data.options).
	OptionsJS map[string]any
	// TestOptions are the options with derived scenarios and defaults,
	// for exec.test.options (OptionsJS when nil).
	TestOptions map[string]any
	// Env is __ENV: the process environment plus -e values.
	Env map[string]string
	// Tags are the run's tags (options.tags and --tag) on every sample.
	Tags ext.TagSet

	// Counters of the instance, read by k6/execution.
	VUsActive             atomic.Int64
	VUsInitialized        atomic.Int64
	IterationsCompleted   atomic.Int64
	IterationsInterrupted atomic.Int64
}

// VU is one virtual user. Its methods other than Push, Tags, Metrics,
// Options and the ids are for its owner's goroutine only.
type VU struct {
	sh      *Shared
	host    Host
	rt      *goja.Runtime
	id      uint64
	idTest  uint64
	exports *goja.Object

	baseCtx context.Context
	// ctx is the running iteration's context (nil: baseCtx); modules may
	// read it from their own goroutines. Between the iterations of a
	// scenario it stays the scenario's (as a k6 VU's context lasts for
	// its activation): two atomic stores per iteration were ~5% of an
	// empty one.
	ctx atomic.Pointer[ctxBox]
	// countActive: the host does not know the active VUs, so the VU
	// counts itself in Shared.VUsActive while in an iteration.
	countActive bool

	// started is false in the init context.
	started atomic.Bool

	mu     sync.Mutex // guards tags, vuTags, metadata, group, scenario (read from module goroutines)
	tags   ext.TagSet
	tagBuf []ext.Tag // rebuildTagsLocked's scratch list
	vuTags map[string]string
	meta   map[string]string // exec.vu.metrics.metadata, on every sample the VU pushes
	group  string
	// scenario is the running iteration as the executor handed it: the
	// one copy of the execution state that ext.State and k6/execution
	// read (issue 10: it was copied three times).
	scenario    executor.Iteration
	envOf       string // the scenario whose env __ENV holds
	iterInst    int64
	onEnd       []func()
	setupVal    goja.Value
	setupLoaded bool
	fns         map[string]goja.Callable // exported functions by name
	lastName    string                   // the last iteration's function, and its name
	lastFn      goja.Callable
	args        [1]goja.Value // the iteration's argument (setup data)

	iterMetric, iterDurMetric *ext.Metric // iterations, iteration_duration
	iter                      int64       // __ITER of the running iteration
	iterSet                   goja.Value  // a value the script assigned to __ITER, until the next iteration
	iterCtx                   *ctxBox     // the last iteration's context, boxed

	// collector is host as a Collector (nil: samples go to host.Push);
	// out is the buffer it drains (guarded by mu), holding says out is
	// not empty (read without the lock by the drain).
	collector Collector
	out       outbox
	holding   atomic.Bool

	loop    *eventloop.Loop // callbacks queued back onto this VU (promises, timers, async modules)
	watch   watch           // interrupts the runtime when a call's context ends
	release func() bool     // v.releaseWatch, bound once
}

// ErrInterrupted is what an iteration returns when its context ended
// before it finished (gracefulStop expired, hard stop).
// It is the event loop's, so a wait cut short is the same error.
var ErrInterrupted = eventloop.ErrInterrupted

// New creates VU idInInstance (1-based; 0 is the setup/teardown VU) of
// host and runs the script's init code in it.
func New(ctx context.Context, sh *Shared, host Host, idInInstance, idInTest uint64) (*VU, error) {
	rt := goja.New()
	rt.SetFieldNameMapper(goja.TagFieldNameMapper("js", true))
	v := &VU{sh: sh, host: host, rt: rt, id: idInInstance, idTest: idInTest, baseCtx: ctx, vuTags: map[string]string{},
		fns: map[string]goja.Callable{}}
	v.tags = sh.Tags
	v.countActive = host.ActiveVUs() < 0
	v.release = v.releaseWatch
	v.loop = eventloop.New(rt)

	module := rt.NewObject()
	exports := rt.NewObject()
	_ = module.Set("exports", exports)
	g := rt.GlobalObject()
	_ = g.Set("module", module)
	_ = g.Set("exports", exports)
	_ = g.Set("require", js.Require(rt, sh.Resolver, v))
	_ = g.Set("__VU", idInInstance)
	v.defineIter(g)
	v.setEnv(nil)
	_ = g.Set("global", g) // Node's name; globalThis is goja's own
	// timers, crypto, TextEncoder... (see package globals), and the
	// engine's console and open(): all built on first use, as many
	// scripts use none of them.
	globals.Install(v, append(globals.List(),
		globals.Global{Names: []string{"console"}, New: func(ext.VU) map[string]any {
			return map[string]any{"console": js.Console(rt, sh.Logger, v.logFields)}
		}},
		globals.Global{Names: []string{"open"}, New: func(ext.VU) map[string]any {
			return map[string]any{"open": js.Open(rt, sh.Files, func() bool { return !v.started.Load() })}
		}}))

	release := v.interruptOn(ctx)
	err := sh.Program.Run(rt)
	err = v.settle(ctx, nil, err)
	release()
	if err != nil {
		return nil, &ScriptError{Err: err, Phase: "init"}
	}
	o := module.Get("exports")
	if sh.Program.TopLevelAwait && o != nil {
		// the init context ran the body as an async function: its
		// promise (settled by now, the loop has run) holds the exports.
		release := v.interruptOn(ctx)
		o, err = v.settleValue(ctx, o.ToObject(rt).Get(js.TLAExport), nil)
		release()
		if err != nil {
			return nil, &ScriptError{Err: err, Phase: "init"}
		}
	}
	if o == nil || goja.IsUndefined(o) || goja.IsNull(o) {
		return nil, &ScriptError{Err: errors.New("the script exports nothing"), Phase: "init"}
	}
	v.exports = o.ToObject(rt)
	if idInInstance > 0 {
		// Only the test's VUs count (k6: vus_max); VU 0, which reads the
		// options and runs setup()/teardown(), does not.
		sh.VUsInitialized.Add(1)
	}
	// Collected only once init succeeded: the host keeps a drain for the
	// whole run, and a VU whose init failed must not stay reachable. The
	// init context pushes no samples of its own (k6 forbids it), and
	// anything pushed so far went to host.Push.
	if c, ok := host.(Collector); ok {
		v.mu.Lock()
		v.collector = c
		if d, ok := host.(Direct); ok {
			v.out.direct = d.Direct()
		}
		v.mu.Unlock()
		c.Collect(v.drainSamples)
	}
	return v, nil
}

// ScriptError is an exception thrown by the script; Error() gives the
// message with the JS stack in the user's files.
type ScriptError struct {
	Err   error
	Phase string // "init", "setup", "teardown", "handleSummary", an exec name
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("%s: %s", e.Phase, js.ErrorText(e.Err))
}

func (e *ScriptError) Unwrap() error { return e.Err }

// ID is __VU, the VU's 1-based id in this instance.
func (v *VU) ID() uint64 { return v.id }

// Exports returns the script's exports (options, default, setup, ...).
func (v *VU) Exports() *goja.Object { return v.exports }

// Export returns the export called name, or nil.
func (v *VU) Export(name string) goja.Value {
	e := v.exports.Get(name)
	if e == nil || goja.IsUndefined(e) || goja.IsNull(e) {
		return nil
	}
	return e
}

// HasFunction says whether the script exports a function called name.
func (v *VU) HasFunction(name string) bool {
	_, ok := goja.AssertFunction(v.Export(name))
	return ok
}

// OptionsJSON returns the script's `export const options` as JSON (with
// JSON.stringify, so scenario order is kept), or nil.
func (v *VU) OptionsJSON() ([]byte, error) {
	o := v.Export("options")
	if o == nil {
		return nil, nil
	}
	s, err := v.JSON(o)
	if err != nil {
		return nil, fmt.Errorf("options: %w", err)
	}
	if s == "" {
		return nil, nil
	}
	return []byte(s), nil
}

// defineIter makes __ITER a global accessor reading v.iter. Setting a
// global data property before every iteration (Runtime.Set) was ~2% of an
// iteration's CPU with k6/http, and most scripts never read __ITER. The
// setter keeps an assignment by the script until the next iteration, as
// a plain global would be until the engine overwrote it.
//
// One function is both the getter (called with no argument) and the setter
// (called with the value): a native function object less per VU.
func (v *VU) defineIter(g *goja.Object) {
	rt := v.rt
	acc := rt.ToValue(func(c goja.FunctionCall) goja.Value {
		if len(c.Arguments) > 0 { // the setter
			v.iterSet = c.Arguments[0]
			return goja.Undefined()
		}
		if v.iterSet != nil {
			return v.iterSet
		}
		return rt.ToValue(v.iter)
	})
	_ = g.DefineAccessorProperty("__ITER", acc, acc, goja.FLAG_TRUE, goja.FLAG_TRUE)
}

// logFields are the extra fields of this VU's console lines.
func (v *VU) logFields() []js.Field {
	fs := []js.Field{{Key: "vu", Value: v.id}}
	if v.started.Load() && v.scenario.Scenario != "" {
		fs = append(fs, js.Field{Key: "scenario", Value: v.scenario.Scenario}, js.Field{Key: "iter", Value: v.scenario.VUIterationInScenario})
	}
	return fs
}

// setEnv sets __ENV to the run's env overlaid with extra (scenario env);
// see envObject.
func (v *VU) setEnv(extra map[string]string) {
	_ = v.rt.Set("__ENV", newEnv(v.rt, v.sh.Env, extra))
}

// ctxBox lets a context live in an atomic.Pointer.
type ctxBox struct{ ctx context.Context }

// settle finishes a JS call that returned res, err: when it started
// anything (callbacks, timers, a rejected promise) the event loop runs
// until nothing is pending. It returns the call's result (a promise's
// value once fulfilled) and the first error.
func (v *VU) settle(ctx context.Context, res goja.Value, err error) error {
	_, err = v.settleValue(ctx, res, err)
	return err
}

func (v *VU) settleValue(ctx context.Context, res goja.Value, err error) (goja.Value, error) {
	if err != nil {
		if !v.loop.Idle() {
			v.loop.Reset()
		}
		return nil, err
	}
	return v.loop.Wait(ctx, res)
}
