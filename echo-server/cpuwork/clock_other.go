//go:build !linux

package cpuwork

import "time"

// clock falls back to wall time where thread CPU time is not available.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

func (c clock) used() time.Duration { return time.Since(c.start) }
