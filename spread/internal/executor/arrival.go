package executor

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
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

// arVU is a VU an arrival-rate scenario holds, idle or busy.
type arVU struct {
	vu    VU
	iters int64
}

func (sc *scenario) runArrivalRate(ph *phases, pool Pool) {
	idle := make(chan *arVU, sc.maxVUs)
	var allocated atomic.Int64
	for range sc.planVUs {
		vu, ok := sc.getVU(ph.hard, pool)
		if !ok {
			break
		}
		allocated.Add(1)
		idle <- &arVU{vu: vu}
	}
	var wg sync.WaitGroup
	runOn := func(v *arVU, k int64) {
		defer wg.Done()
		sc.active.Add(1)
		sc.runOne(ph.hard, v.vu, sc.iteration(v.iters, sc.seq.Add(1)-1, k))
		v.iters++
		sc.active.Add(-1)
		idle <- v // never blocks: at most maxVUs exist
	}
	starts := newArrivalStarts(sc.cfg, sc.seg)
	for {
		at, k, ok := starts.next()
		if !ok || !ph.waitDue(sc.startTime.Add(at)) {
			break
		}
		select {
		case v := <-idle:
			wg.Add(1)
			go runOn(v, k)
			continue
		default:
		}
		if n := allocated.Add(1); n <= sc.maxVUs {
			// Grow off the schedule: the iteration starts once the new VU is ready.
			wg.Add(1)
			go func() {
				vu, ok := sc.getVU(ph.hard, pool)
				if !ok {
					allocated.Add(-1)
					sc.drop()
					wg.Done()
					return
				}
				v := &arVU{vu: vu}
				if ph.ended() { // too late: the scenario is over
					idle <- v
					sc.drop()
					wg.Done()
					return
				}
				runOn(v, k)
			}()
			continue
		}
		allocated.Add(-1)
		sc.warnOnce(fmt.Sprintf("Insufficient VUs, reached %d active VUs and cannot initialize more", sc.maxVUs))
		sc.drop()
	}
	// The scenario lasts its duration even when the last start came
	// earlier (a stage ramping down to 0), as in k6.
	<-ph.end
	wg.Wait()
	close(idle)
	for v := range idle {
		pool.Put(v.vu)
	}
}

func (sc *scenario) drop() {
	sc.dropped.Add(1)
	if sc.hooks.Dropped != nil {
		sc.hooks.Dropped(sc.cfg.Name, sc.cfg.Tags, 1)
	}
}
