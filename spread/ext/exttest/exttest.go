// Package exttest is a minimal fake VU for testing ext modules without the
// engine: a goja runtime with require() for registered modules, a sample
// collector and a switch from init context to iteration context.
package exttest

import (
	"context"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

// VU is a fake ext.VU.
type VU struct {
	RT      *goja.Runtime
	Ctx     context.Context
	Cancel  context.CancelFunc
	Reg     *ext.Registry
	Opts    ext.Options
	BaseTag ext.Tags

	mu      sync.Mutex
	state   *ext.State
	samples []ext.Sample
	onEnd   []func()
}

// New returns a VU in the init context with the given options.
func New(opts ext.Options) *VU {
	ctx, cancel := context.WithCancel(context.Background())
	v := &VU{RT: goja.New(), Ctx: ctx, Cancel: cancel, Reg: ext.NewRegistry(), Opts: opts,
		BaseTag: ext.Tags{"scenario": "default"}}
	v.RT.SetFieldNameMapper(goja.TagFieldNameMapper("js", true))
	_ = v.RT.Set("require", func(path string) goja.Value {
		m, ok := ext.Lookup(path)
		if !ok {
			panic(v.RT.NewGoError(&unknownModule{path}))
		}
		return m.NewModuleInstance(v).Exports().Value(v.RT)
	})
	return v
}

type unknownModule struct{ path string }

func (e *unknownModule) Error() string { return "unknown module " + e.path }

// StartIteration leaves the init context and sets __ITER to iter.
func (v *VU) StartIteration(iter int64) {
	v.mu.Lock()
	v.state = &ext.State{VUID: 1, VUIDInTest: 1, Iteration: iter, Scenario: "default"}
	v.mu.Unlock()
}

// EndIteration runs the OnIterationEnd callbacks.
func (v *VU) EndIteration() {
	v.mu.Lock()
	fns := append([]func(){}, v.onEnd...)
	v.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Samples returns a copy of every sample pushed so far.
func (v *VU) Samples() []ext.Sample {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]ext.Sample(nil), v.samples...)
}

// SamplesOf returns the samples of one metric.
func (v *VU) SamplesOf(name string) []ext.Sample {
	var out []ext.Sample
	for _, s := range v.Samples() {
		if s.Metric != nil && s.Metric.Name == name {
			out = append(out, s)
		}
	}
	return out
}

func (v *VU) Runtime() *goja.Runtime   { return v.RT }
func (v *VU) Context() context.Context { return v.Ctx }
func (v *VU) State() *ext.State {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.state
}
func (v *VU) Tags() ext.Tags           { return v.BaseTag.Merge(nil) }
func (v *VU) Metrics() *ext.Registry   { return v.Reg }
func (v *VU) Options() ext.Options     { return v.Opts }
func (v *VU) OnIterationEnd(fn func()) { v.mu.Lock(); v.onEnd = append(v.onEnd, fn); v.mu.Unlock() }
func (v *VU) Push(s ...ext.Sample) {
	v.mu.Lock()
	v.samples = append(v.samples, s...)
	v.mu.Unlock()
}

var _ ext.VU = (*VU)(nil)
