package vu

import (
	"context"
	"testing"

	"spread.dev/spread/internal/executor"
)

// BenchmarkRunIteration is the VU's own cost per iteration of an empty
// function (samples go nowhere).
func BenchmarkRunIteration(b *testing.B) {
	sh := newShared(&testing.T{}, "export default function () {}", &probe{}, &sink{})
	v, err := New(context.Background(), sh, NopHost{}, 1, 1) // samples go nowhere
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	it := executor.Iteration{Scenario: "default", Exec: "default"}
	b.ReportAllocs()
	for b.Loop() {
		if err := v.RunIteration(ctx, it); err != nil {
			b.Fatal(err)
		}
	}
}
