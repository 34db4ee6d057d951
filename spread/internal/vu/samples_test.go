package vu

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/executor"
)

// collectHost is a host that collects from the VUs' own buffers, as the
// engine's pump does; drainEvery > 0 drains on each Kick as well.
type collectHost struct {
	testHost
	mu     sync.Mutex
	drains []func([][]ext.Sample) [][]ext.Sample
	kicks  atomic.Int64
	reuse  bool // give drained chunks back (vu.Reuse), as a pump with no outputs does
	got    []ext.Sample
	pushed int // samples that came through Push instead
}

func (h *collectHost) Collect(d func([][]ext.Sample) [][]ext.Sample) {
	h.mu.Lock()
	h.drains = append(h.drains, d)
	h.mu.Unlock()
}
func (h *collectHost) Kick() { h.kicks.Add(1); h.drain() }
func (h *collectHost) Push(ss ...ext.Sample) {
	h.mu.Lock()
	h.pushed += len(ss)
	h.got = append(h.got, ss...)
	h.mu.Unlock()
}

// directHost is a collectHost whose sink the VUs may call themselves (vu.Direct).
type directHost struct {
	collectHost
	direct int // samples that came through the direct sink
}

func (h *directHost) Direct() func([]ext.Sample) {
	return func(b []ext.Sample) {
		h.mu.Lock()
		h.direct += len(b)
		h.got = append(h.got, b...) // a copy: the VU fills b again
		h.mu.Unlock()
	}
}

// drain collects every VU's buffered samples, in order.
func (h *collectHost) drain() {
	h.mu.Lock()
	drains := h.drains
	h.mu.Unlock()
	// unlocked, as the pump does: a direct VU calls its sink (which
	// takes h.mu) from its drain
	var batches [][]ext.Sample
	for _, d := range drains {
		batches = d(batches)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range batches {
		h.got = append(h.got, b...)
	}
	if h.reuse {
		Reuse(batches)
	}
}

const collectScript = `
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';
const c = new Counter('hits');
export default function () {
  c.add(1);
  exec.vu.metrics.metadata['m'] = 'i' + __ITER;
  c.add(2);
}
export function fails() { c.add(3); throw new Error('kaput'); }
`

// TestCollectedSamples: with a Collector host every sample of the VU
// (module pushes and the iteration's own) reaches the host exactly once,
// in the order pushed, with the metadata current at the push, through
// the VU's buffer; kicks come once a VU holds many.
func TestCollectedSamples(t *testing.T) {
	t.Run("collected", func(t *testing.T) { testCollected(t, &collectHost{}, nil) })
	t.Run("direct", func(t *testing.T) {
		h := &directHost{}
		testCollected(t, &h.collectHost, h)
		if h.direct < 4*1500-2*chunkSize {
			t.Errorf("%d samples through the direct sink, want nearly all", h.direct)
		}
	})
}

// testCollected runs the script on h (or on host, which embeds h, when not nil).
func testCollected(t *testing.T, h *collectHost, host Host) {
	sh := newShared(t, collectScript, &probe{}, &sink{})
	if host == nil {
		host = h
	}
	v, err := New(context.Background(), sh, host, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.drains) != 1 {
		t.Fatalf("Collect called %d times, want 1", len(h.drains))
	}
	const n = 1500 // 6000 samples: past kickAt, over several chunks
	for i := 0; i < n; i++ {
		if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", VUIterationInScenario: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// A failing iteration still emits its samples (and pushes its own).
	if err := v.RunIteration(context.Background(), executor.Iteration{Scenario: "a", Exec: "fails"}); err == nil {
		t.Fatal("fails: want an error")
	}
	if _, direct := host.(Direct); !direct && h.kicks.Load() == 0 {
		t.Errorf("no Kick after %d samples", 4*n)
	}
	h.drain()
	if h.pushed != 0 {
		t.Errorf("%d samples came through Push, want all through the buffer", h.pushed)
	}
	want := 4*n + 3
	if len(h.got) != want {
		t.Fatalf("got %d samples, want %d", len(h.got), want)
	}
	for i := 0; i < n; i++ {
		s := h.got[4*i : 4*i+4]
		names := [4]string{s[0].Metric.Name, s[1].Metric.Name, s[2].Metric.Name, s[3].Metric.Name}
		if names != [4]string{"hits", "hits", ext.MetricIterations, ext.MetricIterationDuration} {
			t.Fatalf("iteration %d: samples %v, want hits, hits, iterations, iteration_duration", i, names)
		}
		m := fmt.Sprintf("i%d", i)
		if s[1].Metadata["m"] != m || s[2].Metadata["m"] != m || s[3].Metadata["m"] != m {
			t.Fatalf("iteration %d: metadata %v %v %v, want m=%s", i, s[1].Metadata, s[2].Metadata, s[3].Metadata, m)
		}
		if s[1].Value != 2 || s[2].Value != 1 || s[3].Value < 0 {
			t.Fatalf("iteration %d: values %v %v %v", i, s[1].Value, s[2].Value, s[3].Value)
		}
		if got := s[2].Tags.Get("scenario"); got != "a" {
			t.Fatalf("iteration %d: scenario tag %q", i, got)
		}
	}
	last := h.got[4*n:]
	if last[0].Metric.Name != "hits" || last[0].Value != 3 || last[1].Metric.Name != ext.MetricIterations ||
		last[2].Metric.Name != ext.MetricIterationDuration {
		t.Errorf("failing iteration's samples: %v %v %v", last[0].Metric.Name, last[1].Metric.Name, last[2].Metric.Name)
	}
	h.got = nil
	h.drain()
	if len(h.got) != 0 {
		t.Errorf("a second drain returned %d samples, want 0", len(h.got))
	}
}

// TestCollectedConcurrentPush: pushes from other goroutines (modules'
// callbacks) while the host drains lose nothing and keep each pusher's order.
func TestCollectedConcurrentPush(t *testing.T) {
	t.Run("collected", func(t *testing.T) { h := &collectHost{reuse: true}; testConcurrentPush(t, h, h, true) })
	t.Run("direct", func(t *testing.T) { h := &directHost{}; testConcurrentPush(t, &h.collectHost, h, true) })
}

func testConcurrentPush(t *testing.T, h *collectHost, host Host, ordered bool) {
	sh := newShared(t, collectScript, &probe{}, &sink{})
	v, err := New(context.Background(), sh, host, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := sh.Registry.Get(ext.MetricIterations)
	const pushers, each = 4, 3000
	var wg sync.WaitGroup
	for p := 0; p < pushers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				v.Push(ext.Sample{Metric: m, Time: time.Now(), Value: float64(p*each + i)})
			}
		}()
	}
	stop := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-stop:
				return
			default:
				h.drain()
				time.Sleep(100 * time.Microsecond)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-drained
	h.drain()
	if len(h.got) != pushers*each {
		t.Fatalf("got %d samples, want %d", len(h.got), pushers*each)
	}
	if !ordered {
		seen := make(map[int]bool, len(h.got))
		for _, s := range h.got {
			seen[int(s.Value)] = true
		}
		if len(seen) != pushers*each {
			t.Fatalf("%d distinct samples, want %d", len(seen), pushers*each)
		}
		return
	}
	next := make([]int, pushers)
	for _, s := range h.got {
		x := int(s.Value)
		p, i := x/each, x%each
		if i != next[p] {
			t.Fatalf("pusher %d: sample %d after %d", p, i, next[p]-1)
		}
		next[p]++
	}
}

// TestIterationAllocs: a VU looping an empty function allocates nothing
// of its own per iteration once its host recycles the chunks; what is
// left is goja's call (its closure and a fresh value stack per
// outermost call, which a bare goja loop pays too).
func TestIterationAllocs(t *testing.T) {
	t.Run("collected", func(t *testing.T) { h := &collectHost{reuse: true}; testAllocs(t, h, h) })
	t.Run("direct", func(t *testing.T) { h := &directHost{}; testAllocs(t, &h.collectHost, h) })
}

func testAllocs(t *testing.T, h *collectHost, host Host) {
	sh := newShared(t, "export default function () {}", &probe{}, &sink{})
	v, err := New(context.Background(), sh, host, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	it := executor.Iteration{Scenario: "default", Exec: "default"}
	run := func() {
		if _, err := v.RunIterationAt(ctx, it, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3*kickAt; i++ { // warm up: the spare chunks exist
		run()
	}
	h.mu.Lock()
	h.got = nil // AllocsPerRun counts this host's appends too: keep them out
	h.mu.Unlock()
	peer := testing.AllocsPerRun(2000, func() { _, _ = v.fns["default"](goja.Undefined()) })
	h.got = make([]ext.Sample, 0, 10*kickAt)
	got := testing.AllocsPerRun(2000, run)
	t.Logf("allocations per iteration: %.2f (the bare goja call: %.2f)", got, peer)
	if got > peer+0.1 {
		t.Errorf("%.2f allocations per iteration, want at most the bare goja call's %.2f", got, peer)
	}
}
