package engine

import (
	"context"

	"spread.dev/spread/internal/js"
)

// watchSignals makes the first interrupt a graceful stop (scenarios get
// their gracefulStop, then teardown and the summary run) and the second a
// hard stop (iterations are cut at once; outputs still flush). It returns
// a function ending the watch.
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
				hard := r.hardStop
				r.mu.Unlock()
				if n == 1 {
					r.log.Log("warn", "stopping the test gracefully on "+sig.String()+"; press again to stop at once", js.Field{Key: "source", Value: "signal"})
					if r.sched != nil {
						r.sched.Stop()
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
