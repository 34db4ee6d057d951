package executor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestRealClock runs a short mix of scenarios on the real clock (outside a
// synctest bubble), as the engine does, to catch anything that only works
// on virtual time.
func TestRealClock(t *testing.T) {
	cfgs := mustScenarios(t, `{
		"cv": {"executor": "constant-vus", "vus": 2, "duration": "200ms", "gracefulStop": "50ms"},
		"ar": {"executor": "constant-arrival-rate", "rate": 50, "duration": "200ms", "preAllocatedVUs": 5, "startTime": "50ms"}
	}`)
	rec := newRecorder()
	pool := newPool(rec, 20*time.Millisecond)
	var dropped atomic.Int64
	s, err := New(cfgs, Segment{}, Hooks{Dropped: func(string, map[string]string, int64) { dropped.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Run(ctx, pool); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %v, want about 250ms", took)
	}
	cv, _ := rec.count("cv")
	ar, _ := rec.count("ar")
	// 2 VUs x 200ms / 20ms ≈ 20 (scheduling slack on a busy machine lowers it);
	// 50/s x 200ms = 10 starts exactly, run or (on a starved machine) dropped.
	if cv < 8 || cv > 22 || int64(ar)+dropped.Load() != 10 || ar < 5 {
		t.Errorf("completed cv=%d (want ~20), ar=%d + dropped %d (want 10)", cv, ar, dropped.Load())
	}
	if pool.outstanding() != 0 {
		t.Errorf("%d VUs not returned", pool.outstanding())
	}
}

// failingPool fails every Get.
type failingPool struct{ calls atomic.Int64 }

func (p *failingPool) Get(context.Context) (VU, error) {
	p.calls.Add(1)
	return nil, errors.New("init threw")
}
func (p *failingPool) Put(VU) {}

func TestPoolErrorsReported(t *testing.T) {
	cfgs := mustScenarios(t, `{
		"cv": {"executor": "constant-vus", "vus": 2, "duration": "50ms"},
		"ar": {"executor": "constant-arrival-rate", "rate": 100, "duration": "50ms", "preAllocatedVUs": 0, "maxVUs": 1}
	}`)
	var errs, dropped atomic.Int64
	s, err := New(cfgs, Segment{}, Hooks{
		VUError: func(string, error) { errs.Add(1) },
		Dropped: func(string, map[string]string, int64) { dropped.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Run(ctx, &failingPool{}); err != nil {
		t.Fatal(err)
	}
	// Two constant VUs fail, and every arrival-rate start tries to grow and fails.
	if errs.Load() < 3 || dropped.Load() != 5 {
		t.Errorf("VU errors %d (want >= 3), dropped %d (want 5)", errs.Load(), dropped.Load())
	}
}
