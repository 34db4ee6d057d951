package vu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/js"
	"spread.dev/spread/internal/js/builtin"
)

// probe is a test module recording what a module sees of its VU.
type probe struct {
	mu        sync.Mutex
	initState []*ext.State
	opts      []ext.Options
	vus       []ext.VU
	ends      int
}

func (p *probe) NewModuleInstance(v ext.VU) ext.Instance {
	p.mu.Lock()
	p.initState = append(p.initState, v.State())
	p.opts = append(p.opts, v.Options())
	p.vus = append(p.vus, v)
	p.mu.Unlock()
	v.OnIterationEnd(func() { p.mu.Lock(); p.ends++; p.mu.Unlock() })
	return probeInstance{v}
}

type probeInstance struct{ v ext.VU }

func (i probeInstance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"tags":  func() map[string]string { return i.v.Tags().Map() },
		"state": func() *ext.State { return i.v.State() },
		"ctxDone": func() bool {
			select {
			case <-i.v.Context().Done():
				return true
			default:
				return false
			}
		},
	}}
}

type sink struct {
	mu      sync.Mutex
	samples []ext.Sample
}

func (s *sink) push(ss ...ext.Sample) {
	s.mu.Lock()
	s.samples = append(s.samples, ss...)
	s.mu.Unlock()
}
func (s *sink) of(name string) []ext.Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ext.Sample
	for _, x := range s.samples {
		if x.Metric.Name == name {
			out = append(out, x)
		}
	}
	return out
}

func newShared(t *testing.T, script string, p *probe, s *sink) *Shared {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "script.js")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("file-data"), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, err := js.Compile(path)
	if err != nil {
		t.Fatal(err)
	}
	mods := builtin.Modules()
	mods["k6/x/probe"] = p
	sh := &Shared{
		Program:  prog,
		Resolver: &js.Resolver{Builtins: mods},
		Files:    js.NewFiles(dir),
		Logger:   js.NewLogger(nil, ""),
		Registry: ext.NewRegistry(),
		Options:  ext.Options{"noConnectionReuse": []byte("true")},
		Env:      map[string]string{"A": "from-env"},
		Tags:     ext.NewTagSet(map[string]string{"run": "r1"}),
	}
	hosts.Store(sh, &testHost{s: s})
	return sh
}

// testHost is a VU's host in tests: samples into a sink, setup data.
type testHost struct {
	NopHost
	s       *sink
	setup   string
	aborted []string
	failed  []string
}

func (h *testHost) Push(ss ...ext.Sample) { h.s.push(ss...) }
func (h *testHost) SetupData() string     { return h.setup }
func (h *testHost) Abort(r string)        { h.aborted = append(h.aborted, r) }
func (h *testHost) Fail(r string)         { h.failed = append(h.failed, r) }

var hosts sync.Map // *Shared → *testHost

func hostFor(sh *Shared) *testHost { h, _ := hosts.Load(sh); return h.(*testHost) }

const probeScript = `
import probe from 'k6/x/probe';
import { group, check } from 'k6';
import { Counter } from 'k6/metrics';
import exec from 'k6/execution';
const c = new Counter('hits');
const data = open('data.txt');
export const options = { vus: 1 };
export default function (setup) {
  const out = { iter: __ITER, vu: __VU, env: __ENV.A, senv: __ENV.S, data, setup: setup && setup.x,
    tags: probe.tags(), state: probe.state(), name: exec.scenario.name, inTest: exec.scenario.iterationInTest };
  group('outer', () => { group('inner', () => { out.groupTags = probe.tags(); c.add(1, { extra: 'y' }); }); });
  check(1, { one: (v) => v === 1 });
  return out;
}
export function fails() { throw new Error('kaput'); }
export function spin() { for (;;) {} }
`

func TestVUInitAndIteration(t *testing.T) {
	p, s := &probe{}, &sink{}
	sh := newShared(t, probeScript, p, s)
	hostFor(sh).setup = `{"x":42}`
	v, err := New(context.Background(), sh, hostFor(sh), 3, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.initState) != 1 || p.initState[0] != nil {
		t.Fatalf("State() during init = %v, want nil", p.initState)
	}
	if string(p.opts[0]["noConnectionReuse"]) != "true" {
		t.Errorf("Options() = %v", p.opts[0])
	}
	scenTags := map[string]string{"st": "sv"}
	it := executor.Iteration{Scenario: "sc", Executor: executor.ConstantVUs, Exec: "default",
		Env: map[string]string{"S": "scenario-env"}, Tags: scenTags, VUIterationInScenario: 5, IterationInTest: 11}
	if err := v.RunIteration(context.Background(), it); err != nil {
		t.Fatal(err)
	}
	if p.ends != 1 {
		t.Errorf("OnIterationEnd ran %d times, want 1", p.ends)
	}
	// Read what the iteration saw by running it again through Call-less path:
	// the script returned it; re-run the function directly for its value.
	fn, _ := goja.AssertFunction(v.Export("default"))
	res, err := fn(goja.Undefined(), v.setupArg())
	if err != nil {
		t.Fatal(err)
	}
	got := res.Export().(map[string]any)
	checks := map[string]any{"iter": int64(5), "vu": int64(3), "env": "from-env", "senv": "scenario-env",
		"data": "file-data", "setup": int64(42), "name": "sc", "inTest": int64(11)}
	for k, want := range checks {
		if got[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], want)
		}
	}
	tags := got["tags"].(map[string]string)
	if tags["scenario"] != "sc" || tags["group"] != "" || tags["run"] != "r1" || tags["st"] != "sv" {
		t.Errorf("tags = %v", tags)
	}
	if gt := got["groupTags"].(map[string]string); gt["group"] != "::outer::inner" {
		t.Errorf("group tag = %q, want ::outer::inner", gt["group"])
	}
	st := got["state"].(*ext.State)
	if st.VUID != 3 || st.VUIDInTest != 7 || st.Scenario != "sc" || st.Iteration != 5 {
		t.Errorf("state = %+v", st)
	}
	if n := len(s.of(ext.MetricIterations)); n != 1 {
		t.Errorf("%d iterations samples, want 1", n)
	}
	if d := s.of(ext.MetricIterationDuration); len(d) != 1 || d[0].Tags.Get("scenario") != "sc" {
		t.Errorf("iteration_duration samples = %v", d)
	}
	hits := s.of("hits")
	if len(hits) < 1 || hits[0].Tags.Get("extra") != "y" || hits[0].Tags.Get("group") != "::outer::inner" {
		t.Errorf("hits samples = %v", hits)
	}
	gd := s.of(ext.MetricGroupDuration)
	if len(gd) < 2 || gd[0].Tags.Get("group") != "::outer::inner" || gd[1].Tags.Get("group") != "::outer" {
		t.Errorf("group_duration samples = %v", gd)
	}
	if ch := s.of(ext.MetricChecks); len(ch) < 1 || ch[0].Tags.Get("check") != "one" || ch[0].Value != 1 {
		t.Errorf("checks samples = %v", ch)
	}
}

func TestVUExceptionAndInterrupt(t *testing.T) {
	p, s := &probe{}, &sink{}
	sh := newShared(t, probeScript, p, s)
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: "fails"})
	var se *ScriptError
	if !errors.As(err, &se) || !contains(se.Error(), "kaput") || !contains(se.Error(), "script.js:") {
		t.Fatalf("want a ScriptError with kaput and position, got %v", err)
	}
	if n := len(s.of(ext.MetricIterations)); n != 1 {
		t.Errorf("an iteration that threw still counts (k6): %d samples", n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = v.RunIteration(ctx, executor.Iteration{Scenario: "a", Exec: "spin"})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin: want ErrInterrupted, got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("interrupt took %s", time.Since(start))
	}
	if n := len(s.of(ext.MetricIterations)); n != 1 {
		t.Errorf("an interrupted iteration must not count: %d samples", n)
	}
	// The VU is reusable after an interrupt.
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"}); err != nil {
		t.Fatalf("after interrupt: %v", err)
	}
}

func TestVUInitErrors(t *testing.T) {
	for name, script := range map[string]string{
		"throws":         "throw new Error('init boom');\nexport default function () {}",
		"unknown module": "import x from 'k6/x/nope';\nexport default function () { x(); }",
		"open missing":   "const d = open('nope.txt');\nexport default function () {}",
	} {
		t.Run(name, func(t *testing.T) {
			sh := newShared(t, script, &probe{}, &sink{})
			_, err := New(context.Background(), sh, hostFor(sh), 1, 1)
			var se *ScriptError
			if !errors.As(err, &se) || se.Phase != "init" {
				t.Fatalf("want an init ScriptError, got %v", err)
			}
		})
	}
}

func TestOpenOnlyInInit(t *testing.T) {
	sh := newShared(t, "export default function () { open('data.txt'); }", &probe{}, &sink{})
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = v.RunIteration(context.Background(), executor.Iteration{Scenario: "a"})
	if err == nil || !contains(err.Error(), "init context") {
		t.Fatalf("open() in an iteration: %v", err)
	}
}

func contains(s, sub string) bool { return len(s) >= len(sub) && (stringIndex(s, sub) >= 0) }

func stringIndex(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestMetricsModule(t *testing.T) {
	s := &sink{}
	sh := newShared(t, `
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import { check, fail } from 'k6';
const c = new Counter('m_counter'), g = new Gauge('m_gauge'), r = new Rate('m_rate'), tr = new Trend('m_trend', true);
let addInInit = 'no error';
try { c.add(1); } catch (e) { addInInit = String(e); }
export function main() {
  c.add(2); g.add(7); r.add(true); r.add(0); tr.add(12.5, { k: 'v' });
  if (!check(null, { 'fails': () => false, 'passes': () => true }) === false) throw new Error('check returned true');
  return addInInit;
}
export function late() { new Counter('late'); }
export function failing() { fail('told to'); }
`, &probe{}, s)
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "m", Exec: "main"}); err != nil {
		t.Fatal(err)
	}
	reg := sh.Registry
	for name, want := range map[string]string{"m_counter": "counter/default", "m_gauge": "gauge/default",
		"m_rate": "rate/default", "m_trend": "trend/time"} {
		m := reg.Get(name)
		if m == nil || m.Type.String()+"/"+m.Contains.String() != want {
			t.Errorf("%s = %+v, want %s", name, m, want)
		}
	}
	vals := func(name string) []float64 {
		var out []float64
		for _, x := range s.of(name) {
			out = append(out, x.Value)
		}
		return out
	}
	if got := vals("m_rate"); len(got) != 2 || got[0] != 1 || got[1] != 0 {
		t.Errorf("rate values %v, want [1 0]", got)
	}
	if got := vals("m_counter"); len(got) != 1 || got[0] != 2 {
		t.Errorf("counter values %v (the add in init must not count)", got)
	}
	if tr := s.of("m_trend"); len(tr) != 1 || tr[0].Tags.Get("k") != "v" || tr[0].Tags.Get("scenario") != "m" {
		t.Errorf("trend samples %v", tr)
	}
	if ch := vals(ext.MetricChecks); len(ch) != 2 || ch[0]+ch[1] != 1 {
		t.Errorf("checks %v, want one pass and one fail", ch)
	}
	fn, _ := goja.AssertFunction(v.Export("main"))
	res, _ := fn(goja.Undefined())
	if !contains(res.String(), "init context") {
		t.Errorf("add() in the init context: %q, want an init-context error", res)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "m", Exec: "late"}); err == nil || !contains(err.Error(), "init context") {
		t.Errorf("new Counter() in an iteration: %v", err)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "m", Exec: "failing"}); err == nil || !contains(err.Error(), "told to") {
		t.Errorf("fail(): %v", err)
	}
}

// TestVUInterruptReusedContext: the VU stays registered on one context
// across calls (see interruptOn). It must still interrupt when that
// context ends, at once for a context that already ended, and never
// because an older context ended during a call under a newer one.
func TestVUInterruptReusedContext(t *testing.T) {
	p, s := &probe{}, &sink{}
	sh := newShared(t, probeScript, p, s)
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	old, cancelOld := context.WithCancel(context.Background())
	defer cancelOld()
	for i := range 3 {
		if err := v.RunIteration(old, executor.Iteration{Scenario: "a"}); err != nil {
			t.Fatalf("iteration %d under one context: %v", i, err)
		}
	}
	cur, cancelCur := context.WithCancel(context.Background())
	defer cancelCur()
	time.AfterFunc(50*time.Millisecond, cancelOld)
	time.AfterFunc(400*time.Millisecond, cancelCur)
	start := time.Now()
	err = v.RunIteration(cur, executor.Iteration{Scenario: "a", Exec: "spin"})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin: want ErrInterrupted, got %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Fatalf("spin ended after %s: want it cut by its own context at ~400ms, not the old one at 50ms", d)
	}
	start = time.Now()
	if err := v.RunIteration(cur, executor.Iteration{Scenario: "a", Exec: "spin"}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("spin under an ended context: want ErrInterrupted, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("spin under an ended context took %s", d)
	}
	live, cancelLive := context.WithCancel(context.Background())
	defer cancelLive()
	for i := range 2 {
		if err := v.RunIteration(live, executor.Iteration{Scenario: "a"}); err != nil {
			t.Fatalf("iteration %d after the interrupts: %v", i, err)
		}
	}
}

// TestIterGlobal: __ITER is an accessor (see defineIter) that must read
// like the plain global k6 sets: 0 in the init context, the iteration
// number in the scenario, and a script's own assignment until the next
// iteration.
func TestIterGlobal(t *testing.T) {
	sh := newShared(t, probeScript, &probe{}, &sink{})
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		val, err := v.rt.RunString(`JSON.stringify([__ITER, typeof __ITER, '__ITER' in globalThis])`)
		if err != nil {
			t.Fatal(err)
		}
		return val.String()
	}
	if got := read(); got != `[0,"number",true]` {
		t.Fatalf("init context: __ITER reads %s", got)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", VUIterationInScenario: 7}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != `[7,"number",true]` {
		t.Fatalf("after iteration 7: __ITER reads %s", got)
	}
	if _, err := v.rt.RunString(`__ITER = 'mine'`); err != nil {
		t.Fatalf("assigning __ITER: %v", err)
	}
	if got := read(); got != `["mine","string",true]` {
		t.Fatalf("after an assignment: __ITER reads %s", got)
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", VUIterationInScenario: 8}); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != `[8,"number",true]` {
		t.Fatalf("next iteration: __ITER reads %s", got)
	}
}

// TestAsyncCheckAndGroupRefused: as k6, check() and group() refuse async
// functions instead of counting a (truthy) Promise as a passed check.
func TestAsyncCheckAndGroupRefused(t *testing.T) {
	script := `
import { group, check } from 'k6';
export default function () {}
export function asyncCheck() { check(1, { a: async () => false }); }
export function promiseCheck() { check(1, { b: () => Promise.resolve(false) }); }
export function asyncGroup() { group('g', async () => {}); }
export function syncOK() { if (!check(1, { one: (v) => v === 1 })) throw new Error('sync check failed'); group('h', () => {}); }
`
	s := &sink{}
	sh := newShared(t, script, &probe{}, s)
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for exec, want := range map[string]string{
		"asyncCheck":   `check "a": check() does not support async functions`,
		"promiseCheck": `check "b" returned a Promise`,
		"asyncGroup":   `group() does not support async functions`,
	} {
		err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: exec})
		var se *ScriptError
		if !errors.As(err, &se) || !contains(se.Error(), want) {
			t.Errorf("%s: want a ScriptError with %q, got %v", exec, want, err)
		}
	}
	for _, c := range s.of(ext.MetricChecks) {
		if c.Value == 1 {
			t.Errorf("an async check was counted as passed: %+v", c)
		}
	}
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: "syncOK"}); err != nil {
		t.Fatalf("sync check and group: %v", err)
	}
	if n := len(s.of(ext.MetricChecks)); n != 1 {
		t.Errorf("%d checks samples, want 1 (the sync one)", n)
	}
}
