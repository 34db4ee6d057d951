package vu

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
)

// RunIteration runs one iteration of it.Exec (the executors' contract):
// the function, then the VU's event loop until the promise it returned
// has settled and nothing it started is pending. An exception or an
// unhandled rejection is logged with its JS stack and returned; the
// iteration's samples are still emitted and it counts as interrupted, as
// in k6. An iteration cut short by ctx returns ErrInterrupted and emits no
// iteration samples.
func (v *VU) RunIteration(ctx context.Context, it executor.Iteration) error {
	_, err := v.RunIterationAt(ctx, it, time.Time{})
	return err
}

// RunIterationAt is RunIteration counting the iteration as started at
// start (zero: now), returning the clock as of its return
// (executor.ClockedVU): the iteration's end, or a later reading after
// anything slow (an exception's log line).
func (v *VU) RunIterationAt(ctx context.Context, it executor.Iteration, start time.Time) (time.Time, error) {
	name := it.Exec
	if name == "" {
		name = "default"
	}
	fn, ok := v.lastFn, name == v.lastName && v.lastFn != nil // most VUs run one function
	if !ok {
		fn, ok = v.fns[name]
	}
	if !ok {
		// esbuild's exports are getters: resolve once, not per iteration.
		fn, ok = goja.AssertFunction(v.Export(name))
		if ok {
			v.fns[name] = fn
		}
	}
	if !ok {
		err := fmt.Errorf("scenario %s: the script exports no function %q", it.Scenario, name)
		v.sh.Logger.Log("error", err.Error(), v.logFields()...)
		return time.Now(), err
	}
	v.lastName, v.lastFn = name, fn
	if it.Scenario != v.envOf { // a scenario's env is fixed: set __ENV when the scenario changes
		v.setEnv(it.Env)
		v.envOf = it.Scenario
	}
	v.enterScenario(it)
	v.iter, v.iterSet = it.VUIterationInScenario, nil // what __ITER reads (see defineIter)
	arg := v.setupArg()

	if v.iterCtx == nil || v.iterCtx.ctx != ctx {
		v.iterCtx = &ctxBox{ctx} // one box per scenario context, not per iteration
	}
	if v.ctx.Load() != v.iterCtx {
		v.ctx.Store(v.iterCtx)
	}
	if v.countActive {
		v.sh.VUsActive.Add(1)
	}
	if start.IsZero() {
		start = time.Now()
	}
	release := v.interruptOn(ctx)
	v.args[0] = arg // one slice per VU, not one per call (goja copies the arguments)
	res, err := fn(goja.Undefined(), v.args[:]...)
	v.args[0] = nil
	if err != nil || !v.loop.Idle() {
		err = v.settle(ctx, res, err)
	}
	interrupted := release()
	v.runOnEnd()
	end := time.Now()
	if v.countActive {
		v.sh.VUsActive.Add(-1)
	}
	v.iterInst++

	if interrupted || err != nil && (isInterrupt(err) || ctx.Err() != nil) {
		v.sh.IterationsInterrupted.Add(1)
		if ab := abortOf(err); ab != nil {
			return end, ab
		}
		return end, ErrInterrupted
	}
	// An iteration that threw (or left a rejection unhandled) still
	// emits its iteration samples, but k6 counts it as interrupted.
	if err != nil {
		v.sh.IterationsInterrupted.Add(1)
	} else {
		v.sh.IterationsCompleted.Add(1)
	}
	if v.iterMetric == nil {
		// looked up once: Registry.Get takes a lock and hashes the name.
		v.iterMetric = v.sh.Registry.Get(ext.MetricIterations)
		v.iterDurMetric = v.sh.Registry.Get(ext.MetricIterationDuration)
	}
	v.pushIteration(end, float64(end.Sub(start))/float64(time.Millisecond))
	if err != nil {
		if ab := abortOf(err); ab != nil {
			return end, ab
		}
		se := &ScriptError{Err: err, Phase: name}
		v.sh.Logger.Log("error", se.Error(), append(v.logFields(), jsField("source", "stacktrace"))...)
		return time.Now(), se
	}
	return end, nil
}

// isInterrupt says whether err is goja's interrupt (its own function: the
// target of errors.As escapes, a heap allocation the happy path skips).
func isInterrupt(err error) bool {
	var ie *goja.InterruptedError
	return errors.As(err, &ie)
}

// pushIteration emits the iteration's two samples with the current tags:
// straight into the VU's own buffer when the host collects from it (one
// lock for tags, metadata and buffer; no slice built per iteration).
func (v *VU) pushIteration(end time.Time, ms float64) {
	v.mu.Lock()
	if c := v.collector; c != nil {
		tags, meta := v.tags, v.meta
		k1 := v.out.add(ext.Sample{Metric: v.iterMetric, Time: end, Tags: tags, Value: 1}, meta)
		k2 := v.out.add(ext.Sample{Metric: v.iterDurMetric, Time: end, Tags: tags, Value: ms}, meta)
		if !v.holding.Load() {
			v.holding.Store(true)
		}
		v.mu.Unlock()
		if k1 || k2 {
			c.Kick()
		}
		return
	}
	tags := v.tags
	v.mu.Unlock()
	v.Push(
		ext.Sample{Metric: v.iterMetric, Time: end, Tags: tags, Value: 1},
		ext.Sample{Metric: v.iterDurMetric, Time: end, Tags: tags, Value: ms},
	)
}

// enterScenario updates state and tags for an iteration of it.
func (v *VU) enterScenario(it executor.Iteration) {
	v.mu.Lock()
	// A scenario's tags are fixed, so the tag set only changes with the
	// scenario (or a group left unclosed by an exception).
	sameScenario := v.started.Load() && v.scenario.Scenario == it.Scenario && v.group == ""
	v.scenario = it
	if !v.started.Load() {
		v.started.Store(true)
	}
	if v.group != "" { // a store only when needed: a string store costs a write barrier check
		v.group = ""
	}
	if !sameScenario {
		v.rebuildTagsLocked()
	}
	v.mu.Unlock()
}

// rebuildTagsLocked recomputes the current tag set: run tags, scenario
// tags, VU tags, then the system tags scenario and group.
func (v *VU) rebuildTagsLocked() {
	t := v.tagBuf[:0]
	for k, val := range v.scenario.Tags {
		t = append(t, ext.Tag{Key: k, Value: val})
	}
	for k, val := range v.vuTags {
		t = append(t, ext.Tag{Key: k, Value: val})
	}
	if v.scenario.Scenario != "" {
		t = append(t, ext.Tag{Key: "scenario", Value: v.scenario.Scenario})
	}
	t = append(t, ext.Tag{Key: "group", Value: v.group})
	v.tags = v.sh.Tags.WithTags(t...) // one new set; WithTags copies t
	v.tagBuf = t
}

// setupArg returns setup()'s data as this VU's own JS value.
func (v *VU) setupArg() goja.Value {
	if v.setupLoaded {
		return v.setupVal
	}
	v.setupLoaded = true
	v.setupVal = goja.Undefined()
	data := v.host.SetupData()
	if data == "" {
		return v.setupVal
	}
	val, err := parseJSON(v.rt, data)
	if err == nil {
		v.setupVal = val
	}
	return v.setupVal
}

// parseJSON parses data with the runtime's JSON.parse.
func parseJSON(rt *goja.Runtime, data string) (goja.Value, error) {
	parse, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("parse"))
	return parse(goja.Undefined(), rt.ToValue(data))
}

func (v *VU) runOnEnd() {
	for _, fn := range v.onEnd {
		fn()
	}
}

// AbortError is returned when the script called test.abort().
type AbortError struct{ Reason string }

func (e *AbortError) Error() string { return "test aborted: " + e.Reason }

// abortOf finds an AbortError inside a goja error.
func abortOf(err error) *AbortError {
	if err == nil {
		return nil
	}
	var ab *AbortError
	if errors.As(err, &ab) {
		return ab
	}
	var ie *goja.InterruptedError
	if errors.As(err, &ie) {
		if a, ok := ie.Value().(*AbortError); ok {
			return a
		}
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		if e, ok := ex.Value().Export().(error); ok && errors.As(e, &ab) {
			return ab
		}
	}
	return nil
}

// interruptOn interrupts the runtime when ctx ends; the returned release
// stops that, waits for an interrupt already under way and clears it (so
// the VU's next use starts clean), and reports whether it fired.
//
// The registration on ctx outlives the call: the executors pass the same
// context to every iteration of a scenario, and a context.AfterFunc per
// iteration (plus its channel and closures) was about half of the VU's
// own allocations per iteration. A generation number keeps a late
// callback of a previous context from touching a later call. With the
// same context as the last call, arming and releasing are atomic
// operations on one state word (no lock: two lock/unlock pairs were a
// tenth of an empty iteration's engine work).
func (v *VU) interruptOn(ctx context.Context) (release func() bool) {
	if ctx.Done() == nil {
		return noInterrupt
	}
	w := &v.watch
	if w.ctx != ctx { // w.ctx is only written here, on the VU goroutine
		w.mu.Lock()
		if w.stop != nil {
			w.stop()
		}
		w.gen++
		gen := w.gen
		w.ctx = ctx
		w.state.Store(0) // not done, not armed; an old callback sees the new gen
		w.stop = context.AfterFunc(ctx, func() { v.ctxEnded(gen) })
		w.mu.Unlock()
	}
	if old := w.state.Or(watchArmed); old&watchDone != 0 {
		// ended before the call: interrupt at once (ctxEnded saw no armed call)
		v.rt.Interrupt(ErrInterrupted)
		w.state.Or(watchFired)
	}
	return v.release
}

func noInterrupt() bool { return false }

// watch is the VU's registration on the context of its calls (see interruptOn).
type watch struct {
	mu    sync.Mutex      // serialises context changes with ctxEnded
	ctx   context.Context // the context watched (VU goroutine only)
	stop  func() bool     // unregisters from ctx
	gen   uint64          // bumped when ctx changes (guarded by mu)
	state atomic.Uint32   // watch* bits
}

const (
	watchArmed  = 1 << iota // a call is running
	watchDone               // ctx has ended
	watchFiring             // ctxEnded is interrupting the running call
	watchFired              // the running call was interrupted
)

// ctxEnded runs once when the watched context of generation gen ends.
func (v *VU) ctxEnded(gen uint64) {
	w := &v.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gen != gen {
		return
	}
	for {
		old := w.state.Load()
		if old&watchArmed == 0 {
			if w.state.CompareAndSwap(old, old|watchDone) {
				return // no call running: the next one interrupts itself
			}
			continue
		}
		if w.state.CompareAndSwap(old, old|watchDone|watchFiring) {
			break // release waits until the interrupt below is set
		}
	}
	v.rt.Interrupt(ErrInterrupted)
	for {
		old := w.state.Load()
		if w.state.CompareAndSwap(old, (old|watchFired)&^watchFiring) {
			return
		}
	}
}

// releaseWatch ends a call's watch; v.release is this, bound once in New.
func (v *VU) releaseWatch() bool {
	w := &v.watch
	var old uint32
	for {
		old = w.state.Load()
		if old&watchFiring != 0 {
			runtime.Gosched() // an interrupt is being set: clear it only once it is
			continue
		}
		if w.state.CompareAndSwap(old, old&^(watchArmed|watchFired)) {
			break
		}
	}
	// As before the watch was kept across calls: a context that ended by
	// now counts as an interrupt even if its callback has not run yet.
	fired := old&watchFired != 0 || w.ctx.Err() != nil
	v.rt.ClearInterrupt()
	return fired
}
