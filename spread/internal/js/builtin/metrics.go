package builtin

import (
	"errors"
	"fmt"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

type metricsModule struct{}

func (metricsModule) NewModuleInstance(vu ext.VU) ext.Instance { return &metricsInstance{vu: vu} }

type metricsInstance struct{ vu ext.VU }

func (m *metricsInstance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"Counter": m.constructor(ext.Counter),
		"Gauge":   m.constructor(ext.Gauge),
		"Rate":    m.constructor(ext.Rate),
		"Trend":   m.constructor(ext.Trend),
	}}
}

// constructor returns a JS constructor `new Kind(name, isTime)` that
// creates (or reuses) a custom metric; only allowed in the init context.
func (m *metricsInstance) constructor(t ext.MetricType) func(goja.ConstructorCall) *goja.Object {
	return func(call goja.ConstructorCall) *goja.Object {
		rt := m.vu.Runtime()
		if m.vu.State() != nil {
			panic(rt.NewGoError(errors.New("metrics must be declared in the init context")))
		}
		name := call.Argument(0).String()
		vt := ext.Default
		if call.Argument(1).ToBoolean() {
			vt = ext.Time
		}
		metric, err := m.vu.Metrics().NewMetric(name, t, vt)
		if err != nil {
			panic(rt.NewGoError(err))
		}
		obj := call.This
		_ = obj.Set("name", metric.Name)
		_ = obj.Set("add", func(c goja.FunctionCall) goja.Value { return m.add(metric, c) })
		return nil
	}
}

// add pushes one sample of metric with the VU's tags plus the given ones.
func (m *metricsInstance) add(metric *ext.Metric, call goja.FunctionCall) goja.Value {
	rt := m.vu.Runtime()
	if m.vu.State() == nil {
		panic(rt.NewGoError(errors.New("adding to metrics in the init context is not supported")))
	}
	arg := call.Argument(0)
	var value float64
	switch {
	case metric.Type == ext.Rate:
		if arg.ToBoolean() {
			value = 1
		}
	default:
		exp := arg.Export()
		switch x := exp.(type) {
		case bool:
			if x {
				value = 1
			}
		case int64:
			value = float64(x)
		case float64:
			value = x
		default:
			f := arg.ToFloat()
			if f != f { // NaN: k6 rejects non-numbers
				panic(rt.NewGoError(fmt.Errorf("%s.add: %v is not a number", metric.Name, exp)))
			}
			value = f
		}
	}
	tags := m.vu.Tags()
	if t := call.Argument(1); !goja.IsUndefined(t) && !goja.IsNull(t) {
		tags = tags.Merge(tagsOf(rt, t))
	}
	m.vu.Push(ext.Sample{Metric: metric, Time: time.Now(), Tags: tags, Value: value})
	return rt.ToValue(true)
}
