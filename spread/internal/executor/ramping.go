package executor

import (
	"context"
	"math"
	"math/bits"
	"sync"
	"time"
)

// vuStep is a change of this segment's VU target at an offset from the
// scenario start.
type vuStep struct {
	at     time.Duration
	target int64
}

// rampingVUSteps calls emit for every change of this segment's VU count,
// in time order, until emit returns false. The test-wide count moves
// linearly between stage targets, one VU at a time: going up from a to b
// over d, VU number v (a < v <= b) joins at (v-a)*d/(b-a); going down, the
// count reaches v (b <= v < a) at (a-v)*d/(a-b). A change matters to this
// segment only when the VU that joins or leaves is one of its elements.
func rampingVUSteps(c Config, seg Segment, emit func(vuStep) bool) {
	cur := c.StartVUs
	var start time.Duration
	for _, st := range c.Stages {
		d, target := st.Duration.D(), st.Target
		switch {
		case d == 0 || target == cur:
			if target != cur && seg.Scale(target) != seg.Scale(cur) {
				if !emit(vuStep{start, seg.Scale(target)}) {
					return
				}
			}
		case target > cur:
			for v := cur + 1; v <= target; v++ {
				if seg.Owns(v - 1) {
					if !emit(vuStep{start + mulDiv(d, v-cur, target-cur), seg.Scale(v)}) {
						return
					}
				}
			}
		default:
			for v := cur - 1; v >= target; v-- {
				if seg.Owns(v) {
					if !emit(vuStep{start + mulDiv(d, cur-v, cur-target), seg.Scale(v)}) {
						return
					}
				}
			}
		}
		cur = target
		start += d
	}
}

// mulDiv returns d*a/b without intermediate overflow, for d, a >= 0 and
// b > 0; a result beyond int64 saturates.
func mulDiv(d time.Duration, a, b int64) time.Duration {
	hi, lo := bits.Mul64(uint64(d), uint64(a))
	if hi >= uint64(b) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(b))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(q)
}

// rampSlot is one VU position of a ramping-vus scenario; slots below the
// current target are wanted.
type rampSlot struct {
	mu      sync.Mutex
	wanted  bool
	gen     int64 // bumped whenever wanted changes, so stale ramp-down timers do nothing
	wake    chan struct{}
	iterCtx context.Context // the running iteration's context, nil between iterations
	cancel  context.CancelFunc
}

func (s *rampSlot) setWanted(w bool) (iterCtx context.Context, cancel context.CancelFunc, gen int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wanted == w {
		return nil, nil, s.gen
	}
	s.wanted = w
	s.gen++
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return s.iterCtx, s.cancel, s.gen
}

func (s *rampSlot) isWanted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wanted
}

func (sc *scenario) runRampingVUs(ph *phases, pool Pool) {
	slots := make([]*rampSlot, sc.vus)
	for i := range slots {
		slots[i] = &rampSlot{wake: make(chan struct{}, 1)}
	}
	var wg sync.WaitGroup
	for i := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.rampSlotLoop(ph, pool, slots[i])
		}()
	}
	grace := sc.cfg.GracefulRampDown.D()
	current := int64(0)
	setTarget := func(n int64) {
		for i := current; i < n; i++ {
			slots[i].setWanted(true)
		}
		for i := n; i < current; i++ {
			ctx, cancel, gen := slots[i].setWanted(false)
			if ctx == nil {
				continue
			}
			// The running iteration gets gracefulRampDown to finish.
			wg.Add(1)
			go func(s *rampSlot) {
				defer wg.Done()
				t := time.NewTimer(grace)
				defer t.Stop()
				select {
				case <-t.C:
					s.mu.Lock()
					if s.gen == gen {
						cancel()
					}
					s.mu.Unlock()
				case <-ctx.Done():
				}
			}(slots[i])
		}
		current = n
	}
	setTarget(min(sc.seg.Scale(sc.cfg.StartVUs), sc.vus))
	length := sc.cfg.Length()
	rampingVUSteps(sc.cfg, sc.seg, func(st vuStep) bool {
		// A change at the very end is the end itself: gracefulStop, not
		// gracefulRampDown, applies to the iterations still running.
		if st.at >= length || !ph.waitDue(sc.startTime.Add(st.at)) {
			return false
		}
		setTarget(min(st.target, sc.vus))
		return true
	})
	// Let the stages run out (the last step may come before the end).
	<-ph.end
	wg.Wait()
}

func (sc *scenario) rampSlotLoop(ph *phases, pool Pool, s *rampSlot) {
	var vu VU
	defer func() {
		if vu != nil {
			pool.Put(vu)
		}
	}()
	var vuIter int64
	for {
		for !s.isWanted() {
			select {
			case <-s.wake:
			case <-ph.end:
				return
			}
		}
		if ph.ended() {
			return
		}
		if vu == nil {
			var ok bool
			if vu, ok = sc.getVU(ph.hard, pool); !ok {
				return
			}
		}
		sc.active.Add(1)
		for s.isWanted() && !ph.ended() {
			ctx, cancel := context.WithCancel(ph.hard)
			s.mu.Lock()
			s.iterCtx, s.cancel = ctx, cancel
			s.mu.Unlock()
			local := sc.seq.Add(1) - 1
			sc.runOne(ctx, vu, sc.iteration(vuIter, local, sc.seg.Global(local)))
			vuIter++
			s.mu.Lock()
			s.iterCtx, s.cancel = nil, nil
			s.mu.Unlock()
			cancel()
		}
		sc.active.Add(-1)
	}
}
