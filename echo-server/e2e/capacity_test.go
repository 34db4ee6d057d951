package e2e

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestMaxInflight: with N slots and delay d, throughput stays at about N/d,
// the rest queue (visible in the metrics), and they leave the queue in FIFO
// order.
func TestMaxInflight(t *testing.T) {
	const slots, delay, requests = 2, 400 * time.Millisecond, 10
	p := start(t, "pod-cap", "--max-inflight", "2", "--delay", delay.String())
	h1 := clients(t)["h1"]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	begin := time.Now()
	done := make([]time.Duration, requests)
	var wg sync.WaitGroup
	for i := range requests {
		// Each request is sent once the server has taken the previous one
		// (in a slot, then in the queue), so the queue's order is known
		// however the machine schedules the client's goroutines.
		if i > 0 {
			waitFor(t, func() bool {
				return p.metric("echo_inflight_requests")+p.metric("echo_queued_requests") >= float64(i)
			})
		}
		wg.Go(func() {
			r, err := get(ctx, h1, p.url("h1", "/"))
			if err != nil || r.status != http.StatusOK {
				t.Errorf("request %d: %v status %d", i, err, r.status)
			}
			done[i] = time.Since(begin)
		})
	}
	waitFor(t, func() bool { return p.metric("echo_queued_requests") >= requests-slots })
	inflight, queued := p.metric("echo_inflight_requests"), p.metric("echo_queued_requests")
	wg.Wait()
	elapsed := time.Since(begin)

	// 10 requests through 2 slots of 200ms: 5 rounds, 1s, not less.
	minimum := time.Duration(requests/slots) * delay
	if elapsed < minimum-20*time.Millisecond || elapsed > minimum+700*time.Millisecond {
		t.Errorf("%d requests took %v, want about %v (N/d = %d/s)", requests, elapsed, minimum, int(slots/delay.Seconds()))
	}
	if inflight != slots || queued != requests-slots {
		t.Errorf("mid-run inflight %v queued %v, want %d and about %d", inflight, queued, slots, requests-slots)
	}
	// FIFO: request i takes the slot request i-slots frees, so it ends one
	// delay later. (Requests of one round end together, in any order; the
	// margin absorbs client-side scheduling on a busy machine. Out of order
	// service would make some gaps zero or negative.)
	for i := slots; i < requests; i++ {
		if gap := done[i] - done[i-slots]; gap < delay/2 {
			t.Errorf("request %d ended %v after request %d, want >= %v: queue is not FIFO", i, gap, i-slots, delay)
		}
	}
	if got := p.metric("echo_queued_requests"); got != 0 {
		t.Errorf("queued after the run = %v, want 0", got)
	}
}

// TestCPUWork: --cpu-work burns that much CPU per request, as the process's
// own CPU counter shows.
func TestCPUWork(t *testing.T) {
	p := start(t, "pod-cpu", "--cpu-work", "100ms")
	h1 := clients(t)["h1"]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	before := p.metric("process_cpu_seconds_total")
	begin := time.Now()
	for i := range 5 {
		r, err := get(ctx, h1, p.url("h1", "/"))
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("request %d: %v status %d", i, err, r.status)
		}
	}
	elapsed := time.Since(begin)
	used := p.metric("process_cpu_seconds_total") - before
	if used < 0.45 || elapsed < 500*time.Millisecond {
		t.Errorf("5 requests of 100ms CPU work used %.3fs CPU in %v, want >= 0.5s", used, elapsed)
	}
}

// waitFor polls cond until it holds, failing the test after 5 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
