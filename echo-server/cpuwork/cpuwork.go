// Package cpuwork burns a given amount of CPU time, for CPU-bound runs where
// a pod's throughput is limited by its CPU quota rather than by a sleep.
package cpuwork

import (
	"context"
	"runtime"
	"time"
)

// chunk is how much work runs between two clock reads; small enough to stop
// promptly, big enough that reading the clock costs little.
const chunk = 20000

// sink keeps the compiler from removing the work.
var sink uint64

// Burn spins on this goroutine's OS thread until the thread has used d of
// CPU time (wall time where the OS cannot tell), or ctx ends.
func Burn(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	// Lock the thread so thread CPU time measures only our work.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := newClock()
	x := sink
	for clock.used() < d {
		if ctx.Err() != nil {
			break
		}
		for i := 0; i < chunk; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink = x
}
