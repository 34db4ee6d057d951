package capacity

import (
	"context"
	"time"

	"spread.dev/echo-server/cpuwork"
)

// Gauge is the part of a Prometheus gauge Work moves.
type Gauge interface {
	Inc()
	Dec()
}

// Cost is a request's simulated cost on a pod: a slot of the pod's
// Limiter held for Delay and CPUWork, counted in Inflight and Queued.
// GET / and the gRPC Echo share it, so one pod has one capacity.
type Cost struct {
	Limiter          *Limiter
	Inflight, Queued Gauge
	Delay, CPUWork   time.Duration
}

// Pay waits for a slot, holds it for the delay and burns the CPU work; it
// returns early with ctx's error when the client goes away.
func (c Cost) Pay(ctx context.Context) error {
	err := c.Limiter.Acquire(ctx, func(queued bool) {
		if queued {
			c.Queued.Inc()
		} else {
			c.Queued.Dec()
		}
	})
	if err != nil {
		return err
	}
	defer c.Limiter.Release()
	c.Inflight.Inc()
	defer c.Inflight.Dec()
	if c.Delay > 0 {
		t := time.NewTimer(c.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	cpuwork.Burn(ctx, c.CPUWork)
	return ctx.Err()
}
