package executor

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"
)

// arrivalStarts yields the offsets (from the scenario start) of this
// segment's iteration starts, with their test-wide numbers, in order.
//
// Test-wide, iteration k starts when the number of iterations due so far,
// the integral of the rate, passes k: at k*timeUnit/rate for a constant
// rate, so the first starts at once and rate*duration/timeUnit start in
// all. This segment starts the k it owns.
type arrivalStarts struct {
	cfg    Config
	seg    Segment
	length time.Duration
	local  int64

	// ramping: the stage walk, in seconds and iterations.
	stage     int
	stageT0   float64 // seconds from the scenario start
	stageC0   float64 // iterations due at the stage start
	rateStart float64 // iterations/s at the stage start
}

func newArrivalStarts(c Config, seg Segment) *arrivalStarts {
	a := &arrivalStarts{cfg: c, seg: seg, length: c.Length()}
	if c.Executor == RampingArrivalRate {
		a.rateStart = perSecond(c.StartRate, c.TimeUnit)
	}
	return a
}

// next returns the next start of this segment; ok is false once the
// scenario's length is reached.
func (a *arrivalStarts) next() (at time.Duration, k int64, ok bool) {
	k = a.seg.Global(a.local)
	a.local++
	if a.cfg.Executor == ConstantArrivalRate {
		at = mulDiv(a.cfg.TimeUnit.D(), k, a.cfg.Rate)
	} else {
		at, ok = a.rampingOffset(k)
		if !ok {
			return 0, 0, false
		}
	}
	if at >= a.length {
		return 0, 0, false
	}
	return at, k, true
}

// rampingOffset finds when the integral of the piecewise-linear rate
// passes k. k grows between calls, so the stage walk only moves forward.
func (a *arrivalStarts) rampingOffset(k int64) (time.Duration, bool) {
	x := float64(k)
	for a.stage < len(a.cfg.Stages) {
		st := a.cfg.Stages[a.stage]
		d := st.Duration.D().Seconds()
		r1 := perSecond(st.Target, a.cfg.TimeUnit)
		dc := (a.rateStart + r1) / 2 * d
		if x < a.stageC0+dc {
			// Within this stage: C0 + r0*s + (r1-r0)/(2d)*s^2 = k, solved in
			// the form that stays exact when the rate does not change.
			rem := x - a.stageC0
			s := 0.0
			if rem > 0 {
				acc := (r1 - a.rateStart) / (2 * d)
				s = 2 * rem / (a.rateStart + math.Sqrt(max(0, a.rateStart*a.rateStart+4*acc*rem)))
			}
			s = min(max(s, 0), d)
			return time.Duration((a.stageT0 + s) * float64(time.Second)), true
		}
		a.stage++
		a.stageT0 += d
		a.stageC0 += dc
		a.rateStart = r1
	}
	return 0, false
}

// arrivalRun is one run of an arrival-rate scenario: every VU it holds
// waits on its own goroutine for a start, and the start loop hands each
// start to a free VU. A VU's goroutine lives for the whole run, so a start
// costs one hand-off (a buffered channel send and one goroutine wake-up),
// not a new goroutine whose stack regrows under the JS runtime's deep calls
// at every iteration (runtime.newproc and stack copying were 14% of a no-op
// run's CPU at 20,000 starts/s with a goroutine per start).
type arrivalRun struct {
	sc   *scenario
	ph   *phases
	pool Pool

	mu sync.Mutex
	// idle VUs, first in first out: the VU idle longest runs the next
	// start, as when k6's VUs wait on one channel, so every VU (and its
	// keep-alive connections) takes its share of the starts, which is what
	// spreads the load across the pods behind a Service.
	idle fifo[*arVU]
	// pending are starts that found no free VU while more VUs may still be
	// made; the first VU to be free (a busy one finishing, or a new one)
	// runs the oldest. At most maxVUs-ready of them wait: each could have a
	// VU of its own, so pending never holds a start the scenario's VU budget
	// could not run.
	pending fifo[int64]
	ready   int64 // VUs held and initialised
	growing bool  // the grower is initialising a VU
	closed  bool  // the scenario is over: VUs exit instead of waiting
	wg      sync.WaitGroup
}

// arVU is a VU the scenario holds, with its hand-off channel.
type arVU struct {
	vu    VU
	start chan int64 // buffered (1): the loop never blocks handing a start over
	iters int64
}

func (sc *scenario) runArrivalRate(ph *phases, pool Pool) {
	r := &arrivalRun{sc: sc, ph: ph, pool: pool}
	for range sc.planVUs {
		vu, ok := sc.getVU(ph.hard, pool)
		if !ok {
			break
		}
		// Idle before the loop starts: the first start finds it free.
		v := &arVU{vu: vu, start: make(chan int64, 1)}
		r.ready++
		r.idle.push(v)
		r.wg.Add(1)
		go r.work(v, true)
	}
	r.loop()
	// The scenario lasts its duration even when the last start came
	// earlier (a stage ramping down to 0), as in k6.
	<-ph.end
	r.close()
	r.wg.Wait()
}

// loop issues every start of this segment as it falls due. After one wait
// it hands over every start already due (with the ~1 ms granularity of Go's
// timers that is ~20 of them at 20,000/s), and it reuses one timer: the
// starts are issued in batches, with one clock read each, not one timer per
// start. A start already due goes ahead even if the loop fell behind past the
// end: it was due within the duration, so it runs late or counts as
// dropped, it is never lost.
func (r *arrivalRun) loop() {
	starts := newArrivalStarts(r.sc.cfg, r.sc.seg)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		at, k, ok := starts.next()
		if !ok {
			return
		}
		if d := time.Until(r.sc.startTime.Add(at)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.ph.stopped:
				return
			case <-r.ph.hard.Done():
				return
			}
		} else if r.ph.stoppedNow() { // stopReq too: before the relay to stopped
			return
		}
		r.dispatch(k)
	}
}

// dispatch hands start k to a free VU; when none is free, it waits for the
// first VU to be free if more VUs may still be made (the grower makes them
// while starts wait), and is dropped otherwise: k6's dropped_iterations, counted when no VU
// is free and maxVUs is reached.
func (r *arrivalRun) dispatch(k int64) {
	r.mu.Lock()
	v, ok := r.idle.pop()
	if !ok {
		// None free: yield once first. The VUs this loop handed starts to
		// wait in its processor's run queue; after a hiccup (the process
		// descheduled, a GC pause) it hands over the starts that fell due
		// meanwhile faster than those VUs get to run, so ones that have
		// finished may not have said so yet. Gosched lets them, and costs
		// ~1 µs only when no VU is idle.
		r.mu.Unlock()
		runtime.Gosched()
		r.mu.Lock()
		v, ok = r.idle.pop()
	}
	if ok {
		r.mu.Unlock()
		v.start <- k
		return
	}
	if int64(r.pending.len()) < r.sc.maxVUs-r.ready {
		r.pending.push(k)
		if !r.growing {
			r.growing = true
			r.wg.Add(1)
			go r.grow()
		}
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.sc.warnOnce(fmt.Sprintf("Insufficient VUs, reached %d active VUs and cannot initialize more", r.sc.maxVUs))
	r.sc.drop(1)
}

// grow initialises VUs beyond preAllocatedVUs, one at a time, while starts
// wait for a VU and maxVUs is not reached. One at a time, as k6 does: a VU's
// init runs the whole script (~1 ms of CPU), and hundreds of them at once
// after a hiccup would take the CPU from the iterations running, making
// them late and the hiccup longer; the waiting starts meanwhile go to the
// first VU to finish.
func (r *arrivalRun) grow() {
	defer r.wg.Done()
	for {
		r.mu.Lock()
		if r.closed || r.pending.len() == 0 || r.ready >= r.sc.maxVUs {
			r.growing = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		vu, ok := r.sc.getVU(r.ph.hard, r.pool)
		r.mu.Lock()
		if !ok {
			// The pool failed (reported) or the run is cancelled: the start
			// this VU was for is dropped; the next start that finds no VU
			// tries again.
			r.growing = false
			_, lost := r.pending.pop()
			r.mu.Unlock()
			if lost {
				r.sc.drop(1)
			}
			return
		}
		r.ready++
		r.mu.Unlock()
		r.wg.Add(1)
		go r.work(&arVU{vu: vu, start: make(chan int64, 1)}, false)
	}
}

// work runs iterations on one VU: the start it is handed, or the oldest
// pending one, until the scenario is over; then it gives the VU back to
// the pool. idle says the VU is already on the idle list.
func (r *arrivalRun) work(v *arVU, idle bool) {
	defer r.wg.Done()
	defer r.pool.Put(v.vu)
	sc := r.sc
	for {
		var k int64
		if !idle {
			r.mu.Lock()
			switch {
			case r.closed:
				r.mu.Unlock()
				return
			default:
				var ok bool
				if k, ok = r.pending.pop(); !ok {
					r.idle.push(v)
					idle = true
				}
			}
			r.mu.Unlock()
		}
		if idle {
			var ok bool
			if k, ok = <-v.start; !ok {
				return // closed while idle
			}
			idle = false
		}
		sc.active.Add(1)
		sc.runOne(r.ph.hard, v.vu, sc.iteration(v.iters, sc.seq.Add(1)-1, k))
		v.iters++
		sc.active.Add(-1)
	}
}

// close ends the run once the loop is done and the duration is over: idle
// VUs exit, busy ones exit after their iteration, and the starts still
// waiting for a VU are dropped (k6 counts a start it could not run in time
// as dropped).
func (r *arrivalRun) close() {
	r.mu.Lock()
	r.closed = true
	late := int64(r.pending.len())
	r.pending = fifo[int64]{}
	var idle []*arVU
	for v, ok := r.idle.pop(); ok; v, ok = r.idle.pop() {
		idle = append(idle, v)
	}
	r.mu.Unlock()
	for _, v := range idle {
		close(v.start)
	}
	r.sc.drop(late)
}

// fifo is a first-in-first-out queue on a ring that doubles when full:
// a slice re-sliced from the front would copy itself on every few appends.
type fifo[T any] struct {
	buf        []T
	head, size int
}

func (q *fifo[T]) len() int { return q.size }

func (q *fifo[T]) push(v T) {
	if q.size == len(q.buf) {
		buf := make([]T, max(8, 2*len(q.buf)))
		for i := range q.size {
			buf[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = buf, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = v
	q.size++
}

func (q *fifo[T]) pop() (T, bool) {
	var zero T
	if q.size == 0 {
		return zero, false
	}
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return v, true
}

// drop counts n starts as dropped_iterations.
func (sc *scenario) drop(n int64) {
	if n <= 0 {
		return
	}
	sc.dropped.Add(n)
	if sc.hooks.Dropped != nil {
		sc.hooks.Dropped(sc.cfg.Name, sc.cfg.Tags, n)
	}
}
