package hpa

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	sp, err := Parse("min=1,max=5,cpu=50%")
	if err != nil || sp.Min != 1 || sp.Max != 5 || sp.TargetCPU != 0.5 || sp.Sync != 15*time.Second || sp.Tolerance != 0.1 || sp.Stabilization != 300*time.Second {
		t.Errorf("%+v %v", sp, err)
	}
	for _, bad := range []string{"max=5", "min=3,max=2,cpu=50%", "min=1,max=2,cpu=x", "min=1,max=2,cpu=50%,color=red"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// The examples of the HPA documentation's algorithm section.
func TestDesired(t *testing.T) {
	sp := Spec{Min: 1, Max: 10, TargetCPU: 0.5, Tolerance: 0.1}
	for _, tt := range []struct {
		current int
		util    float64
		want    int
	}{
		{1, 1.0, 2},  // 200 % of target: double
		{2, 0.25, 1}, // half the target: halve
		{3, 0.52, 3}, // within tolerance: stay
		{3, 0.56, 4}, // 1.12: ceil(3.36) = 4
		{4, 2.0, 10}, // clamped to max
		{2, 0.0, 1},  // clamped to min
		{0, 0.9, 1},  // nothing running: min
	} {
		if got := sp.Desired(tt.current, tt.util); got != tt.want {
			t.Errorf("Desired(%d, %.2f) = %d, want %d", tt.current, tt.util, got, tt.want)
		}
	}
}

// A dip below the target inside the window does not scale down.
func TestStabilizer(t *testing.T) {
	st := NewStabilizer(time.Minute)
	t0 := time.Now()
	if got := st.Apply(t0, 1, 3); got != 3 {
		t.Fatalf("scale-up %d", got)
	}
	if got := st.Apply(t0.Add(30*time.Second), 3, 1); got != 3 {
		t.Errorf("scale-down inside the window to %d, want 3", got)
	}
	if got := st.Apply(t0.Add(95*time.Second), 3, 1); got != 1 {
		t.Errorf("scale-down after the window to %d, want 1", got)
	}
}
