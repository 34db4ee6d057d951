package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// nopVU returns at once: what is left is the executor's own cost.
type nopVU struct{ n *atomic.Int64 }

func (v nopVU) RunIteration(context.Context, Iteration) error { v.n.Add(1); return nil }

type nopPool struct{ n *atomic.Int64 }

func (p nopPool) Get(context.Context) (VU, error) { return nopVU(p), nil }
func (p nopPool) Put(VU)                          {}

// BenchmarkLoopingOverhead is the executor's cost per iteration of a
// shared-iterations scenario with 1 VU, against the peer: a bare loop calling
// the same no-op RunIteration.
func BenchmarkLoopingOverhead(b *testing.B) {
	b.Run("peer=bare-loop", func(b *testing.B) {
		var n atomic.Int64
		vu := nopVU{&n}
		ctx := context.Background()
		it := Iteration{Scenario: "s"}
		for b.Loop() {
			_ = vu.RunIteration(ctx, it)
		}
	})
	b.Run("executor=shared-iterations", func(b *testing.B) {
		var n atomic.Int64
		cfgs := []Config{{Name: "s", Executor: SharedIterations, VUs: 1, Iterations: int64(b.N), MaxDuration: Duration(time.Hour), Exec: "default"}}
		s, err := New(cfgs, Segment{}, Hooks{})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		if err := s.Run(context.Background(), nopPool{&n}); err != nil {
			b.Fatal(err)
		}
		if n.Load() != int64(b.N) {
			b.Fatalf("ran %d of %d", n.Load(), b.N)
		}
	})
}

// BenchmarkArrivalRateLag measures how late iteration starts are, on the
// real clock, at a given rate, against the peer: a bare loop sleeping until
// each start time (the Go timer precision every scheduler lives with).
func BenchmarkArrivalRateLag(b *testing.B) {
	for _, rate := range []int64{1_000, 10_000, 50_000} {
		b.Run(fmt.Sprintf("peer=sleep-loop/rate=%d/s", rate), func(b *testing.B) {
			for b.Loop() {
				p50, p99, n := sleepLag(rate, 500*time.Millisecond)
				b.ReportMetric(float64(p50.Microseconds()), "p50-lag-µs")
				b.ReportMetric(float64(p99.Microseconds()), "p99-lag-µs")
				b.ReportMetric(float64(n), "starts")
			}
		})
		b.Run(fmt.Sprintf("executor=constant-arrival-rate/rate=%d/s", rate), func(b *testing.B) {
			for b.Loop() {
				p50, p99, n := arrivalLag(b, rate, 500*time.Millisecond)
				b.ReportMetric(float64(p50.Microseconds()), "p50-lag-µs")
				b.ReportMetric(float64(p99.Microseconds()), "p99-lag-µs")
				b.ReportMetric(float64(n), "starts")
			}
		})
	}
}

// sleepLag is the peer: a bare loop sleeping until each ideal start time
// (no VUs, no goroutine per start), measuring how late it wakes.
func sleepLag(rate int64, d time.Duration) (p50, p99 time.Duration, n int) {
	var lags []time.Duration
	start := time.Now()
	for k := int64(0); ; k++ {
		due := start.Add(mulDiv(time.Second, k, rate))
		if due.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(due))
		lags = append(lags, time.Since(due))
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	return lags[len(lags)/2], lags[len(lags)*99/100], len(lags)
}

type lagVU struct {
	mu   *sync.Mutex
	lags *[]time.Duration
	unit time.Duration
	rate int64
}

func (v lagVU) RunIteration(_ context.Context, it Iteration) error {
	due := it.ScenarioStart.Add(mulDiv(v.unit, it.IterationInTest, v.rate))
	lag := time.Since(due)
	v.mu.Lock()
	*v.lags = append(*v.lags, lag)
	v.mu.Unlock()
	return nil
}

type lagPool struct{ vu lagVU }

func (p *lagPool) Get(context.Context) (VU, error) { return p.vu, nil }
func (p *lagPool) Put(VU)                          {}

func arrivalLag(b *testing.B, rate int64, d time.Duration) (p50, p99 time.Duration, n int) {
	raw := fmt.Sprintf(`{"s": {"executor": "constant-arrival-rate", "rate": %d, "duration": %q, "preAllocatedVUs": 50}}`, rate, d.String())
	cfgs, err := ParseScenarios(json.RawMessage(raw))
	if err != nil {
		b.Fatal(err)
	}
	var dropped atomic.Int64
	s, err := New(cfgs, Segment{}, Hooks{Dropped: func(string, map[string]string, int64) { dropped.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { b.ReportMetric(float64(dropped.Load()), "dropped") }()
	var mu sync.Mutex
	var lags []time.Duration
	pool := &lagPool{vu: lagVU{mu: &mu, lags: &lags, unit: time.Second, rate: rate}}
	if err := s.Run(context.Background(), pool); err != nil {
		b.Fatal(err)
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	if len(lags) == 0 {
		b.Fatal("no iteration ran")
	}
	return lags[len(lags)/2], lags[len(lags)*99/100], len(lags)
}
