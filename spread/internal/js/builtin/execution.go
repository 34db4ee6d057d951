package builtin

import (
	"errors"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
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
	getter(rt, vu, "iterationInScenario", func() any { initErr("vu.iterationInScenario"); return x().IterationInScenario() })
	tagsObj := rt.NewDynamicObject(&vuTags{rt: rt, x: x})
	_ = vu.Set("tags", tagsObj)
	meta := rt.NewObject()
	_ = meta.Set("tags", tagsObj)
	_ = vu.Set("metrics", meta)

	sc := rt.NewObject()
	getter(rt, sc, "name", func() any { initErr("scenario.name"); return x().Scenario().Name })
	getter(rt, sc, "executor", func() any { initErr("scenario.executor"); return x().Scenario().Executor })
	getter(rt, sc, "startTime", func() any {
		initErr("scenario.startTime")
		return x().Scenario().StartTime.UnixMilli()
	})
	getter(rt, sc, "progress", func() any { initErr("scenario.progress"); return x().Scenario().Progress })
	getter(rt, sc, "iterationInInstance", func() any { initErr("scenario.iterationInInstance"); return x().Scenario().IterationInInstance })
	getter(rt, sc, "iterationInTest", func() any { initErr("scenario.iterationInTest"); return x().Scenario().IterationInTest })

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
	_ = test.Set("abort", func(reason goja.Value) {
		msg := "test aborted"
		if reason != nil && !goja.IsUndefined(reason) {
			msg = reason.String()
		}
		x().Abort(msg)
	})
	getter(rt, test, "options", func() any { return x().Options() })

	return ext.Exports{Named: map[string]any{"vu": vu, "scenario": sc, "instance": in, "test": test}}
}

// getter defines a read-only accessor property on o.
func getter(rt *goja.Runtime, o *goja.Object, name string, get func() any) {
	_ = o.DefineAccessorProperty(name, rt.ToValue(func() goja.Value { return rt.ToValue(get()) }), nil,
		goja.FLAG_FALSE, goja.FLAG_TRUE)
}

// vuTags is exec.vu.tags: reads and writes go to the VU's tag set.
type vuTags struct {
	rt *goja.Runtime
	x  func() Exec
}

func (t *vuTags) Get(key string) goja.Value {
	v, ok := t.x().VUTags()[key]
	if !ok {
		return goja.Undefined()
	}
	return t.rt.ToValue(v)
}

func (t *vuTags) Set(key string, val goja.Value) bool {
	if o, ok := val.(*goja.Object); ok && o != nil {
		panic(t.rt.NewTypeError("vu.tags values must be strings, numbers or booleans"))
	}
	t.x().SetVUTag(key, val.String())
	return true
}

func (t *vuTags) Has(key string) bool { _, ok := t.x().VUTags()[key]; return ok }
func (t *vuTags) Delete(key string) bool {
	t.x().SetVUTag(key, "")
	return true
}
func (t *vuTags) Keys() []string {
	var out []string
	for k := range t.x().VUTags() {
		out = append(out, k)
	}
	return out
}
