package vu

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/js/builtin"
)

// The ext.VU side: what modules see.

// Runtime is the VU's goja runtime.
func (v *VU) Runtime() *goja.Runtime { return v.rt }

// Context is the running iteration's context, else the VU's.
func (v *VU) Context() context.Context {
	if c := v.ctx.Load(); c != nil {
		return c.ctx
	}
	return v.baseCtx
}

// State is nil in the init context, then the VU's live state (built
// from the running iteration, the one copy of it).
func (v *VU) State() *ext.State {
	if !v.started.Load() {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return &ext.State{VUID: v.id, VUIDInTest: v.idTest, Iteration: v.scenario.VUIterationInScenario,
		Scenario: v.scenario.Scenario, Group: v.group}
}

// Tags is the current tag set; callers must not modify it.
func (v *VU) Tags() ext.TagSet {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.tags
}

// Push hands samples to the run's sample pump, with the VU's metadata
// (exec.vu.metrics.metadata) on those that carry none of their own: into
// the VU's own buffer when the host collects from it (see Collector).
func (v *VU) Push(samples ...ext.Sample) {
	v.mu.Lock()
	if c := v.collector; c != nil {
		kick := v.pushLocked(samples)
		v.mu.Unlock()
		if kick {
			c.Kick()
		}
		return
	}
	meta := v.meta
	v.mu.Unlock()
	if len(meta) > 0 {
		own := make([]ext.Sample, len(samples))
		copy(own, samples)
		for i := range own {
			if own[i].Metadata == nil {
				own[i].Metadata = meta
			}
		}
		samples = own
	}
	v.host.Push(samples...)
}

// Metrics is the run's metric registry.
func (v *VU) Metrics() *ext.Registry { return v.sh.Registry }

// Options are the run's consolidated options.
func (v *VU) Options() ext.Options { return v.sh.Options }

// RegisterCallback reserves a place on the VU's event loop (see ext.VU).
func (v *VU) RegisterCallback() func(func() error) { return v.loop.RegisterCallback() }

// OnIterationEnd registers fn to run after each iteration.
func (v *VU) OnIterationEnd(fn func()) { v.onEnd = append(v.onEnd, fn) }

// The builtin.VU side: groups and k6/execution.

// EnterGroup nests group name under the current one.
func (v *VU) EnterGroup(name string) (string, func()) {
	v.mu.Lock()
	parent := v.group
	path := parent + "::" + name
	v.group = path
	v.rebuildTagsLocked()
	v.mu.Unlock()
	return path, func() {
		v.mu.Lock()
		v.group = parent
		v.rebuildTagsLocked()
		v.mu.Unlock()
	}
}

// Exec gives k6/execution the VU's live execution state.
func (v *VU) Exec() builtin.Exec { return execView{v} }

type execView struct{ v *VU }

func (e execView) VUIDInInstance() uint64     { return e.v.id }
func (e execView) VUIDInTest() uint64         { return e.v.idTest }
func (e execView) IterationInInstance() int64 { return e.v.iterInst }
func (e execView) Iteration() executor.Iteration {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	return e.v.scenario
}
func (e execView) VUsActive() int64 {
	if !e.v.countActive {
		return e.v.host.ActiveVUs()
	}
	return e.v.sh.VUsActive.Load()
}
func (e execView) VUsInitialized() int64        { return e.v.sh.VUsInitialized.Load() }
func (e execView) IterationsCompleted() int64   { return e.v.sh.IterationsCompleted.Load() }
func (e execView) IterationsInterrupted() int64 { return e.v.sh.IterationsInterrupted.Load() }
func (e execView) TestStart() time.Time         { return e.v.host.TestStart() }
func (e execView) Options() map[string]any {
	if o := e.v.sh.TestOptions; o != nil {
		return o
	}
	return e.v.sh.OptionsJS
}
func (e execView) VUTags() map[string]string {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	return e.v.tags.Map()
}
func (e execView) SetVUTag(k, val string) {
	e.v.mu.Lock()
	if val == "" {
		delete(e.v.vuTags, k)
	} else {
		e.v.vuTags[k] = val
	}
	e.v.rebuildTagsLocked()
	e.v.mu.Unlock()
}
func (e execView) VUMetadata() map[string]string {
	e.v.mu.Lock()
	defer e.v.mu.Unlock()
	return maps.Clone(e.v.meta)
}

// SetVUMetadata replaces the metadata map (samples already pushed keep
// the one they were given).
func (e execView) SetVUMetadata(k, val string, del bool) {
	e.v.mu.Lock()
	m := maps.Clone(e.v.meta)
	if m == nil {
		m = map[string]string{}
	}
	if del {
		delete(m, k)
	} else {
		m[k] = val
	}
	if len(m) == 0 {
		m = nil
	}
	e.v.meta = m
	e.v.mu.Unlock()
}

// Abort stops the test: the engine is told, and the runtime is
// interrupted so the script cannot catch it.
func (e execView) Abort(reason string) {
	e.v.host.Abort(reason)
	e.v.rt.Interrupt(&AbortError{Reason: reason})
}

// Fail marks the test as failed; the script goes on (k6's test.fail()).
func (e execView) Fail(reason string) { e.v.host.Fail(reason) }

// Call runs the exported function name with args (setup, teardown,
// handleSummary) in the VU as a full iteration context with scenario tag
// empty and the group set to "::"+name's k6 group ("::setup",
// "::teardown"). An async function's promise is awaited (with the event
// loop) and its value returned.
func (v *VU) Call(ctx context.Context, name string, group string, args ...any) (goja.Value, error) {
	fn, ok := goja.AssertFunction(v.Export(name))
	if !ok {
		return nil, nil
	}
	v.mu.Lock()
	v.scenario = executor.Iteration{}
	v.started.Store(true)
	v.group = group
	v.rebuildTagsLocked()
	v.mu.Unlock()
	v.ctx.Store(&ctxBox{ctx})
	defer v.ctx.Store(nil)
	vals := make([]goja.Value, len(args))
	for i, a := range args {
		switch x := a.(type) {
		case goja.Value:
			vals[i] = x
		case json.RawMessage:
			val, err := parseJSON(v.rt, string(x))
			if err != nil {
				return nil, &ScriptError{Err: err, Phase: name}
			}
			vals[i] = val
		default:
			vals[i] = v.rt.ToValue(a)
		}
	}
	release := v.interruptOn(ctx)
	res, err := fn(goja.Undefined(), vals...)
	res, err = v.settleValue(ctx, res, err)
	interrupted := release()
	if err != nil {
		if ab := abortOf(err); ab != nil {
			return nil, ab
		}
		if interrupted {
			return nil, ErrInterrupted
		}
		return nil, &ScriptError{Err: err, Phase: name}
	}
	return res, nil
}

// JSON renders a JS value with the runtime's JSON.stringify ("" for undefined).
func (v *VU) JSON(val goja.Value) (string, error) {
	if val == nil || goja.IsUndefined(val) {
		return "", nil
	}
	stringify, _ := goja.AssertFunction(v.rt.Get("JSON").ToObject(v.rt).Get("stringify"))
	out, err := stringify(goja.Undefined(), val)
	if err != nil {
		return "", &ScriptError{Err: err, Phase: "JSON"}
	}
	if goja.IsUndefined(out) {
		return "", nil
	}
	return out.String(), nil
}

func jsField(k string, val any) js.Field { return js.Field{Key: k, Value: val} }

var (
	_ ext.VU             = (*VU)(nil)
	_ builtin.VU         = (*VU)(nil)
	_ executor.VU        = (*VU)(nil)
	_ executor.ClockedVU = (*VU)(nil)
)
