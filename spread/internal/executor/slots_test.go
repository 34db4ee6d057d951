package executor

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// slowSecondGetPool hands out pre-initialised VUs (as the engine's pool
// does); every Get after the first waits 10ms first, as a Get contending
// for the pool's lock or a slow goroutine start would.
type slowSecondGetPool struct {
	fakePool
	gets int
}

func (p *slowSecondGetPool) Get(ctx context.Context) (VU, error) {
	p.mu.Lock()
	p.gets++
	n := p.gets
	p.mu.Unlock()
	if n > 1 {
		time.Sleep(10 * time.Millisecond)
	}
	return p.fakePool.Get(ctx)
}

// Each VU slot of a looping executor holds its own VU for the whole
// scenario: with quick iterations the first slot used to finish and give
// its VU back before the second slot asked the pool for one, so both
// slots ran on the same VU (its per-VU iteration counter restarting at 0)
// and VU 2 never ran.
func TestLoopingSlotsHoldDistinctVUs(t *testing.T) {
	for _, ex := range []string{"per-vu-iterations", "shared-iterations"} {
		t.Run(ex, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfgs := mustScenarios(t, `{"s": {"executor": "`+ex+`", "vus": 2, "iterations": 3}}`)
				rec := newRecorder()
				pool := &slowSecondGetPool{fakePool: fakePool{rec: rec, iter: func(Iteration) time.Duration { return time.Millisecond }}}
				for id := 2; id >= 1; id-- { // pre-initialised, VU 1 on top
					pool.idle = append(pool.idle, &fakeVU{id: id, rec: rec, iter: pool.iter})
				}
				pool.made = 2
				s, err := New(cfgs, Segment{}, Hooks{})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Run(t.Context(), pool); err != nil {
					t.Fatal(err)
				}
				perVU := map[int][]int64{}
				for _, r := range rec.all() {
					perVU[r.vu] = append(perVU[r.vu], r.it.VUIterationInScenario)
				}
				if len(perVU) != 2 {
					t.Fatalf("iterations ran on VUs %v, want VUs 1 and 2", perVU)
				}
				if ex == "per-vu-iterations" {
					for vu, its := range perVU {
						if len(its) != 3 || its[0] != 0 || its[2] != 2 {
							t.Errorf("VU %d ran iterations %v, want 0 1 2", vu, its)
						}
					}
				}
				if pool.outstanding() != 0 {
					t.Errorf("%d VUs not given back", pool.outstanding())
				}
			})
		})
	}
}
