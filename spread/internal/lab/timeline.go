package lab

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ParseScale parses `M@T` (e.g. "2@2m"): scale to M replicas at T.
func ParseScale(s string) (Event, error) {
	m, at, ok := strings.Cut(s, "@")
	if !ok {
		return Event{}, fmt.Errorf("lab: --scale %q: want REPLICAS@TIME, e.g. 2@2m", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(m))
	if err != nil || n < 0 {
		return Event{}, fmt.Errorf("lab: --scale %q: replicas must be a number >= 0", s)
	}
	d, err := parseAt(at)
	if err != nil {
		return Event{}, fmt.Errorf("lab: --scale %q: %w", s, err)
	}
	return Event{At: d, Kind: KindScale, Replicas: n}, nil
}

// ParseKill parses `POD@T` (e.g. "echo-server-1@30s").
func ParseKill(s string) (Event, error) {
	i := strings.LastIndex(s, "@")
	if i <= 0 {
		return Event{}, fmt.Errorf("lab: --kill %q: want POD@TIME, e.g. echo-server-1@30s", s)
	}
	d, err := parseAt(s[i+1:])
	if err != nil {
		return Event{}, fmt.Errorf("lab: --kill %q: %w", s, err)
	}
	return Event{At: d, Kind: KindKill, Pod: s[:i]}, nil
}

// ParseRollingRestart parses `@T` (or `T`).
func ParseRollingRestart(s string) (Event, error) {
	d, err := parseAt(strings.TrimPrefix(s, "@"))
	if err != nil {
		return Event{}, fmt.Errorf("lab: --rolling-restart %q: %w", s, err)
	}
	return Event{At: d, Kind: KindRollingRestart}, nil
}

// parseAt reads a Go duration; a bare number means seconds.
func parseAt(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("time %q is negative", s)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("time %q: %w", s, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("time %q is negative", s)
	}
	return d, nil
}

// playTimeline fires each event at Start+At until ctx ends (the script
// finished or the run was interrupted). Events run concurrently, as a
// rolling restart may outlast the next event's time.
func (l *lab) playTimeline(ctx context.Context) {
	evs := append([]Event(nil), l.cfg.Events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, ev := range evs {
		wait := time.Until(l.res.Start.Add(ev.At))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.fire(ctx, ev)
		}()
	}
}

func (l *lab) fire(ctx context.Context, ev Event) {
	switch ev.Kind {
	case KindScale:
		l.scale(ev.Replicas)
	case KindKill:
		l.mu.Lock()
		ps := l.podsByName[ev.Pod]
		l.mu.Unlock()
		if ps == nil {
			l.record("error", ev.Pod, "kill: no such pod")
			return
		}
		l.killPod(ps)
	case KindRollingRestart:
		l.rollingRestart(ctx)
	}
}

// scale is the HPA + ReplicaSet step: start the missing pods (each becomes
// an endpoint when ready) or terminate the newest extra ones.
func (l *lab) scale(target int) {
	active := l.activePods()
	l.record("scale", "", fmt.Sprintf("%d -> %d", len(active), target))
	if target > len(active) {
		for i := len(active); i < target; i++ {
			if _, err := l.startPod(); err != nil {
				l.record("error", "", "scale: "+err.Error())
				return
			}
		}
		return
	}
	var wg sync.WaitGroup
	for i := len(active) - 1; i >= target; i-- {
		wg.Add(1)
		go func(ps *podState) {
			defer wg.Done()
			l.stopPod(ps, l.cfg.StopGrace, false, "scale down")
		}(active[i])
	}
	wg.Wait()
}

// rollingRestart replaces every pod one at a time, like a Deployment with
// maxSurge 1 and maxUnavailable 0: start a new pod, wait until it is an
// endpoint, then terminate one old pod (draining in the background).
func (l *lab) rollingRestart(ctx context.Context) {
	old := l.activePods()
	l.record("rolling-restart", "", fmt.Sprintf("%d pods", len(old)))
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, ps := range old {
		np, err := l.startPod()
		if err != nil {
			l.record("error", "", "rolling restart: "+err.Error())
			return
		}
		select {
		case <-np.readyCh:
		case <-np.pod.Done():
			l.record("error", np.info.Name, "rolling restart: new pod exited before ready")
			return
		case <-ctx.Done():
			return
		case <-time.After(l.cfg.ReadyTimeout):
			l.record("error", np.info.Name, "rolling restart: new pod not ready")
			return
		}
		wg.Add(1)
		go func(ps *podState) {
			defer wg.Done()
			l.stopPod(ps, l.cfg.StopGrace, false, "rolling restart")
		}(ps)
	}
	l.record("rolling-restart-done", "", "")
}

// CheckKillTargets rejects a --kill of a pod that can never exist, before
// anything starts. Pods are named echo-server-N with N counting every pod
// ever started (podctl.go), so the highest possible N follows from the
// replicas at start and, in time order, each scale-up and rolling restart
// (which replaces every pod). With an HPA the count is not known ahead:
// only the name's shape is checked then.
func CheckKillTargets(replicas int, events []Event, autoscaled bool) error {
	evs := append([]Event(nil), events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].At < evs[j].At })
	most, cur := replicas, replicas
	for _, e := range evs {
		switch e.Kind {
		case KindScale:
			if e.Replicas > cur {
				most += e.Replicas - cur
			}
			cur = e.Replicas
		case KindRollingRestart:
			most += cur
		}
	}
	for _, e := range evs {
		if e.Kind != KindKill {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(e.Pod, "echo-server-"))
		if !strings.HasPrefix(e.Pod, "echo-server-") || err != nil || n < 1 {
			return fmt.Errorf("lab: --kill %s@%s: no such pod can exist: pods are named echo-server-N (N = 1, 2, ...)", e.Pod, e.At)
		}
		if !autoscaled && n > most {
			return fmt.Errorf("lab: --kill %s@%s: no such pod can exist: at most %d pods are started (echo-server-1 to echo-server-%d) with these --replicas/--scale/--rolling-restart", e.Pod, e.At, most, most)
		}
	}
	return nil
}
