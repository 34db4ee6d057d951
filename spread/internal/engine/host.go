package engine

import (
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/vu"
)

// The run is its VUs' host (vu.Host): each VU asks it, when it needs to,
// for what only the run knows, rather than having functions patched into
// the VUs' shared state as the run progresses.

// Push hands samples to the run's pump (set up before any VU exists).
func (r *run) Push(samples ...ext.Sample) { r.pump.Push(samples...) }

// Collect and Kick make the run a vu.Collector: each VU buffers its own
// samples and the pump drains them (see pump).
func (r *run) Collect(drain func([][]ext.Sample) [][]ext.Sample) { r.pump.Collect(drain) }
func (r *run) Kick()                                             { r.pump.Kick() }

// Direct is the metrics engine's AddSamples when it is the only sink
// (vu.Direct): it keeps no batch and is safe from any goroutine.
func (r *run) Direct() func([]ext.Sample) {
	if !r.pump.recycle {
		return nil
	}
	return r.metrics.AddSamples
}

// Abort is test.abort().
func (r *run) Abort(reason string) { r.abort(reason) }

// Fail is test.fail(): the test goes on and ends with exit code 110.
func (r *run) Fail(reason string) {
	r.mu.Lock()
	first := r.failReason == ""
	if first {
		r.failReason = reason
	}
	r.mu.Unlock()
	if first {
		r.log.Log("warn", "test.fail() called, the test will be marked as failed: "+reason, js.Field{Key: "source", Value: "fail"})
	}
}

// SetupData is setup()'s result as JSON, once setup has run.
func (r *run) SetupData() string {
	if p := r.setupJSON.Load(); p != nil {
		return *p
	}
	return ""
}

// ActiveVUs is the executors' count of VUs in scenarios.
func (r *run) ActiveVUs() int64 {
	if r.sched == nil {
		return -1
	}
	return r.sched.ActiveVUs()
}

// TestStart is when the executors started, or zero before.
func (r *run) TestStart() time.Time {
	if p := r.testStart.Load(); p != nil {
		return *p
	}
	return time.Time{}
}

var (
	_ vu.Host      = (*run)(nil)
	_ vu.Collector = (*run)(nil)
	_ vu.Direct    = (*run)(nil)
)
