package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func mustScenarios(t *testing.T, raw string) []Config {
	t.Helper()
	cfgs, err := ParseScenarios(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	return cfgs
}

// runResult is what a scheduled run produced, on virtual time.
type runResult struct {
	recs     []record
	rec      *recorder
	pool     *fakePool
	took     time.Duration
	dropped  map[string]int64
	warnings []string
	err      error
	sched    *Scheduler
}

// runBubble runs cfgs in a synctest bubble with a fake pool whose VUs take
// iter per iteration; during is called in the bubble after the run starts.
func runBubble(t *testing.T, cfgs []Config, seg Segment, iter func(Iteration) time.Duration, during func(s *Scheduler, cancel context.CancelFunc)) runResult {
	t.Helper()
	var res runResult
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		pool := &fakePool{rec: rec, iter: iter}
		var mu sync.Mutex
		res.dropped = map[string]int64{}
		hooks := Hooks{
			Dropped: func(sc string, _ map[string]string, n int64) { mu.Lock(); res.dropped[sc] += n; mu.Unlock() },
			Warn:    func(sc, msg string) { mu.Lock(); res.warnings = append(res.warnings, sc+": "+msg); mu.Unlock() },
		}
		s, err := New(cfgs, seg, hooks)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan struct{})
		go func() {
			res.err = s.Run(ctx, pool)
			close(done)
		}()
		if during != nil {
			during(s, cancel)
		}
		<-done
		res.took = time.Since(rec.t0)
		if n := pool.outstanding(); n != 0 {
			t.Errorf("%d VUs not given back to the pool", n)
		}
		if a := s.ActiveVUs(); a != 0 {
			t.Errorf("ActiveVUs after the run = %d", a)
		}
		for _, p := range s.Progress() {
			if !p.Done || p.Fraction != 1 {
				t.Errorf("scenario %s not done after Run: %+v", p.Name, p)
			}
		}
		res.recs, res.rec, res.pool, res.sched = rec.all(), rec, pool, s
	})
	return res
}

func constIter(d time.Duration) func(Iteration) time.Duration {
	return func(Iteration) time.Duration { return d }
}

func TestExecutorIterationCounts(t *testing.T) {
	tests := []struct {
		name            string
		scenarios       string
		iter            time.Duration
		wantDone        int
		wantInterrupted int
		wantTook        time.Duration
		wantVUs         int // VUs the pool had to make
	}{
		{"constant-vus", `{"s": {"executor": "constant-vus", "vus": 3, "duration": "10500ms"}}`,
			time.Second, 33, 0, 11 * time.Second, 3},
		{"constant-vus gracefulStop cuts", `{"s": {"executor": "constant-vus", "vus": 2, "duration": "7s", "gracefulStop": "1s"}}`,
			5 * time.Second, 2, 2, 8 * time.Second, 2},
		{"constant-vus gracefulStop waits", `{"s": {"executor": "constant-vus", "vus": 2, "duration": "7s", "gracefulStop": "10s"}}`,
			5 * time.Second, 4, 0, 10 * time.Second, 2},
		{"per-vu-iterations", `{"s": {"executor": "per-vu-iterations", "vus": 3, "iterations": 4}}`,
			time.Second, 12, 0, 4 * time.Second, 3},
		{"per-vu-iterations maxDuration", `{"s": {"executor": "per-vu-iterations", "vus": 2, "iterations": 100, "maxDuration": "3500ms", "gracefulStop": "0s"}}`,
			time.Second, 6, 2, 3500 * time.Millisecond, 2},
		{"shared-iterations", `{"s": {"executor": "shared-iterations", "vus": 3, "iterations": 10}}`,
			time.Second, 10, 0, 4 * time.Second, 3},
		{"shared-iterations maxDuration", `{"s": {"executor": "shared-iterations", "vus": 2, "iterations": 100, "maxDuration": "10500ms", "gracefulStop": "0s"}}`,
			time.Second, 20, 2, 10500 * time.Millisecond, 2},
		{"constant-arrival-rate", `{"s": {"executor": "constant-arrival-rate", "rate": 10, "duration": "2s", "preAllocatedVUs": 2}}`,
			50 * time.Millisecond, 20, 0, 2 * time.Second, 2},
		{"constant-arrival-rate timeUnit", `{"s": {"executor": "constant-arrival-rate", "rate": 30, "timeUnit": "1m", "duration": "1m", "preAllocatedVUs": 1}}`,
			time.Second, 30, 0, time.Minute, 1},
		{"ramping-arrival-rate", `{"s": {"executor": "ramping-arrival-rate", "startRate": 0, "stages": [{"duration": "10s", "target": 10}, {"duration": "2s", "target": 10}], "preAllocatedVUs": 1}}`,
			10 * time.Millisecond, 70, 0, 12 * time.Second, 1},
		// VU 1 joins at 1s (4 iterations), VU 2 at 2s (2): none starts at 3s.
		{"ramping-vus", `{"s": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "2s", "target": 2}, {"duration": "1s", "target": 2}], "gracefulRampDown": "0s"}}`,
			500 * time.Millisecond, 6, 0, 3 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runBubble(t, mustScenarios(t, tt.scenarios), Segment{}, constIter(tt.iter), nil)
			done, interrupted := res.rec.count("")
			if done != tt.wantDone || interrupted != tt.wantInterrupted {
				t.Errorf("completed %d, interrupted %d; want %d, %d", done, interrupted, tt.wantDone, tt.wantInterrupted)
			}
			if res.took != tt.wantTook {
				t.Errorf("run took %v, want %v", res.took, tt.wantTook)
			}
			if res.pool.made != tt.wantVUs {
				t.Errorf("pool made %d VUs, want %d", res.pool.made, tt.wantVUs)
			}
			p := res.sched.Progress()[0]
			if p.Iterations != int64(done) || p.Interrupted != int64(interrupted) {
				t.Errorf("progress counts %d/%d, recorder %d/%d", p.Iterations, p.Interrupted, done, interrupted)
			}
			// IterationInTest is unique.
			seen := map[int64]bool{}
			for _, r := range res.recs {
				if seen[r.it.IterationInTest] {
					t.Fatalf("IterationInTest %d seen twice", r.it.IterationInTest)
				}
				seen[r.it.IterationInTest] = true
			}
		})
	}
}

func TestConstantArrivalRateStartTimes(t *testing.T) {
	cfgs := mustScenarios(t, `{"s": {"executor": "constant-arrival-rate", "rate": 4, "duration": "1s", "preAllocatedVUs": 4, "tags": {"a": "b"}, "env": {"E": "1"}, "exec": "api"}}`)
	res := runBubble(t, cfgs, Segment{}, constIter(time.Second), nil)
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	if len(res.recs) != len(want) {
		t.Fatalf("%d iterations, want %d", len(res.recs), len(want))
	}
	for i, r := range res.recs {
		if r.start != want[i] || r.it.IterationInTest != int64(i) {
			t.Errorf("iteration %d started at %v (#%d), want %v", i, r.start, r.it.IterationInTest, want[i])
		}
		if r.it.Exec != "api" || r.it.Tags["a"] != "b" || r.it.Env["E"] != "1" || r.it.Scenario != "s" || r.it.Executor != ConstantArrivalRate {
			t.Errorf("iteration %d: %+v", i, r.it)
		}
	}
}

func TestRampingArrivalRateStartTimes(t *testing.T) {
	// From 0 to 10/s over 10s: due(t) = t²/2, so iteration k starts at sqrt(2k) s.
	cfgs := mustScenarios(t, `{"s": {"executor": "ramping-arrival-rate", "stages": [{"duration": "10s", "target": 10}], "preAllocatedVUs": 2}}`)
	res := runBubble(t, cfgs, Segment{}, constIter(10*time.Millisecond), nil)
	if len(res.recs) != 50 {
		t.Fatalf("%d iterations, want 50", len(res.recs))
	}
	for _, k := range []int{0, 1, 2, 8, 18, 32, 49} {
		r := res.recs[k]
		want := time.Duration(sqrt(float64(2*k)) * float64(time.Second))
		if d := r.start - want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("iteration %d started at %v, want %v", k, r.start, want)
		}
	}
}

func sqrt(x float64) float64 {
	z := x
	if z == 0 {
		return 0
	}
	for range 60 {
		z = (z + x/z) / 2
	}
	return z
}

func TestDroppedIterations(t *testing.T) {
	// 10 starts in 1s, each iteration lasts 1s, at most 5 VUs: 5 run, 5 drop.
	cfgs := mustScenarios(t, `{"s": {"executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 2, "maxVUs": 5}}`)
	res := runBubble(t, cfgs, Segment{}, constIter(time.Second), nil)
	done, _ := res.rec.count("")
	if done != 5 || res.dropped["s"] != 5 {
		t.Fatalf("completed %d, dropped %d; want 5, 5", done, res.dropped["s"])
	}
	if res.pool.made != 5 {
		t.Errorf("pool made %d VUs, want 5", res.pool.made)
	}
	if len(res.warnings) != 1 {
		t.Errorf("warnings %q, want one", res.warnings)
	}
	if p := res.sched.Progress()[0]; p.Dropped != 5 {
		t.Errorf("progress dropped %d", p.Dropped)
	}
}

func TestArrivalRateGrowthWaitsForInit(t *testing.T) {
	// No pre-allocated VU and 100ms to initialise one: the first start runs
	// late on a new VU. Starts that find no VU free wait for the first VU to
	// be free (while maxVUs allows one per waiting start), and VUs are made
	// one at a time, as k6 does.
	cfgs := mustScenarios(t, `{"s": {"executor": "constant-arrival-rate", "rate": 20, "duration": "1s", "preAllocatedVUs": 0, "maxVUs": 3}}`)
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		pool := &fakePool{rec: rec, iter: constIter(10 * time.Millisecond), initDur: 95 * time.Millisecond}
		var dropped int64
		s, err := New(cfgs, Segment{}, Hooks{Dropped: func(string, map[string]string, int64) { dropped++ }})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context(), pool); err != nil {
			t.Fatal(err)
		}
		recs := rec.all()
		// 0ms and 50ms wait for VU 1 (ready at 95ms), which runs them back to
		// back; VU 2 is made for the start still waiting at 95ms (ready at
		// 190ms), and from 100ms on VU 1 alone is free for every start.
		var starts []time.Duration
		for _, r := range recs[:4] {
			starts = append(starts, r.start)
		}
		if want := []time.Duration{95 * time.Millisecond, 105 * time.Millisecond, 115 * time.Millisecond, 150 * time.Millisecond}; fmt.Sprint(starts) != fmt.Sprint(want) {
			t.Errorf("first starts at %v, want %v", starts, want)
		}
		if pool.made != 2 || len(recs) != 20 || dropped != 0 {
			t.Errorf("made %d VUs, ran %d, dropped %d; want 2, 20, 0", pool.made, len(recs), dropped)
		}
	})
}

func TestArrivalRateWaitingStartsBoundedByMaxVUs(t *testing.T) {
	// One VU busy for 1s at a time, maxVUs 3, 200ms to make a VU: at most
	// maxVUs-ready starts wait for a VU; the rest are dropped at once.
	cfgs := mustScenarios(t, `{"s": {"executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 1, "maxVUs": 3}}`)
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		pool := &fakePool{rec: rec, iter: constIter(time.Second), initDur: 200 * time.Millisecond}
		var dropped int64
		s, err := New(cfgs, Segment{}, Hooks{Dropped: func(_ string, _ map[string]string, n int64) { dropped += n }})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context(), pool); err != nil {
			t.Fatal(err)
		}
		recs := rec.all()
		// The pre-allocated VU takes 200ms to get, so the loop starts at 200ms
		// with starts 0-2 due: 0 runs on it; 1 and 2 wait (2 = maxVUs - 1
		// ready); VU 2 is made (ready at 400ms) and runs 1, then VU 3 (ready
		// at 600ms) runs 2. Starts 3-5 find two waiting, or one waiting with
		// two ready: dropped; 6-9 find all 3 VUs busy: dropped.
		var got []string
		for _, r := range recs {
			got = append(got, fmt.Sprintf("%d@%v", r.it.IterationInTest, r.start))
		}
		if want := "[0@200ms 1@400ms 2@600ms]"; fmt.Sprint(got) != want {
			t.Errorf("iterations %v, want %s", got, want)
		}
		if pool.made != 3 || dropped != 7 {
			t.Errorf("made %d VUs, dropped %d; want 3, 7", pool.made, dropped)
		}
	})
}

// sampleVUs records ActiveVUs at the given offsets from the start.
func sampleVUs(at []time.Duration, out *[]int64) func(*Scheduler, context.CancelFunc) {
	return func(s *Scheduler, _ context.CancelFunc) {
		t0 := time.Now()
		for _, a := range at {
			time.Sleep(time.Until(t0.Add(a)))
			*out = append(*out, s.ActiveVUs())
		}
	}
}

func TestRampingVUsSchedule(t *testing.T) {
	// 0 → 4 VUs over 4s, hold 2s, 4 → 0 over 4s; iterations of 130ms (never
	// ending exactly on a whole second), so a VU leaving finishes quickly.
	cfgs := mustScenarios(t, `{"s": {"executor": "ramping-vus", "startVUs": 0, "stages": [
		{"duration": "4s", "target": 4}, {"duration": "2s", "target": 4}, {"duration": "4s", "target": 0}]}}`)
	var at []time.Duration
	for s := 0; s < 10; s++ {
		at = append(at, time.Duration(s)*time.Second+500*time.Millisecond)
	}
	var got []int64
	res := runBubble(t, cfgs, Segment{}, constIter(130*time.Millisecond), sampleVUs(at, &got))
	want := []int64{0, 1, 2, 3, 4, 4, 4, 3, 2, 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("active VUs at x.5s = %v, want %v", got, want)
	}
	// VU 1 is active from 1s to 10s, its last iteration starts at 9.97s.
	if res.took != 10100*time.Millisecond {
		t.Errorf("took %v", res.took)
	}
	// VUs are active 9s, 7s, 5s and 3s: ceil(d/130ms) iterations each.
	done, interrupted := res.rec.count("")
	if done != 70+54+39+24 || interrupted != 0 {
		t.Errorf("completed %d, interrupted %d", done, interrupted)
	}
}

func TestRampingVUsGracefulRampDown(t *testing.T) {
	// 2 VUs drop to 0 at once at 1s; iterations last 5s. With
	// gracefulRampDown 2s they are cut at 3s; with 10s they finish at 5s.
	for _, tc := range []struct {
		grd             string
		done, interrupt int
	}{{"2s", 0, 2}, {"10s", 2, 0}} {
		cfgs := mustScenarios(t, `{"s": {"executor": "ramping-vus", "startVUs": 2, "gracefulRampDown": "`+tc.grd+`", "gracefulStop": "30s",
			"stages": [{"duration": "1s", "target": 2}, {"duration": "0s", "target": 0}, {"duration": "9s", "target": 0}]}}`)
		res := runBubble(t, cfgs, Segment{}, constIter(5*time.Second), nil)
		done, interrupted := res.rec.count("")
		if done != tc.done || interrupted != tc.interrupt {
			t.Errorf("gracefulRampDown %s: completed %d, interrupted %d; want %d, %d", tc.grd, done, interrupted, tc.done, tc.interrupt)
		}
		for _, r := range res.recs {
			if r.interrupted && r.end != 3*time.Second {
				t.Errorf("interrupted at %v, want 3s", r.end)
			}
		}
	}
}

func TestRampingVUsRampBackUpReusesVU(t *testing.T) {
	// 1 → 0 → 1: the same slot comes back; VUIterationInScenario keeps counting.
	cfgs := mustScenarios(t, `{"s": {"executor": "ramping-vus", "startVUs": 1, "gracefulRampDown": "1s",
		"stages": [{"duration": "1s", "target": 1}, {"duration": "0s", "target": 0}, {"duration": "1s", "target": 0}, {"duration": "0s", "target": 1}, {"duration": "1s", "target": 1}]}}`)
	res := runBubble(t, cfgs, Segment{}, constIter(300*time.Millisecond), nil)
	if res.pool.made != 1 {
		t.Errorf("made %d VUs, want 1", res.pool.made)
	}
	var starts []time.Duration
	for i, r := range res.recs {
		starts = append(starts, r.start)
		if r.it.VUIterationInScenario != int64(i) {
			t.Errorf("iteration %d: VUIterationInScenario %d", i, r.it.VUIterationInScenario)
		}
	}
	want := "[0s 300ms 600ms 900ms 2s 2.3s 2.6s 2.9s]"
	if fmt.Sprint(starts) != want {
		t.Errorf("starts %v, want %s", starts, want)
	}
}

func TestStartTimeAndSeveralScenarios(t *testing.T) {
	cfgs := mustScenarios(t, `{
		"early": {"executor": "per-vu-iterations", "vus": 1, "iterations": 2},
		"late": {"executor": "shared-iterations", "vus": 2, "iterations": 2, "startTime": "5s", "exec": "other"}
	}`)
	res := runBubble(t, cfgs, Segment{}, constIter(time.Second), nil)
	var late []time.Duration
	for _, r := range res.recs {
		if r.it.Scenario == "late" {
			late = append(late, r.start)
			if r.it.Exec != "other" {
				t.Errorf("late exec = %q", r.it.Exec)
			}
			if !r.it.ScenarioStart.Equal(res.rec.t0.Add(5 * time.Second)) {
				t.Errorf("late ScenarioStart = %v", r.it.ScenarioStart.Sub(res.rec.t0))
			}
		}
	}
	if fmt.Sprint(late) != "[5s 5s]" {
		t.Errorf("late scenario starts %v, want [5s 5s]", late)
	}
	if d, _ := res.rec.count("early"); d != 2 {
		t.Errorf("early completed %d", d)
	}
	if res.took != 6*time.Second {
		t.Errorf("took %v", res.took)
	}
	// early ends at 2s but by plan may last maxDuration: k6 reserves 1+2 VUs.
	if res.pool.made != 2 || res.sched.PreInitVUs() != 3 {
		t.Errorf("made %d VUs, PreInitVUs %d; want 2, 3", res.pool.made, res.sched.PreInitVUs())
	}
}

func TestGracefulStop(t *testing.T) {
	// Stop() at 3.5s: no new iterations; the running ones (2s each) finish
	// within gracefulStop; the scenario starting at 10s never starts.
	cfgs := mustScenarios(t, `{
		"a": {"executor": "constant-vus", "vus": 2, "duration": "1m"},
		"b": {"executor": "constant-vus", "vus": 1, "duration": "1m", "startTime": "10s"}
	}`)
	res := runBubble(t, cfgs, Segment{}, constIter(2*time.Second), func(s *Scheduler, _ context.CancelFunc) {
		time.Sleep(3500 * time.Millisecond)
		s.Stop()
	})
	done, interrupted := res.rec.count("")
	if done != 4 || interrupted != 0 || res.took != 4*time.Second || res.err != nil {
		t.Errorf("completed %d, interrupted %d, took %v, err %v; want 4, 0, 4s, nil", done, interrupted, res.took, res.err)
	}
	if p := res.sched.Progress()[1]; p.Started {
		t.Errorf("scenario b started after Stop")
	}
}

func TestHardAbort(t *testing.T) {
	// Cancelling the context interrupts long iterations at once, in every executor.
	cfgs := mustScenarios(t, `{
		"cv": {"executor": "constant-vus", "vus": 2, "duration": "1m"},
		"rv": {"executor": "ramping-vus", "stages": [{"duration": "1m", "target": 3}]},
		"pv": {"executor": "per-vu-iterations", "vus": 2, "iterations": 5},
		"si": {"executor": "shared-iterations", "vus": 2, "iterations": 5},
		"ca": {"executor": "constant-arrival-rate", "rate": 1, "duration": "1m", "preAllocatedVUs": 1, "maxVUs": 10},
		"ra": {"executor": "ramping-arrival-rate", "startRate": 1, "stages": [{"duration": "1m", "target": 5}], "preAllocatedVUs": 1, "maxVUs": 10},
		"later": {"executor": "constant-vus", "vus": 1, "duration": "1s", "startTime": "1h"}
	}`)
	res := runBubble(t, cfgs, Segment{}, constIter(time.Hour), func(s *Scheduler, cancel context.CancelFunc) {
		time.Sleep(1500 * time.Millisecond)
		cancel()
	})
	if res.took != 1500*time.Millisecond || res.err != context.Canceled {
		t.Errorf("took %v, err %v; want 1.5s, context.Canceled", res.took, res.err)
	}
	done, interrupted := res.rec.count("")
	if done != 0 || interrupted == 0 {
		t.Errorf("completed %d, interrupted %d", done, interrupted)
	}
	for _, r := range res.recs {
		if r.end != 1500*time.Millisecond {
			t.Errorf("%s iteration ended at %v", r.it.Scenario, r.end)
		}
	}
}

func TestPlannedVUs(t *testing.T) {
	tests := []struct {
		name       string
		scenarios  string
		seg        string
		pre, maxVU int64
		total      time.Duration
	}{
		{"one", `{"a": {"executor": "constant-vus", "vus": 10, "duration": "30s"}}`, "", 10, 10, 60 * time.Second},
		{"overlap", `{"a": {"executor": "constant-vus", "vus": 10, "duration": "30s"}, "b": {"executor": "per-vu-iterations", "vus": 5, "startTime": "10s"}}`,
			"", 15, 15, 10*time.Second + 10*time.Minute + 30*time.Second},
		{"sequential", `{"a": {"executor": "constant-vus", "vus": 10, "duration": "30s", "gracefulStop": "0s"}, "b": {"executor": "constant-vus", "vus": 7, "duration": "30s", "startTime": "30s"}}`,
			"", 10, 10, 90 * time.Second},
		{"arrival", `{"a": {"executor": "constant-arrival-rate", "rate": 10, "duration": "30s", "preAllocatedVUs": 3, "maxVUs": 20}, "b": {"executor": "ramping-vus", "startVUs": 0, "stages": [{"duration": "10s", "target": 8}, {"duration": "10s", "target": 2}]}}`,
			"", 11, 28, 60 * time.Second},
		{"shared caps VUs by iterations", `{"a": {"executor": "shared-iterations", "vus": 10, "iterations": 10}}`, "0:1/4", 3, 3, 10*time.Minute + 30*time.Second},
		{"half", `{"a": {"executor": "constant-vus", "vus": 5, "duration": "30s"}}`, "1/2:1", 2, 2, 60 * time.Second},
		{"arrival segment keeps one VU", `{"a": {"executor": "constant-arrival-rate", "rate": 10, "duration": "30s", "preAllocatedVUs": 1}}`, "1/2:1", 0, 1, 60 * time.Second},
	}
	for _, tt := range tests {
		seg, err := ParseSegment(tt.seg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(mustScenarios(t, tt.scenarios), seg, Hooks{})
		if err != nil {
			t.Fatal(err)
		}
		if s.PreInitVUs() != tt.pre || s.MaxVUs() != tt.maxVU || s.TotalDuration() != tt.total {
			t.Errorf("%s: PreInitVUs %d, MaxVUs %d, TotalDuration %v; want %d, %d, %v", tt.name, s.PreInitVUs(), s.MaxVUs(), s.TotalDuration(), tt.pre, tt.maxVU, tt.total)
		}
	}
}

func TestProgressWhileRunning(t *testing.T) {
	cfgs := mustScenarios(t, `{"a": {"executor": "constant-vus", "vus": 2, "duration": "10s"}, "b": {"executor": "shared-iterations", "vus": 1, "iterations": 4, "startTime": "1s"}}`)
	var mid []Progress
	runBubble(t, cfgs, Segment{}, constIter(time.Second), func(s *Scheduler, _ context.CancelFunc) {
		time.Sleep(2500 * time.Millisecond)
		mid = s.Progress()
	})
	a, b := mid[0], mid[1]
	if !a.Started || a.Done || a.ActiveVUs != 2 || a.Elapsed != 2500*time.Millisecond || a.Fraction != 0.25 || a.Iterations != 4 {
		t.Errorf("a at 2.5s: %+v", a)
	}
	if !b.Started || b.ActiveVUs != 1 || b.Iterations != 1 || b.Fraction != 0.25 {
		t.Errorf("b at 2.5s: %+v", b)
	}
}

// TestSegmentsRunTheWholeTest runs every executor split in N segments and
// checks that together they ran exactly what one process runs.
func TestSegmentsRunTheWholeTest(t *testing.T) {
	scenarios := map[string]string{
		"per-vu-iterations":     `{"s": {"executor": "per-vu-iterations", "vus": 7, "iterations": 3}}`,
		"shared-iterations":     `{"s": {"executor": "shared-iterations", "vus": 3, "iterations": 23}}`,
		"constant-arrival-rate": `{"s": {"executor": "constant-arrival-rate", "rate": 7, "duration": "3s", "preAllocatedVUs": 20}}`,
		"ramping-arrival-rate":  `{"s": {"executor": "ramping-arrival-rate", "startRate": 2, "stages": [{"duration": "3s", "target": 9}, {"duration": "2s", "target": 0}], "preAllocatedVUs": 20}}`,
		"constant-vus":          `{"s": {"executor": "constant-vus", "vus": 7, "duration": "2500ms"}}`,
		"ramping-vus":           `{"s": {"executor": "ramping-vus", "startVUs": 1, "stages": [{"duration": "3s", "target": 9}, {"duration": "3s", "target": 2}], "gracefulRampDown": "0s"}}`,
	}
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		cfgs := mustScenarios(t, scenarios[name])
		whole := runBubble(t, cfgs, Segment{}, constIter(time.Second), nil)
		wholeStarts := startsOf(whole.recs)
		for n := 2; n <= 4; n++ {
			var parts []record
			for _, seg := range equalParts(t, n) {
				parts = append(parts, runBubble(t, cfgs, seg, constIter(time.Second), nil).recs...)
			}
			sort.Slice(parts, func(i, j int) bool { return parts[i].it.IterationInTest < parts[j].it.IterationInTest })
			for i := 1; i < len(parts); i++ {
				if parts[i].it.IterationInTest == parts[i-1].it.IterationInTest {
					t.Fatalf("%s in %d segments: IterationInTest %d ran twice", name, n, parts[i].it.IterationInTest)
				}
			}
			if got := startsOf(parts); got != wholeStarts {
				t.Errorf("%s in %d segments: iteration starts differ\n got %s\nwant %s", name, n, got, wholeStarts)
			}
		}
	}
}

// startsOf summarises a run as the sorted list of iteration start offsets
// (and, for numbered executors, their test-wide numbers).
func startsOf(recs []record) string {
	type st struct {
		at time.Duration
		k  int64
	}
	var all []st
	for _, r := range recs {
		at, k := r.start, r.it.IterationInTest
		switch r.it.Executor {
		case ConstantVUs, RampingVUs:
			k = 0 // looping VUs: times and counts compare, numbering is per process
		case SharedIterations:
			at = 0 // who runs which shared iteration when depends on each process's VUs
		}
		all = append(all, st{at, k})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].at != all[j].at {
			return all[i].at < all[j].at
		}
		return all[i].k < all[j].k
	})
	return fmt.Sprint(all)
}

func TestLateStartsAreNeverLost(t *testing.T) {
	// Getting the 2 pre-allocated VUs takes 2s (slow VU init), longer than
	// the whole 1s schedule: every start is already due when the loop runs.
	// Each must still run late or count as dropped.
	cfgs := mustScenarios(t, `{"s": {"executor": "constant-arrival-rate", "rate": 10, "duration": "1s", "preAllocatedVUs": 2}}`)
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder()
		pool := &fakePool{rec: rec, iter: constIter(time.Hour), initDur: time.Second}
		var dropped int64
		s, err := New(cfgs, Segment{}, Hooks{Dropped: func(string, map[string]string, int64) { dropped++ }})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Run(t.Context(), pool); err != nil {
			t.Fatal(err)
		}
		done, interrupted := rec.count("")
		if done+interrupted != 2 || dropped != 8 {
			t.Errorf("ran %d, dropped %d; want 2, 8", done+interrupted, dropped)
		}
	})
}

func TestIterationProgress(t *testing.T) {
	cfgs := mustScenarios(t, `{"t": {"executor": "constant-vus", "vus": 1, "duration": "4s"}, "i": {"executor": "per-vu-iterations", "vus": 1, "iterations": 4}}`)
	res := runBubble(t, cfgs, Segment{}, constIter(time.Second), nil)
	var got []string
	for _, r := range res.recs {
		got = append(got, fmt.Sprintf("%s@%v=%.2f", r.it.Scenario, r.start, r.progress))
	}
	// Time-based for constant-vus, iteration-based for per-vu-iterations.
	want := "[i@0s=0.00 i@1s=0.25 i@2s=0.50 i@3s=0.75 t@0s=0.00 t@1s=0.25 t@2s=0.50 t@3s=0.75]"
	sort.Strings(got)
	if fmt.Sprint(got) != want {
		t.Errorf("progress at iteration starts = %v, want %s", got, want)
	}
}

func TestArrivalRateProgressToTheEnd(t *testing.T) {
	// 5 → 10/s over 1s: 8 starts, the last at ~0.9s. The scenario still
	// lasts 1s (as in k6) and its progress reaches 1 exactly when done.
	cfgs := mustScenarios(t, `{"rrate": {"executor": "ramping-arrival-rate", "startRate": 5, "timeUnit": "1s", "preAllocatedVUs": 2, "stages": [{"duration": "1s", "target": 10}]}}`)
	var mid []Progress
	res := runBubble(t, cfgs, Segment{}, constIter(time.Millisecond), func(s *Scheduler, _ context.CancelFunc) {
		time.Sleep(950 * time.Millisecond)
		mid = s.Progress()
	})
	if p := mid[0]; p.Done || p.Fraction != 0.95 {
		t.Errorf("at 0.95s: done %v, fraction %v; want false, 0.95", p.Done, p.Fraction)
	}
	if p := res.sched.Progress()[0]; !p.Done || p.Fraction != 1 || p.Elapsed != time.Second || p.Iterations != 8 {
		t.Errorf("after the run: %+v", p)
	}
}
