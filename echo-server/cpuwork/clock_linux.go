package cpuwork

import (
	"time"

	"golang.org/x/sys/unix"
)

// clock measures CPU time used by the current thread since it was made,
// or wall time if the thread clock cannot be read.
type clock struct {
	start time.Duration
	wall  time.Time
	cpu   bool
}

func newClock() clock {
	start, err := threadCPU()
	return clock{start: start, wall: time.Now(), cpu: err == nil}
}

func (c clock) used() time.Duration {
	if c.cpu {
		if now, err := threadCPU(); err == nil {
			return now - c.start
		}
	}
	return time.Since(c.wall)
}

func threadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, err
	}
	return time.Duration(ts.Nano()), nil
}
