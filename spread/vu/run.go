package vu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/executor"
	"spread.dev/spread/ext"
)

// RunIteration runs one iteration of it.Exec (the executors' contract).
// An exception is logged and returned; the iteration still counts, as in
// k6. An iteration cut short by ctx returns ErrInterrupted and emits no
// iteration samples.
func (v *VU) RunIteration(ctx context.Context, it executor.Iteration) error {
	name := it.Exec
	if name == "" {
		name = "default"
	}
	fn, ok := v.fns[name]
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
		return err
	}
	if id := mapID(it.Env); id != v.lastEnv {
		v.setEnv(it.Env)
		v.lastEnv = id
	}
	v.enterScenario(it)
	_ = v.rt.Set("__ITER", it.VUIterationInScenario)
	arg := v.setupArg()

	v.ctx.Store(&ctxBox{ctx})
	v.sh.VUsActive.Add(1)
	start := time.Now()
	release := v.interruptOn(ctx)
	_, err := fn(goja.Undefined(), arg)
	interrupted := release()
	v.runOnEnd()
	end := time.Now()
	v.sh.VUsActive.Add(-1)
	v.ctx.Store(nil)
	v.iterInst++

	var ie *goja.InterruptedError
	if interrupted || errors.As(err, &ie) || ctx.Err() != nil && err != nil {
		v.sh.IterationsInterrupted.Add(1)
		if ab := abortOf(err); ab != nil {
			return ab
		}
		return ErrInterrupted
	}
	v.sh.IterationsCompleted.Add(1)
	tags := v.Tags()
	v.sh.Push(
		ext.Sample{Metric: v.sh.Registry.Get(ext.MetricIterations), Time: end, Tags: tags, Value: 1},
		ext.Sample{Metric: v.sh.Registry.Get(ext.MetricIterationDuration), Time: end, Tags: tags,
			Value: float64(end.Sub(start)) / float64(time.Millisecond)},
	)
	if err != nil {
		if ab := abortOf(err); ab != nil {
			return ab
		}
		se := &ScriptError{Err: err, Phase: name}
		v.sh.Logger.Log("error", se.Error(), append(v.logFields(), jsField("source", "stacktrace"))...)
		return se
	}
	return nil
}

// enterScenario updates state and tags for an iteration of it.
func (v *VU) enterScenario(it executor.Iteration) {
	prev := v.state.Load()
	st := &ext.State{VUID: v.id, VUIDInTest: v.idTest, Iteration: it.VUIterationInScenario, Scenario: it.Scenario}
	v.state.Store(st)
	v.mu.Lock()
	sameScenario := prev != nil && prev.Scenario == it.Scenario && mapID(v.scenario.Tags) == mapID(it.Tags)
	v.scenario = it
	v.group = ""
	if !sameScenario || v.tags == nil {
		v.rebuildTagsLocked()
	}
	v.mu.Unlock()
}

// rebuildTagsLocked recomputes the current tag set: run tags, scenario
// tags, VU tags, then the system tags scenario and group.
func (v *VU) rebuildTagsLocked() {
	t := make(ext.Tags, len(v.sh.Tags)+len(v.scenario.Tags)+len(v.vuTags)+2)
	for k, val := range v.sh.Tags {
		t[k] = val
	}
	for k, val := range v.scenario.Tags {
		t[k] = val
	}
	for k, val := range v.vuTags {
		t[k] = val
	}
	if v.scenario.Scenario != "" {
		t["scenario"] = v.scenario.Scenario
	}
	t["group"] = v.group
	v.tags = t
}

// setupArg returns setup()'s data as this VU's own JS value.
func (v *VU) setupArg() goja.Value {
	if v.setupLoaded {
		return v.setupVal
	}
	v.setupLoaded = true
	v.setupVal = goja.Undefined()
	if v.sh.SetupData == nil {
		return v.setupVal
	}
	data := v.sh.SetupData()
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
func (v *VU) interruptOn(ctx context.Context) (release func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		v.rt.Interrupt(ErrInterrupted)
		close(fired)
	})
	return func() bool {
		interrupted := !stop()
		if interrupted {
			<-fired
		}
		v.rt.ClearInterrupt()
		return interrupted
	}
}
