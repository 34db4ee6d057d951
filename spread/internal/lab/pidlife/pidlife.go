// Package pidlife tells whether the process that created a lab resource
// (a network namespace, a cgroup: their names carry its pid) is still
// running. A pid alone is not enough: once the lab's process is gone the
// kernel may give its pid to any later process, and the leftovers would
// then never be swept. The resource's own time (when it was made) tells
// the two apart: the owner started before it, a reused pid after.
package pidlife

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// slack covers the whole seconds of /proc/stat's btime and the clock
// ticks of a process's start time.
const slack = 2 * time.Second

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports (the
// kernel fixes it for /proc; sysconf would need cgo).
const clockTicks = 100

// OwnerAlive reports whether pid runs and started no later than made (the
// time the resource was created, e.g. its inode's modification time). An
// unreadable start time counts as alive: never sweep what may be in use.
func OwnerAlive(pid int, made time.Time) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	start, err := StartTime(pid)
	if err != nil || made.IsZero() {
		return true
	}
	return !start.After(made.Add(slack))
}

// StartTime is when process pid started, from /proc/PID/stat's starttime
// (field 22, clock ticks since boot) and /proc/stat's btime.
func StartTime(pid int) (time.Time, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, err
	}
	// comm (field 2) may hold spaces and parentheses: fields start after
	// the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}, errors.New("pidlife: malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): starttime, field 22, is f[19].
	if len(f) < 20 {
		return time.Time{}, errors.New("pidlife: short /proc stat")
	}
	ticks, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), nil
}

func bootTime() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, err
			}
			return time.Unix(s, 0), nil
		}
	}
	return time.Time{}, errors.New("pidlife: no btime in /proc/stat")
}
