package executor

import (
	"context"
	"testing"
	"time"
)

// TestStopFromIterationStartsNoMore: a VU that stops the test in its
// iteration (test.abort() calls Scheduler.Stop on the VU's goroutine) must
// not start another one. Stop reached the loops through a relay goroutine,
// so a VU whose iteration returned at once often started one more
// (k6/execution's abort example under -i 2 logged the abort twice).
// Real time, iterations of ~0 s, bounded: 60 runs per executor.
func TestStopFromIterationStartsNoMore(t *testing.T) {
	for _, raw := range []string{
		`{"s": {"executor": "shared-iterations", "vus": 1, "iterations": 5}}`,
		`{"s": {"executor": "per-vu-iterations", "vus": 1, "iterations": 5}}`,
		`{"s": {"executor": "constant-vus", "vus": 1, "duration": "10s"}}`,
		`{"s": {"executor": "ramping-vus", "startVUs": 1, "stages": [{"duration": "10s", "target": 1}]}}`,
	} {
		cfgs := mustScenarios(t, raw)
		extra := 0
		for range 60 {
			rec := newRecorder()
			var s *Scheduler
			pool := &fakePool{rec: rec, iter: func(Iteration) time.Duration { s.Stop(); return 0 }}
			var err error
			if s, err = New(cfgs, Segment{}, Hooks{}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			if err := s.Run(ctx, pool); err != nil {
				t.Fatalf("%s: %v", cfgs[0].Executor, err)
			}
			cancel()
			if done, _ := rec.count(""); done != 1 {
				extra++
			}
		}
		if extra > 0 {
			t.Errorf("%s: in %d of 60 runs the VU started another iteration after it stopped the test", cfgs[0].Executor, extra)
		}
	}
}
