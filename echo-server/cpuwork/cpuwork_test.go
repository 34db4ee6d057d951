package cpuwork

import (
	"context"
	"testing"
	"time"
)

func TestBurn(t *testing.T) {
	tests := []struct {
		name    string
		d       time.Duration
		cancel  bool
		minWall time.Duration
		maxWall time.Duration
	}{
		{"zero", 0, false, 0, 10 * time.Millisecond},
		{"30ms", 30 * time.Millisecond, false, 30 * time.Millisecond, 10 * time.Second},
		{"cancelled", time.Hour, true, 0, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			if tc.cancel {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			defer cancel()
			c := newClock()
			began := time.Now()
			Burn(ctx, tc.d)
			wall := time.Since(began)
			if wall < tc.minWall || wall > tc.maxWall {
				t.Errorf("Burn(%v) took %v, want %v..%v", tc.d, wall, tc.minWall, tc.maxWall)
			}
			if !tc.cancel && c.used() < tc.d {
				t.Errorf("Burn(%v) used only %v of CPU", tc.d, c.used())
			}
		})
	}
}
