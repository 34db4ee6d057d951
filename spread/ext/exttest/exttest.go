// Package exttest is a minimal fake VU for testing ext modules without the
// engine: a goja runtime with require() for registered modules, a sample
// collector and a switch from init context to iteration context.
package exttest

import (
	"context"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/eventloop"
)

// VU is a fake ext.VU.
type VU struct {
	RT      *goja.Runtime
	Ctx     context.Context
	Cancel  context.CancelFunc
	Reg     *ext.Registry
	Opts    ext.Options
	BaseTag ext.TagSet
	// Dir is where ReadFile resolves relative paths (the working directory when empty).
	Dir string

	loop *eventloop.Loop

	mu      sync.Mutex
	state   *ext.State
	samples []ext.Sample
	onEnd   []func()
}

// New returns a VU in the init context with the given options.
func New(opts ext.Options) *VU {
	ctx, cancel := context.WithCancel(context.Background())
	v := &VU{RT: goja.New(), Ctx: ctx, Cancel: cancel, Reg: ext.NewRegistry(), Opts: opts,
		BaseTag: ext.TagsOf(ext.Tag{Key: "scenario", Value: "default"})}
	v.RT.SetFieldNameMapper(goja.TagFieldNameMapper("js", true))
	v.loop = eventloop.New(v.RT)
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

// RunString runs src like an iteration of the real engine: the code, then
// the VU's event loop until nothing it started is pending (callbacks
// registered with RegisterCallback, promises). When src evaluates to a
// promise, its value is returned once fulfilled. An unhandled rejection
// is an error ("Uncaught (in promise) ..."), as in the engine. The wait
// ends with an error when v.Ctx ends.
func (v *VU) RunString(src string) (goja.Value, error) {
	return v.Run(func() (goja.Value, error) { return v.RT.RunString(src) })
}

// Run is RunString for a call of the test's own: fn runs on this
// goroutine, then the event loop as RunString does.
func (v *VU) Run(fn func() (goja.Value, error)) (goja.Value, error) {
	res, err := fn()
	if err != nil {
		v.loop.Reset()
		return nil, err
	}
	return v.loop.Wait(v.Ctx, res)
}

// RegisterCallback reserves a place on the fake VU's event loop (ext.VU).
func (v *VU) RegisterCallback() func(func() error) { return v.loop.RegisterCallback() }

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
func (v *VU) Tags() ext.TagSet         { return v.BaseTag }
func (v *VU) Metrics() *ext.Registry   { return v.Reg }
func (v *VU) Options() ext.Options     { return v.Opts }
func (v *VU) OnIterationEnd(fn func()) { v.mu.Lock(); v.onEnd = append(v.onEnd, fn); v.mu.Unlock() }
func (v *VU) Push(s ...ext.Sample) {
	v.mu.Lock()
	v.samples = append(v.samples, s...)
	v.mu.Unlock()
}

var _ ext.VU = (*VU)(nil)
