// Package data is k6/data: SharedArray, an array built once in the init
// context and shared read-only by every VU of the run.
//
// Memory: the elements are kept once, JSON-encoded, in Go (one buffer for
// the whole run, whatever the VU count); each VU sees a goja DynamicArray
// that decodes an element when the script reads it. That is why k6's
// SharedArray elements are copies: changing one changes nothing shared.
package data

import (
	"fmt"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

func init() { ext.Register("k6/data", module{}) }

type module struct{}

// arrays holds each run's shared arrays by name. A run is told apart by
// its metric registry, the one object the engine hands every VU of a run
// and no other run (tests start several runs in one process).
var (
	arraysMu sync.Mutex
	arrays   = map[*ext.Registry]map[string]*shared{}
)

// shared is one SharedArray's elements: JSON texts packed in one buffer.
type shared struct {
	once sync.Once
	err  error
	buf  []byte
	ends []int // ends[i] is the end of element i in buf
}

func (s *shared) len() int { return len(s.ends) }

func (s *shared) elem(i int) []byte {
	start := 0
	if i > 0 {
		start = s.ends[i-1]
	}
	return s.buf[start:s.ends[i]]
}

// Size is the bytes held for the array (for tests and the benchmark).
func (s *shared) Size() int { return cap(s.buf) + 8*cap(s.ends) }

func lookup(reg *ext.Registry, name string) *shared {
	arraysMu.Lock()
	defer arraysMu.Unlock()
	m := arrays[reg]
	if m == nil {
		m = map[string]*shared{}
		arrays[reg] = m
	}
	s := m[name]
	if s == nil {
		s = &shared{}
		m[name] = s
	}
	return s
}

// Forget drops the arrays of the run behind reg (the engine's end of run;
// optional: a process runs one test).
func Forget(reg *ext.Registry) {
	arraysMu.Lock()
	delete(arrays, reg)
	arraysMu.Unlock()
}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{vu: vu} }

type instance struct {
	vu     ext.VU
	parse  goja.Callable // JSON.parse of this VU's runtime
	freeze goja.Callable
}

func (i *instance) Exports() ext.Exports {
	rt := i.vu.Runtime()
	ctor := rt.ToValue(func(call goja.ConstructorCall) *goja.Object {
		return i.newSharedArray(call.Argument(0), call.Argument(1))
	})
	return ext.Exports{Named: map[string]any{"SharedArray": ctor}}
}

func (i *instance) newSharedArray(nameV, fnV goja.Value) *goja.Object {
	rt := i.vu.Runtime()
	if i.vu.State() != nil {
		panic(rt.NewTypeError("new SharedArray must be called in the init context"))
	}
	if nameV == nil || goja.IsUndefined(nameV) || nameV.String() == "" {
		panic(rt.NewTypeError("new SharedArray: the first argument must be a non-empty name"))
	}
	name := nameV.String()
	fn, ok := goja.AssertFunction(fnV)
	if !ok {
		panic(rt.NewTypeError("new SharedArray(%q): the second argument must be a function returning an array", name))
	}
	s := lookup(i.vu.Metrics(), name)
	// The first VU to get here builds it; the others wait and reuse it,
	// so the function runs once per run, as in k6.
	s.once.Do(func() { s.err = build(rt, s, fn) })
	if s.err != nil {
		panic(rt.NewGoError(fmt.Errorf("new SharedArray(%q): %w", name, s.err)))
	}
	if i.parse == nil {
		i.parse = builtin(rt, "JSON", "parse")
		i.freeze = jsFunc(rt, deepFreezeProg)
	}
	return rt.NewDynamicArray(&view{i: i, s: s, name: name})
}

// deepFreezeProg freezes an element and everything in it: SharedArray
// data is read-only (k6 throws on changes in strict code). Compiled once
// for every runtime, so a VU's view costs no compilation.
var deepFreezeProg = goja.MustCompile("freeze.js", `(function freeze(o) {
	if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
		Object.freeze(o);
		const ks = Object.keys(o); // an index loop: for-of would make goja build its iterator prototypes in every VU
		for (let i = 0; i < ks.length; i++) freeze(o[ks[i]]);
	}
	return o;
})`, true)

func jsFunc(rt *goja.Runtime, p *goja.Program) goja.Callable {
	v, err := rt.RunProgram(p)
	if err != nil {
		panic(err)
	}
	fn, _ := goja.AssertFunction(v)
	return fn
}

// builtin returns a function of the runtime's standard library (JSON.parse).
func builtin(rt *goja.Runtime, obj, name string) goja.Callable {
	fn, ok := goja.AssertFunction(rt.Get(obj).ToObject(rt).Get(name))
	if !ok {
		panic(rt.NewTypeError("%s.%s is not a function", obj, name))
	}
	return fn
}

// build runs fn in the runtime of the first VU and keeps its result's
// elements as JSON.
func build(rt *goja.Runtime, s *shared, fn goja.Callable) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
				return
			}
			panic(r)
		}
	}()
	res, err := fn(goja.Undefined())
	if err != nil {
		return err
	}
	arr, ok := res.(*goja.Object)
	if !ok || arr.ClassName() != "Array" {
		return fmt.Errorf("the function must return an array, not %s", typeName(res))
	}
	stringify := builtin(rt, "JSON", "stringify")
	n := int(arr.Get("length").ToInteger())
	s.ends = make([]int, 0, n)
	for k := 0; k < n; k++ {
		js, err := stringify(goja.Undefined(), arr.Get(fmt.Sprint(k)))
		if err != nil {
			return fmt.Errorf("element %d: %w", k, err)
		}
		text := "null" // undefined and functions read back as null, as JSON.stringify in arrays
		if !goja.IsUndefined(js) {
			text = js.String()
		}
		s.buf = append(s.buf, text...)
		s.ends = append(s.ends, len(s.buf))
	}
	// trim the append slack: this buffer lives for the whole run.
	s.buf = append([]byte(nil), s.buf...)
	return nil
}

func typeName(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if goja.IsNull(v) {
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		return o.ClassName()
	}
	return v.ExportType().String()
}

// view is one VU's read-only window on a shared array.
type view struct {
	i    *instance
	s    *shared
	name string
}

func (v *view) Len() int { return v.s.len() }

func (v *view) Get(idx int) goja.Value {
	if idx < 0 || idx >= v.s.len() {
		return goja.Undefined()
	}
	rt := v.i.vu.Runtime()
	val, err := v.i.parse(goja.Undefined(), rt.ToValue(string(v.s.elem(idx))))
	if err != nil {
		panic(err)
	}
	if _, isObj := val.(*goja.Object); isObj {
		if val, err = v.i.freeze(goja.Undefined(), val); err != nil {
			panic(err)
		}
	}
	return val
}

func (v *view) Set(int, goja.Value) bool {
	panic(v.i.vu.Runtime().NewTypeError("SharedArray %q is read-only", v.name))
}

func (v *view) SetLen(int) bool {
	panic(v.i.vu.Runtime().NewTypeError("SharedArray %q is read-only", v.name))
}
