package engine

import (
	"context"

	"spread.dev/spread/internal/js"
)

// watchSignals follows k6's handling of SIGINT/SIGTERM: the first signal
// aborts the test at once (running iterations are interrupted without
// waiting for gracefulStop, because a pod's SIGTERM is followed by SIGKILL
// after terminationGracePeriodSeconds), then teardown and the summary
// still run and the exit code is 105; the second signal is a hard stop
// (teardown is skipped or cut; outputs still flush). It returns a
// function ending the watch.
func (r *run) watchSignals(ctx context.Context) func() {
	if r.cfg.Signals == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case sig := <-r.cfg.Signals:
				n++
				r.mu.Lock()
				r.interrupted = true
				hard, cut := r.hardStop, r.cutIters
				r.mu.Unlock()
				if n == 1 {
					r.log.Log("warn", "test run was aborted because spread received a '"+sig.String()+"' signal; teardown and the summary still run, signal again to stop at once", js.Field{Key: "source", Value: "signal"})
					if r.sched != nil {
						r.sched.Stop()
					}
					if cut != nil {
						cut()
					}
					continue
				}
				r.log.Log("warn", "stopping the test at once on "+sig.String(), js.Field{Key: "source", Value: "signal"})
				if hard != nil {
					hard()
				}
				return
			}
		}
	}()
	return func() { close(done) }
}
