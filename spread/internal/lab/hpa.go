package lab

import (
	"context"
	"fmt"
	"time"

	"spread.dev/spread/internal/lab/hpa"
)

// hpaLoop is the Horizontal Pod Autoscaler: every sync period it reads each
// ready pod's CPU time from its cgroup, turns the increase into utilization
// of the pod's CPU request (the lab's --pod-cpu, as a limit-only container
// gets request = limit), and scales with the HPA's formula and scale-down
// stabilization. Each sync is an "hpa" event.
func (l *lab) hpaLoop(ctx context.Context) {
	sp := *l.cfg.HPA
	request := float64(l.cfg.PodLimits.MilliCPU) / 1000
	stab := hpa.NewStabilizer(sp.Stabilization)
	type reading struct {
		at  time.Time
		cpu float64
	}
	last := map[*podState]reading{}
	t := time.NewTicker(sp.Sync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		active := l.activePods()
		var sum float64
		var n int
		seen := map[*podState]reading{}
		for _, ps := range active {
			l.mu.Lock()
			ready := ps.ready
			l.mu.Unlock()
			if !ready || ps.cg == nil {
				continue // the HPA ignores pods that are not ready
			}
			cpu, err := ps.cg.CPUSeconds()
			if err != nil {
				continue
			}
			seen[ps] = reading{now, cpu}
			if prev, ok := last[ps]; ok && now.After(prev.at) {
				sum += (cpu - prev.cpu) / now.Sub(prev.at).Seconds() / request
				n++
			}
		}
		last = seen
		if n == 0 {
			continue // no metrics yet for any pod: the HPA waits
		}
		util := sum / float64(n)
		current := len(active)
		desired := sp.Desired(current, util)
		target := stab.Apply(now, current, desired)
		l.record("hpa", "", fmt.Sprintf("cpu %.0f%% of request over %d pods (target %.0f%%): %d -> %d (formula %d)",
			util*100, n, sp.TargetCPU*100, current, target, desired))
		if target != current {
			l.scale(target)
		}
	}
}
