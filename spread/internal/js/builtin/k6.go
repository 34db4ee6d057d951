package builtin

import (
	"errors"
	"math/rand"
	"reflect"
	"strings"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

type k6Module struct{}

func (k6Module) NewModuleInstance(vu ext.VU) ext.Instance { return &k6Instance{vu: vu} }

type k6Instance struct{ vu ext.VU }

// k6Names are the k6 module's exports (every script imports it: no map
// of them per VU, see ext.Exports).
var k6Names = []string{"check", "fail", "group", "randomSeed", "sleep"}

func (k *k6Instance) Exports() ext.Exports {
	return ext.Exports{Names: k6Names, Export: k.export}
}

func (k *k6Instance) export(name string) any {
	switch name {
	case "check":
		return k.check
	case "sleep":
		return k.sleep
	case "group":
		return k.group
	case "fail":
		return k.fail
	case "randomSeed":
		// randomSeed makes Math.random repeatable in this VU, as k6's.
		return func(seed int64) {
			r := rand.New(rand.NewSource(seed))
			k.vu.Runtime().SetRandSource(r.Float64)
		}
	}
	return nil
}

// check runs each named test against val, pushes one `checks` sample per
// test and reports whether all passed, as k6's check().
func (k *k6Instance) check(call goja.FunctionCall) goja.Value {
	rt := k.vu.Runtime()
	if k.vu.State() == nil {
		panic(rt.NewGoError(errors.New("check() is not allowed in the init context")))
	}
	val := call.Argument(0)
	sets := call.Argument(1)
	if goja.IsUndefined(sets) || goja.IsNull(sets) {
		panic(rt.NewTypeError("check() needs an object of checks as its second argument"))
	}
	obj := sets.ToObject(rt)
	base := k.vu.Tags()
	if t := call.Argument(2); !goja.IsUndefined(t) && !goja.IsNull(t) {
		base = base.Merge(tagsOf(rt, t))
	}
	checks := k.vu.Metrics().Get(ext.MetricChecks)
	all := true
	for _, name := range obj.Keys() {
		v := obj.Get(name)
		ok := v.ToBoolean()
		if fn, isFn := goja.AssertFunction(v); isFn {
			if isAsyncFunction(v) {
				panic(rt.NewTypeError("check %q: check() does not support async functions (a Promise is always truthy, so the check could never fail); await the value first, then check it", name))
			}
			res, err := fn(goja.Undefined(), val)
			if err != nil {
				panic(err)
			}
			if thenOf(rt, res) != nil {
				panic(rt.NewTypeError("check %q returned a Promise: check() does not support asynchronous checks; await the value first, then check it", name))
			}
			ok = res.ToBoolean()
		}
		value := 0.0
		if ok {
			value = 1
		} else {
			all = false
		}
		k.vu.Push(ext.Sample{Metric: checks, Time: time.Now(), Tags: base.With("check", name), Value: value})
	}
	return rt.ToValue(all)
}

// sleep pauses the VU; it returns early when the VU's context ends so a
// stopping test does not wait for sleeps.
func (k *k6Instance) sleep(secs float64) {
	if secs <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(secs * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-k.vu.Context().Done():
	}
}

// group runs fn with the group tag set and pushes group_duration.
func (k *k6Instance) group(name string, fnv goja.Value) goja.Value {
	rt := k.vu.Runtime()
	fn, isFn := goja.AssertFunction(fnv)
	if !isFn {
		panic(rt.NewTypeError("group() needs a function as its second argument"))
	}
	if isAsyncFunction(fnv) {
		// As k6: the group's tag and group_duration cannot follow the
		// awaited work correctly, so k6 refuses async callbacks.
		panic(rt.NewTypeError("group() does not support async functions as arguments (group %q)", name))
	}
	if strings.Contains(name, "::") {
		panic(rt.NewTypeError("group name %q may not contain '::'", name))
	}
	g, ok := k.vu.(VU)
	if !ok || k.vu.State() == nil {
		panic(rt.NewGoError(errors.New("group() is not allowed in the init context")))
	}
	_, leave := g.EnterGroup(name)
	tags := k.vu.Tags()
	start := time.Now()
	done := func() {
		leave()
		end := time.Now()
		k.vu.Push(ext.Sample{Metric: k.vu.Metrics().Get(ext.MetricGroupDuration), Time: end, Tags: tags,
			Value: float64(end.Sub(start)) / float64(time.Millisecond)})
	}
	res, err := fn(goja.Undefined())
	if err != nil {
		done()
		panic(err)
	}
	if then := thenOf(rt, res); then != nil {
		// an async function: the group lasts until its promise settles
		// (its tag stays on what runs meanwhile, as the group is the
		// VU's). The returned promise settles as the function's did.
		onOK := rt.ToValue(func(v goja.Value) goja.Value { done(); return v })
		onErr := rt.ToValue(func(e goja.Value) goja.Value { done(); panic(e) })
		out, err := then(res, onOK, onErr)
		if err != nil {
			panic(err)
		}
		return out
	}
	done()
	return res
}

// isAsyncFunction reports whether v is an async function (declared with
// `async`), by its constructor's name: goja exposes no other test.
func isAsyncFunction(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	if !ok || o == nil {
		return false
	}
	c, ok := o.Get("constructor").(*goja.Object)
	if !ok || c == nil {
		return false
	}
	n := c.Get("name")
	return n != nil && n.String() == "AsyncFunction"
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// thenOf returns v's then method when v is a promise (or thenable).
func thenOf(rt *goja.Runtime, v goja.Value) goja.Callable {
	o, ok := v.(*goja.Object)
	if !ok || o == nil {
		return nil
	}
	if o.ExportType() != promiseType { // not Export: it would copy a plain object
		return nil
	}
	then, ok := goja.AssertFunction(o.Get("then"))
	if !ok {
		return nil
	}
	return then
}

// fail throws an error with msg, ending the iteration.
func (k *k6Instance) fail(msg goja.Value) {
	s := ""
	if msg != nil && !goja.IsUndefined(msg) {
		s = msg.String()
	}
	panic(k.vu.Runtime().NewGoError(errors.New(s)))
}

// tagsOf converts a JS object of tags to strings.
func tagsOf(rt *goja.Runtime, v goja.Value) map[string]string {
	o := v.ToObject(rt)
	out := map[string]string{}
	for _, key := range o.Keys() {
		out[key] = o.Get(key).String()
	}
	return out
}
