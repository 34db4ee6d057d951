// Package hpa is the Horizontal Pod Autoscaler's replica arithmetic for the
// lab: the same formula and rules as Kubernetes' HPA controller for a CPU
// utilization target, kept apart from the lab's loop so it can be checked
// against the documented examples.
//
//	desired = ceil(current × currentUtilization / targetUtilization)
//
// skipped when the ratio is within the tolerance (0.1) of 1, clamped to
// [min, max]; a scale-down takes the highest recommendation of the
// stabilization window (300 s by default), so a dip does not remove pods.
package hpa

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Spec is an HPA on CPU utilization (of the pod's CPU request).
type Spec struct {
	Min, Max      int
	TargetCPU     float64       // 0.5 = 50 %
	Sync          time.Duration // --horizontal-pod-autoscaler-sync-period (15 s)
	Tolerance     float64       // --horizontal-pod-autoscaler-tolerance (0.1)
	Stabilization time.Duration // behavior.scaleDown.stabilizationWindowSeconds (300 s)
}

// Parse reads 'min=1,max=5,cpu=50%' with optional sync=, tolerance=,
// stabilization= (Kubernetes' defaults otherwise).
func Parse(s string) (Spec, error) {
	sp := Spec{Min: 1, Sync: 15 * time.Second, Tolerance: 0.1, Stabilization: 300 * time.Second}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Spec{}, fmt.Errorf("hpa %q: %q is not key=value", s, kv)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		var err error
		switch k {
		case "min":
			sp.Min, err = strconv.Atoi(v)
		case "max":
			sp.Max, err = strconv.Atoi(v)
		case "cpu":
			var f float64
			f, err = strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			sp.TargetCPU = f / 100
		case "sync":
			sp.Sync, err = time.ParseDuration(v)
		case "tolerance":
			sp.Tolerance, err = strconv.ParseFloat(v, 64)
		case "stabilization":
			sp.Stabilization, err = time.ParseDuration(v)
		default:
			return Spec{}, fmt.Errorf("hpa %q: unknown key %q (want min, max, cpu, sync, tolerance, stabilization)", s, k)
		}
		if err != nil {
			return Spec{}, fmt.Errorf("hpa %q: %s: %w", s, k, err)
		}
	}
	if sp.Min < 1 || sp.Max < sp.Min || sp.TargetCPU <= 0 || sp.Sync <= 0 || sp.Tolerance < 0 || sp.Stabilization < 0 {
		return Spec{}, fmt.Errorf("hpa %q: want 1 <= min <= max, cpu > 0%%, sync > 0", s)
	}
	return sp, nil
}

// Desired is the HPA formula for one sync: current replicas and their
// average CPU utilization (of the request) give the replica count to aim
// for, before stabilization.
func (s Spec) Desired(current int, utilization float64) int {
	if current == 0 {
		return s.Min
	}
	ratio := utilization / s.TargetCPU
	desired := current
	if math.Abs(ratio-1) > s.Tolerance {
		desired = int(math.Ceil(float64(current) * ratio))
	}
	return min(max(desired, s.Min), s.Max)
}

// Stabilizer remembers recent recommendations for the scale-down window.
type Stabilizer struct {
	window time.Duration
	recs   []rec
}

type rec struct {
	at time.Time
	n  int
}

// NewStabilizer keeps recommendations for window.
func NewStabilizer(window time.Duration) *Stabilizer { return &Stabilizer{window: window} }

// Apply records a recommendation and returns the replica count to set: a
// scale-up at once, a scale-down only to the highest recommendation within
// the window (the HPA's default scale-down behavior).
func (st *Stabilizer) Apply(now time.Time, current, desired int) int {
	st.recs = append(st.recs, rec{now, desired})
	keep := st.recs[:0]
	highest := desired
	for _, r := range st.recs {
		if now.Sub(r.at) <= st.window {
			keep = append(keep, r)
			highest = max(highest, r.n)
		}
	}
	st.recs = keep
	if desired >= current {
		return desired
	}
	return min(current, highest)
}
