package ext_test

import (
	"fmt"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
)

// counter is a complete module: `import { bump } from 'k6/x/counter'`.
type counter struct{}

func (counter) NewModuleInstance(vu ext.VU) ext.Instance {
	m, err := vu.Metrics().NewMetric("counter_bumps", ext.Counter)
	if err != nil {
		panic(vu.Runtime().NewGoError(err))
	}
	return &counterInstance{vu: vu, bumps: m}
}

type counterInstance struct {
	vu    ext.VU
	bumps *ext.Metric
}

func (i *counterInstance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"bump": func(n float64) {
			if i.vu.State() == nil {
				panic(i.vu.Runtime().NewTypeError("bump() is not allowed in the init context"))
			}
			i.vu.Push(ext.Sample{Metric: i.bumps, Time: time.Now(), Tags: i.vu.Tags(), Value: n})
		},
	}}
}

// Register a module from init and use it from a script; the exttest kit
// stands in for the engine's VU.
func Example() {
	ext.Register("k6/x/counter", counter{}) // in a real module: func init() { ... }

	vu := exttest.New(nil)
	if _, err := vu.RunString(`const { bump } = require('k6/x/counter')`); err != nil {
		fmt.Println(err)
		return
	}
	vu.StartIteration(0) // leave the init context
	if _, err := vu.RunString(`bump(2); bump(3)`); err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range vu.SamplesOf("counter_bumps") {
		fmt.Println(s.Metric.Name, s.Value, s.Tags)
	}
	// Output:
	// counter_bumps 2 scenario=default
	// counter_bumps 3 scenario=default
}
