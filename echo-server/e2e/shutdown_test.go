package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown: SIGTERM under steady h1, h2 and h3 load. Readiness
// fails at once, no request started before the end of the drain fails, and
// the process exits 0 within its bound.
func TestGracefulShutdown(t *testing.T) {
	const drain, delay = time.Second, 300 * time.Millisecond
	p := start(t, "pod-term", "--delay", delay.String(), "--drain", drain.String(), "--shutdown-timeout", "3s")
	cs := clients(t)

	type outcome struct {
		proto      string
		start, end time.Time
		err        error
	}
	var mu sync.Mutex
	var outcomes []outcome
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, proto := range []string{"h1", "h2", "h3"} {
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					o := outcome{proto: proto, start: time.Now()}
					rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
					r, err := get(rctx, cs[proto], p.url(proto, "/"))
					rcancel()
					if err == nil && r.status != http.StatusOK {
						err = fmt.Errorf("status %d", r.status)
					}
					o.end, o.err = time.Now(), err
					mu.Lock()
					outcomes = append(outcomes, o)
					mu.Unlock()
					if err != nil {
						time.Sleep(20 * time.Millisecond) // no hot loop once the server is gone
					}
				}
			})
		}
	}
	time.Sleep(time.Second) // steady state

	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	sigAt := time.Now()
	p.signal(syscall.SIGTERM)
	var notReadyAfter time.Duration
	for time.Since(sigAt) < 2*time.Second {
		resp, err := probe.Get(p.url("h1", "/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				notReadyAfter = time.Since(sigAt)
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if notReadyAfter == 0 || notReadyAfter > 200*time.Millisecond {
		t.Errorf("readyz turned 503 after %v, want at once (< 200ms)", notReadyAfter)
	}
	if got := p.metric("echo_draining"); got != 1 {
		t.Errorf("echo_draining = %v while draining, want 1", got)
	}

	bound := drain + delay + 2*time.Second
	select {
	case <-p.Done():
	case <-time.After(bound + 2*time.Second):
		t.Fatalf("echo-server still running %v after SIGTERM", time.Since(sigAt))
	}
	exitedAfter := time.Since(sigAt)
	cancel()
	wg.Wait()

	var ee *exec.ExitError
	if p.ExitErr() != nil && !(errors.As(p.ExitErr(), &ee) && ee.ExitCode() == 0) {
		t.Errorf("exit: %v, want status 0", p.ExitErr())
	}
	if exitedAfter < drain || exitedAfter > bound {
		t.Errorf("exited %v after SIGTERM, want between %v and %v", exitedAfter, drain, bound)
	}
	// Requests started during the drain must succeed too (minus a margin for
	// the moment the listeners close).
	cutoff := sigAt.Add(drain - 100*time.Millisecond)
	counts := map[string]int{}
	for _, o := range outcomes {
		if !o.start.Before(cutoff) {
			continue
		}
		counts[o.proto]++
		if o.err != nil {
			when := "during the drain"
			if o.start.Before(sigAt) {
				when = "before the signal"
			}
			t.Errorf("%s request started %v %s failed after %v: %v", o.proto, o.start.Sub(sigAt), when, o.end.Sub(o.start), o.err)
		}
	}
	for _, proto := range []string{"h1", "h2", "h3"} {
		// 4 workers x (1s + drain) / 300ms: about 26 each.
		if counts[proto] < 15 {
			t.Errorf("%s: only %d requests before the cutoff, the load was not steady", proto, counts[proto])
		}
	}
	t.Logf("readyz 503 after %v, exit after %v, requests checked: %v", notReadyAfter, exitedAfter, counts)
}
