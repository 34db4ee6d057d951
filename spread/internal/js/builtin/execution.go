package builtin

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
)

type executionModule struct{}

func (executionModule) NewModuleInstance(vu ext.VU) ext.Instance {
	return &executionInstance{vu: vu}
}

type executionInstance struct{ vu ext.VU }

// Exports builds k6/execution's objects with getters, so each read sees
// the live value (as k6 does).
func (e *executionInstance) Exports() ext.Exports {
	rt := e.vu.Runtime()
	bv, ok := e.vu.(VU)
	if !ok {
		panic(rt.NewGoError(errors.New("k6/execution is not available in this runtime")))
	}
	x := func() Exec { return bv.Exec() }
	initErr := func(what string) {
		if e.vu.State() == nil {
			panic(rt.NewGoError(errors.New(what + " is not available in the init context")))
		}
	}
	vu := rt.NewObject()
	getter(rt, vu, "idInInstance", func() any { return x().VUIDInInstance() })
	getter(rt, vu, "idInTest", func() any { return x().VUIDInTest() })
	getter(rt, vu, "iterationInInstance", func() any { initErr("vu.iterationInInstance"); return x().IterationInInstance() })
	getter(rt, vu, "iterationInScenario", func() any {
		initErr("vu.iterationInScenario")
		return x().Iteration().VUIterationInScenario
	})
	tagsObj := rt.NewDynamicObject(&vuMap{rt: rt, what: "vu.metrics.tags", get: func() map[string]string { return x().VUTags() },
		set: func(k, v string, del bool) {
			if del {
				v = ""
			}
			x().SetVUTag(k, v)
		}})
	metaObj := rt.NewDynamicObject(&vuMap{rt: rt, what: "vu.metrics.metadata", get: func() map[string]string { return x().VUMetadata() },
		set: func(k, v string, del bool) { x().SetVUMetadata(k, v, del) }})
	_ = vu.Set("tags", tagsObj) // k6's older name for vu.metrics.tags
	meta := rt.NewObject()
	_ = meta.Set("tags", tagsObj)
	_ = meta.Set("metadata", metaObj)
	_ = vu.Set("metrics", meta)

	sc := rt.NewObject()
	scen := func(what string) executor.Iteration {
		initErr("scenario." + what)
		// setup and teardown run in no scenario: zero values there.
		return x().Iteration()
	}
	getter(rt, sc, "name", func() any { return scen("name").Scenario })
	getter(rt, sc, "executor", func() any { return scen("executor").Executor })
	getter(rt, sc, "startTime", func() any { return scen("startTime").ScenarioStart.UnixMilli() })
	getter(rt, sc, "progress", func() any {
		if it := scen("progress"); it.Progress != nil {
			return it.Progress()
		}
		return 0.0
	})
	getter(rt, sc, "iterationInInstance", func() any { return scen("iterationInInstance").IterationInInstance })
	getter(rt, sc, "iterationInTest", func() any { return scen("iterationInTest").IterationInTest })

	in := rt.NewObject()
	getter(rt, in, "vusActive", func() any { return x().VUsActive() })
	getter(rt, in, "vusInitialized", func() any { return x().VUsInitialized() })
	getter(rt, in, "iterationsCompleted", func() any { return x().IterationsCompleted() })
	getter(rt, in, "iterationsInterrupted", func() any { return x().IterationsInterrupted() })
	getter(rt, in, "currentTestRunDuration", func() any {
		start := x().TestStart()
		if start.IsZero() {
			return 0.0
		}
		return float64(time.Since(start)) / float64(time.Millisecond)
	})

	test := rt.NewObject()
	reason := func(v goja.Value, def string) string {
		if v == nil || goja.IsUndefined(v) {
			return def
		}
		return v.String()
	}
	_ = test.Set("abort", func(r goja.Value) {
		initErr("test.abort()")
		x().Abort(reason(r, "test aborted"))
	})
	_ = test.Set("fail", func(r goja.Value) {
		initErr("test.fail()")
		x().Fail(reason(r, "test marked as failed"))
	})
	var opts goja.Value
	getter(rt, test, "options", func() any {
		if opts == nil {
			// one frozen object per VU, as k6's is read-only.
			// through JSON: a plain JS object (a Go map's wrapper cannot be frozen).
			b, err := json.Marshal(x().Options())
			if err != nil {
				panic(rt.NewGoError(fmt.Errorf("test.options: %w", err)))
			}
			parse, _ := goja.AssertFunction(rt.Get("JSON").ToObject(rt).Get("parse"))
			o, err := parse(goja.Undefined(), rt.ToValue(string(b)))
			if err != nil {
				panic(err)
			}
			deepFreeze(rt, o)
			opts = o
		}
		return opts
	})

	return ext.Exports{Named: map[string]any{"vu": vu, "scenario": sc, "instance": in, "test": test}}
}

// deepFreeze freezes v and every object inside it.
func deepFreeze(rt *goja.Runtime, v goja.Value) {
	freeze, _ := goja.AssertFunction(rt.Get("Object").ToObject(rt).Get("freeze"))
	var walk func(goja.Value, int)
	walk = func(v goja.Value, depth int) {
		o, ok := v.(*goja.Object)
		if !ok || o == nil || depth > 32 {
			return
		}
		for _, k := range o.Keys() {
			walk(o.Get(k), depth+1)
		}
		_, _ = freeze(goja.Undefined(), o)
	}
	walk(v, 0)
}

// getter defines a read-only accessor property on o.
func getter(rt *goja.Runtime, o *goja.Object, name string, get func() any) {
	_ = o.DefineAccessorProperty(name, rt.ToValue(func() goja.Value { return rt.ToValue(get()) }), nil,
		goja.FLAG_FALSE, goja.FLAG_TRUE)
}

// vuMap is exec.vu.metrics.tags or .metadata: reads and writes go to
// the VU, so later samples carry them.
type vuMap struct {
	rt   *goja.Runtime
	what string
	get  func() map[string]string
	set  func(k, v string, del bool)
}

func (t *vuMap) Get(key string) goja.Value {
	v, ok := t.get()[key]
	if !ok {
		return goja.Undefined()
	}
	return t.rt.ToValue(v)
}

// Set takes strings, numbers and booleans, as k6 does.
func (t *vuMap) Set(key string, val goja.Value) bool {
	if val == nil || goja.IsUndefined(val) || goja.IsNull(val) {
		panic(t.rt.NewTypeError("%s: %q must be a string, number or boolean, not %v", t.what, key, val))
	}
	if _, ok := val.(*goja.Object); ok {
		panic(t.rt.NewTypeError("%s: %q must be a string, number or boolean, not an object", t.what, key))
	}
	t.set(key, val.String(), false)
	return true
}

func (t *vuMap) Has(key string) bool { _, ok := t.get()[key]; return ok }
func (t *vuMap) Delete(key string) bool {
	t.set(key, "", true)
	return true
}
func (t *vuMap) Keys() []string {
	m := t.get()
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
