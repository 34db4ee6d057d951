// Package link emulates a network link between two of the lab's network
// namespaces: every packet is delayed (plus jitter) and may be lost, in both
// directions, as `tc qdisc … netem delay D jitter J loss L` on both ends of
// a veth pair would do.
//
// Where the kernel has sch_netem the lab uses it (NetemAvailable). This
// machine's kernel has neither netem nor fq, so the default emulator runs in
// user space: a TUN device in each namespace (point-to-point, layer 3) and a
// relay in the lab process that reads each packet from one side and writes
// it to the other when its departure time comes (see Relay). Packets leave in the
// order they came (no reordering, unlike netem with jitter); the queue holds
// 1000 packets per direction (netem's default limit) and drops beyond.
package link

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Spec is one link's impairment, applied to each direction.
type Spec struct {
	Delay  time.Duration // one-way, each direction
	Jitter time.Duration // uniform in [-Jitter, +Jitter] around Delay
	Loss   float64       // probability a packet is lost, each direction (0..1)
}

// Zero reports whether the link adds nothing.
func (s Spec) Zero() bool { return s == Spec{} }

// RTT is the round-trip time the link adds.
func (s Spec) RTT() time.Duration { return 2 * s.Delay }

func (s Spec) String() string {
	var parts []string
	if s.Delay > 0 {
		parts = append(parts, "delay="+s.Delay.String())
	}
	if s.Jitter > 0 {
		parts = append(parts, "jitter="+s.Jitter.String())
	}
	if s.Loss > 0 {
		parts = append(parts, "loss="+strconv.FormatFloat(s.Loss*100, 'f', -1, 64)+"%")
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Parse reads 'delay=2ms,jitter=0.2ms,loss=0.1%' (delay one-way per
// direction) or 'rtt=2ms' (delay = rtt/2).
func Parse(s string) (Spec, error) {
	var sp Spec
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return Spec{}, fmt.Errorf("link %q: %q is not key=value", s, kv)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case "delay", "rtt", "jitter":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Spec{}, fmt.Errorf("link %q: %s %q: want a duration such as 2ms", s, k, v)
			}
			switch k {
			case "delay":
				sp.Delay = d
			case "rtt":
				sp.Delay = d / 2
			case "jitter":
				sp.Jitter = d
			}
		case "loss":
			pct := strings.HasSuffix(v, "%")
			f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
			if pct {
				f /= 100
			}
			if err != nil || f < 0 || f >= 1 {
				return Spec{}, fmt.Errorf("link %q: loss %q: want a fraction below 1 or a percentage such as 0.1%%", s, v)
			}
			sp.Loss = f
		default:
			return Spec{}, fmt.Errorf("link %q: unknown key %q (want delay, rtt, jitter, loss)", s, k)
		}
	}
	if sp.Jitter > sp.Delay {
		return Spec{}, fmt.Errorf("link %q: jitter %s above delay %s", s, sp.Jitter, sp.Delay)
	}
	return sp, nil
}

// NetemArgs are the `tc qdisc add dev DEV root` arguments of the same
// impairment, for kernels with sch_netem.
func (s Spec) NetemArgs() []string {
	args := []string{"netem", "delay", fmt.Sprintf("%dus", s.Delay.Microseconds())}
	if s.Jitter > 0 {
		args = append(args, fmt.Sprintf("%dus", s.Jitter.Microseconds()))
	}
	if s.Loss > 0 {
		args = append(args, "loss", strconv.FormatFloat(s.Loss*100, 'f', -1, 64)+"%")
	}
	return args
}

// OpenTUN creates a layer-3 TUN device named name in the calling thread's
// network namespace (run it inside netns.NS.Do) and returns its descriptor
// (non-blocking). Closing it removes the device.
func OpenTUN(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return -1, fmt.Errorf("link: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("link: tun %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("link: TUNSETIFF %s: %w", name, err)
	}
	return fd, nil
}

// Stats counts what a relay did.
type Stats struct {
	Packets, Lost, Overflow uint64
	RealTime                bool // its threads got SCHED_FIFO
}

// Relay moves packets between two TUN devices with a Spec in each
// direction, until Close.
//
// Each direction is one OS thread that waits in ppoll(2) for a packet or
// for the next departure, whichever comes first; ppoll's timeout is a
// nanosecond timespec served by the kernel's high-resolution timers (Go's
// own timers round sub-millisecond sleeps up to about a millisecond, which
// would turn a 2 ms RTT into 3). The threads ask for SCHED_FIFO (we are
// root) so that on a loaded machine a due packet is not kept waiting behind
// other runnable work, as the kernel's softirq would not be; when that is
// refused they run at normal priority (Stats.RealTime says which).
type Relay struct {
	a, b   int
	spec   Spec
	wg     sync.WaitGroup
	mu     sync.Mutex
	stats  Stats
	closed atomic.Bool
	once   sync.Once
}

// queueLimit is netem's default queue length.
const queueLimit = 1000

// pollIdle bounds a wait with nothing queued, so Close is noticed.
const pollIdle = 100 * time.Millisecond

// NewRelay starts relaying between the TUN descriptors a and b (it owns
// both).
func NewRelay(a, b int, spec Spec) (*Relay, error) {
	r := &Relay{a: a, b: b, spec: spec}
	r.stats.RealTime = true
	r.wg.Add(2)
	go r.direction(a, b)
	go r.direction(b, a)
	return r, nil
}

type packet struct {
	data   []byte
	depart int64 // CLOCK_MONOTONIC ns
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// direction relays from one device to the other: read every packet as it
// arrives (stamping its departure: now + delay ± jitter, never before the
// previous packet's, so there is no reordering), drop the lost ones and
// the ones beyond the queue limit, and write each when its time comes.
func (r *Relay) direction(from, to int) {
	defer r.wg.Done()
	runtime.LockOSThread() // the thread is ours (and its priority) until we return
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 10}, 0); err != nil {
		r.mu.Lock()
		r.stats.RealTime = false
		r.mu.Unlock()
	} else {
		// Give the thread back to normal scheduling before Go reuses it.
		defer unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_NORMAL}, 0)
	}
	var queue []packet
	var last int64
	fds := []unix.PollFd{{Fd: int32(from), Events: unix.POLLIN}}
	buf := make([]byte, 65536)
	for !r.closed.Load() {
		now := monoNow()
		// Send everything due.
		for len(queue) > 0 && queue[0].depart <= now {
			_, _ = unix.Write(to, queue[0].data)
			queue = queue[1:]
		}
		wait := int64(pollIdle)
		if len(queue) > 0 {
			wait = queue[0].depart - now
		}
		ts := unix.NsecToTimespec(wait)
		n, err := unix.Ppoll(fds, &ts, nil)
		if err != nil && err != unix.EINTR {
			return
		}
		if n <= 0 || fds[0].Revents&unix.POLLIN == 0 {
			if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
				return
			}
			continue
		}
		for {
			m, err := unix.Read(from, buf)
			if err != nil || m <= 0 {
				break
			}
			r.mu.Lock()
			r.stats.Packets++
			lost := r.spec.Loss > 0 && rand.Float64() < r.spec.Loss
			if lost {
				r.stats.Lost++
			}
			full := !lost && len(queue) >= queueLimit
			if full {
				r.stats.Overflow++
			}
			r.mu.Unlock()
			if lost || full {
				continue
			}
			d := r.spec.Delay
			if r.spec.Jitter > 0 {
				d += time.Duration((rand.Float64()*2 - 1) * float64(r.spec.Jitter))
			}
			depart := monoNow() + int64(d)
			if depart < last {
				depart = last
			}
			last = depart
			queue = append(queue, packet{data: append([]byte(nil), buf[:m]...), depart: depart})
		}
	}
}

// Stats returns the packet counters so far.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close stops the relay (within pollIdle) and closes both devices, which
// removes them.
func (r *Relay) Close() error {
	var err error
	r.once.Do(func() {
		r.closed.Store(true)
		r.wg.Wait()
		err = errors.Join(unix.Close(r.a), unix.Close(r.b))
	})
	return err
}
