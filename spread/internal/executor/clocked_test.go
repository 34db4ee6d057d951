package executor

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// clockedVU is a ClockedVU: it records the start it was given and
// returns the clock its iter func says (which may differ from the real
// one, to show the executor uses it).
type clockedVU struct {
	mu     sync.Mutex
	starts []time.Time
	ends   []time.Time
	iter   func(start time.Time) time.Time
}

func (v *clockedVU) RunIteration(ctx context.Context, it Iteration) error {
	_, err := v.RunIterationAt(ctx, it, time.Time{})
	return err
}

func (v *clockedVU) RunIterationAt(_ context.Context, _ Iteration, start time.Time) (time.Time, error) {
	end := v.iter(start)
	v.mu.Lock()
	v.starts = append(v.starts, start)
	v.ends = append(v.ends, end)
	v.mu.Unlock()
	return end, nil
}

type onePool struct{ vu VU }

func (p onePool) Get(context.Context) (VU, error) { return p.vu, nil }
func (p onePool) Put(VU)                          {}

func runClocked(t *testing.T, scenarios string, v *clockedVU) *Scheduler {
	t.Helper()
	cfgs, err := ParseScenarios([]byte(scenarios))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfgs, Segment{}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context(), onePool{v}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestClockedVULoop: a looping VU that shares its clock is given, as each
// iteration's start, the clock the previous iteration returned (the
// first: the scenario's start), and the end-of-scenario check uses the
// returned clock too, without reading its own.
func TestClockedVULoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		v := &clockedVU{iter: func(start time.Time) time.Time {
			time.Sleep(time.Second)
			return time.Now()
		}}
		s := runClocked(t, `{"s": {"executor": "constant-vus", "vus": 1, "duration": "3500ms"}}`, v)
		if len(v.starts) != 4 {
			t.Fatalf("%d iterations, want 4 (at 0s, 1s, 2s, 3s)", len(v.starts))
		}
		if !v.starts[0].Equal(t0) {
			t.Errorf("first start %v after the scenario's start", v.starts[0].Sub(t0))
		}
		for i := 1; i < len(v.starts); i++ {
			if !v.starts[i].Equal(v.ends[i-1]) {
				t.Errorf("iteration %d started at %v, want the previous return %v", i, v.starts[i].Sub(t0), v.ends[i-1].Sub(t0))
			}
		}
		if p := s.Progress()[0]; p.Iterations != 4 || p.Interrupted != 0 {
			t.Errorf("progress: %d completed, %d interrupted; want 4, 0", p.Iterations, p.Interrupted)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		// The VU says the clock is past the scenario's end (no time
		// passes in the bubble): the executor starts no second iteration.
		v := &clockedVU{iter: func(start time.Time) time.Time { return start.Add(time.Hour) }}
		runClocked(t, `{"s": {"executor": "constant-vus", "vus": 1, "duration": "10s"}}`, v)
		if len(v.starts) != 1 {
			t.Fatalf("%d iterations, want 1: the returned clock is the end check's", len(v.starts))
		}
	})
}
