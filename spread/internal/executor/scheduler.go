package executor

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Scheduler runs a test's scenarios in one execution segment.
type Scheduler struct {
	seg   Segment
	scens []*scenario

	stopOnce sync.Once
	stop     chan struct{} // closed by Stop: graceful stop of every scenario
	running  atomic.Bool
}

// New checks the scenarios (unique names, each valid) and plans this
// segment's share of each.
func New(cfgs []Config, seg Segment, hooks Hooks) (*Scheduler, error) {
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("executor: no scenarios to run")
	}
	s := &Scheduler{seg: seg, stop: make(chan struct{})}
	names := map[string]bool{}
	for _, c := range cfgs {
		if names[c.Name] {
			return nil, fmt.Errorf("scenario %q: defined twice", c.Name)
		}
		names[c.Name] = true
		if err := c.Validate(); err != nil {
			return nil, err
		}
		s.scens = append(s.scens, newScenario(c, seg, hooks))
	}
	return s, nil
}

// Segment returns the segment the scheduler runs.
func (s *Scheduler) Segment() Segment { return s.seg }

// Configs returns the scenarios, in order.
func (s *Scheduler) Configs() []Config {
	out := make([]Config, len(s.scens))
	for i, sc := range s.scens {
		out[i] = sc.cfg
	}
	return out
}

// PreInitVUs is how many VUs this segment needs at most at one time by
// plan (preAllocatedVUs for the arrival-rate executors), counting
// scenarios that overlap in time: the VUs to initialise before setup(), as
// k6 does. Arrival-rate scenarios may grow beyond it up to MaxVUs.
func (s *Scheduler) PreInitVUs() int64 { return s.peakVUs(false) }

// MaxVUs is the most VUs this segment may ever hold at one time
// (maxVUs for the arrival-rate executors): k6's "max VUs" and vus_max bound.
func (s *Scheduler) MaxVUs() int64 { return s.peakVUs(true) }

func (s *Scheduler) peakVUs(withGrowth bool) int64 {
	type event struct {
		at    time.Duration
		delta int64
	}
	var evs []event
	for _, sc := range s.scens {
		n := sc.planVUs
		if withGrowth {
			n = sc.maxVUs
		}
		start := sc.cfg.StartTime.D()
		end := start + sc.cfg.Length() + sc.cfg.GracefulStop.D()
		evs = append(evs, event{start, n}, event{end, -n})
	}
	// Ends sort before starts at the same instant: a scenario that starts as
	// another one's graceful stop expires can reuse its VUs.
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].at != evs[j].at {
			return evs[i].at < evs[j].at
		}
		return evs[i].delta < evs[j].delta
	})
	var cur, peak int64
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// TotalDuration is the longest the test can take: the latest
// startTime + length + gracefulStop of its scenarios.
func (s *Scheduler) TotalDuration() time.Duration {
	var t time.Duration
	for _, sc := range s.scens {
		t = max(t, sc.cfg.StartTime.D()+sc.cfg.Length()+sc.cfg.GracefulStop.D())
	}
	return t
}

// Stop stops the test gracefully: scenarios start no new iterations,
// running ones get their scenario's gracefulStop, scenarios not started yet
// never start. Safe to call at any time, more than once.
func (s *Scheduler) Stop() { s.stopOnce.Do(func() { close(s.stop) }) }

// Run runs every scenario, each from its startTime, on VUs from pool, and
// returns when all have ended. Cancelling ctx is a hard stop: running
// iterations see their context cancelled and Run returns promptly with
// ctx's error. A Scheduler runs once.
func (s *Scheduler) Run(ctx context.Context, pool Pool) error {
	if !s.running.CompareAndSwap(false, true) {
		return fmt.Errorf("executor: scheduler already ran")
	}
	var wg sync.WaitGroup
	for _, sc := range s.scens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc.run(ctx, pool, s.stop)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// ActiveVUs is the number of VUs currently busy in scenarios (the vus metric).
func (s *Scheduler) ActiveVUs() int64 {
	var n int64
	for _, sc := range s.scens {
		n += sc.active.Load()
	}
	return n
}

// Progress returns a snapshot of every scenario, in order.
func (s *Scheduler) Progress() []Progress {
	out := make([]Progress, len(s.scens))
	for i, sc := range s.scens {
		out[i] = sc.progress()
	}
	return out
}

// scenario is one Config's run in this segment.
type scenario struct {
	cfg   Config
	seg   Segment
	hooks Hooks

	// This segment's plan.
	vus     int64 // looping executors: VUs; ramping-vus: most VUs at once
	iters   int64 // per-vu-iterations: per VU; shared-iterations: this segment's total
	planVUs int64 // VUs held by plan (pre-initialised)
	maxVUs  int64 // VUs held at most

	startTime time.Time // written once, before started is set
	started   atomic.Bool
	finished  atomic.Bool
	ranFor    atomic.Int64 // elapsed time at the end, once finished

	active      atomic.Int64
	completed   atomic.Int64
	interrupted atomic.Int64
	dropped     atomic.Int64
	seq         atomic.Int64 // IterationInInstance source
	warnedVUs   atomic.Bool

	// fractionFn is sc.fraction bound once: a method value made per
	// iteration (Iteration.Progress) was a heap allocation each time.
	fractionFn func() float64
}

func newScenario(c Config, seg Segment, hooks Hooks) *scenario {
	sc := &scenario{cfg: c, seg: seg, hooks: hooks}
	sc.fractionFn = sc.fraction
	if k, ok := kinds[c.Executor]; ok { // New validates: always found there
		k.plan(sc)
	}
	return sc
}

func (sc *scenario) progress() Progress {
	p := Progress{
		Name:        sc.cfg.Name,
		Executor:    sc.cfg.Executor,
		Started:     sc.started.Load(),
		Done:        sc.finished.Load(),
		ActiveVUs:   sc.active.Load(),
		MaxVUs:      sc.maxVUs,
		Iterations:  sc.completed.Load(),
		Interrupted: sc.interrupted.Load(),
		Dropped:     sc.dropped.Load(),
		Total:       sc.cfg.Length(),
		Description: sc.cfg.Description(),
	}
	p.Elapsed, p.Fraction = sc.elapsedAndFraction(p.Started, p.Done)
	return p
}

// fraction is how far the scenario is, 0..1 (k6/execution scenario.progress).
func (sc *scenario) fraction() float64 {
	_, f := sc.elapsedAndFraction(sc.started.Load(), sc.finished.Load())
	return f
}

func (sc *scenario) elapsedAndFraction(started, done bool) (time.Duration, float64) {
	var elapsed time.Duration
	switch {
	case started && done:
		elapsed = time.Duration(sc.ranFor.Load())
	case started:
		elapsed = time.Since(sc.startTime)
	}
	var f float64
	switch {
	case done:
		f = 1
	case !started:
	case sc.cfg.Executor == SharedIterations || sc.cfg.Executor == PerVUIterations:
		total := sc.iters
		if sc.cfg.Executor == PerVUIterations {
			total = sc.iters * sc.vus
		}
		if total > 0 {
			f = float64(sc.completed.Load()+sc.interrupted.Load()) / float64(total)
		}
	case sc.cfg.Length() > 0:
		f = float64(elapsed) / float64(sc.cfg.Length())
	}
	return elapsed, min(max(f, 0), 1)
}

// run waits for the scenario's startTime, then runs its executor.
func (sc *scenario) run(ctx context.Context, pool Pool, stop <-chan struct{}) {
	defer func() {
		if sc.started.Load() {
			sc.ranFor.Store(int64(time.Since(sc.startTime)))
		}
		sc.finished.Store(true)
	}()
	if d := sc.cfg.StartTime.D(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		case <-stop:
			t.Stop()
			return
		}
	}
	select {
	case <-stop:
		return
	case <-ctx.Done():
		return
	default:
	}
	sc.startTime = time.Now()
	sc.started.Store(true)

	ph := startPhases(ctx, sc.cfg.Length(), sc.cfg.GracefulStop.D(), stop)
	defer ph.finish()
	if k, ok := kinds[sc.cfg.Executor]; ok {
		k.run(sc, ph, pool)
	}
}

func (sc *scenario) iteration(vuIter, inInstance, inTest int64) Iteration {
	return Iteration{
		Scenario:              sc.cfg.Name,
		Executor:              sc.cfg.Executor,
		Exec:                  sc.cfg.Exec,
		Env:                   sc.cfg.Env,
		Tags:                  sc.cfg.Tags,
		ScenarioStart:         sc.startTime,
		Progress:              sc.fractionFn,
		VUIterationInScenario: vuIter,
		IterationInInstance:   inInstance,
		IterationInTest:       inTest,
	}
}

// runOne runs one iteration and counts it as completed or interrupted.
func (sc *scenario) runOne(ctx context.Context, vu VU, it Iteration) {
	_ = vu.RunIteration(ctx, it) // script errors are the engine's to report
	sc.count(ctx)
}

func (sc *scenario) count(ctx context.Context) {
	if ctx.Err() != nil {
		sc.interrupted.Add(1)
	} else {
		sc.completed.Add(1)
	}
}

func (sc *scenario) getVU(ctx context.Context, pool Pool) (VU, bool) {
	vu, err := pool.Get(ctx)
	if err != nil || vu == nil {
		if ctx.Err() == nil && sc.hooks.VUError != nil {
			if err == nil {
				err = fmt.Errorf("pool returned no VU")
			}
			sc.hooks.VUError(sc.cfg.Name, fmt.Errorf("scenario %q: get VU: %w", sc.cfg.Name, err))
		}
		return nil, false
	}
	return vu, true
}

// runLooping runs sc.vus VUs, each looping over next until it says stop or
// the scenario ends. Every slot takes its VU from the pool before any slot
// starts iterating: were each slot to Get its own VU as its goroutine
// starts, a slot done quickly (per-vu-iterations) would Put its VU back
// before a later slot's Get, and that slot would run on the same VU
// (same __VU, its iteration counter restarting) while another VU idled.
func (sc *scenario) runLooping(ph *phases, pool Pool, next func(slot, vuIter int64) (Iteration, bool)) {
	vus := make([]VU, sc.vus)
	for slot := range vus {
		vu, ok := sc.getVU(ph.hard, pool)
		if !ok {
			break // the run is being cancelled, or the pool failed (reported)
		}
		vus[slot] = vu
	}
	var wg sync.WaitGroup
	for slot, vu := range vus {
		if vu == nil {
			continue
		}
		slot := int64(slot)
		sc.active.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pool.Put(vu)
			defer sc.active.Add(-1)
			// A VU that shares its clock reads one clock per iteration:
			// its return time is both the end-of-scenario check and the
			// next iteration's start, as next never blocks.
			cv, clocked := vu.(ClockedVU)
			now := time.Now()
			for vuIter := int64(0); !ph.endedAt(now); vuIter++ {
				it, ok := next(slot, vuIter)
				if !ok {
					return
				}
				if clocked {
					now, _ = cv.RunIterationAt(ph.hard, it, now) // script errors are the engine's to report
					sc.count(ph.hard)
					continue
				}
				sc.runOne(ph.hard, vu, it)
				now = time.Now()
			}
		}()
	}
	wg.Wait()
}

// phases tracks a scenario's two deadlines: end (no new iterations) and
// hard (running iterations cancelled, gracefulStop after end).
type phases struct {
	endAt   time.Time     // planned end; looping VUs never start an iteration at or after it
	end     chan struct{} // closed at endAt, on Stop or on a hard stop
	stopped chan struct{} // closed on Stop or on a hard stop only
	// stopReq is the Scheduler's stop itself: the goroutine above relays it
	// to end and stopped, but a VU that called Stop (test.abort()) reaches
	// its next check before that goroutine runs, and must not start another
	// iteration.
	stopReq <-chan struct{}
	endOnce sync.Once
	hard    context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
}

func startPhases(ctx context.Context, length, graceful time.Duration, stop <-chan struct{}) *phases {
	hard, cancel := context.WithCancel(ctx)
	ph := &phases{endAt: time.Now().Add(length), end: make(chan struct{}), stopped: make(chan struct{}),
		hard: hard, cancel: cancel, done: make(chan struct{}), stopReq: stop}
	ph.wg.Add(1)
	go func() {
		defer ph.wg.Done()
		t := time.NewTimer(length)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			close(ph.stopped)
		case <-hard.Done():
			t.Stop()
			close(ph.stopped)
			ph.endNow()
			return
		case <-ph.done:
			t.Stop()
			return
		}
		ph.endNow()
		g := time.NewTimer(graceful)
		defer g.Stop()
		select {
		case <-g.C:
			cancel()
		case <-hard.Done():
		case <-ph.done:
		}
	}()
	return ph
}

func (ph *phases) endNow() { ph.endOnce.Do(func() { close(ph.end) }) }

// ended reports whether new iterations may no longer start. The clock
// check makes the boundary exact: an iteration due at the very end does not
// start, whichever goroutine the runtime wakes first.
func (ph *phases) ended() bool { return ph.endedAt(time.Now()) }

// endedAt is ended with the clock read by the caller at now.
func (ph *phases) endedAt(now time.Time) bool {
	// One non-blocking receive per channel, not one select over both: a
	// select with several cases locks every channel (runtime.selectgo was
	// 13% of an empty iteration's CPU), while a single-case receive on an
	// open, empty channel returns without taking a lock.
	if isClosed(ph.end) || isClosed(ph.stopReq) {
		return true
	}
	return !now.Before(ph.endAt)
}

// isClosed says whether c is closed (the channels here are only ever
// closed, never sent on); a nil channel is never closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// finish releases the phase timer once the executor has returned.
func (ph *phases) finish() {
	close(ph.done)
	ph.wg.Wait()
	ph.endNow()
	ph.cancel()
}

// waitDue waits for a start due at t (before endAt); false if the scenario
// was stopped first. A start already due goes ahead even if the scheduler
// fell behind past the end: it was due within the duration, so it runs late
// or counts as dropped, it is never lost.
func (ph *phases) waitDue(t time.Time) bool {
	if d := time.Until(t); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-ph.stopped:
			return false
		case <-ph.hard.Done():
			return false
		}
	}
	return !ph.stoppedNow()
}

// stoppedNow says whether the scenario was stopped (Stop, the Scheduler's
// stop request, or a hard stop), without blocking and without a
// multi-channel select (see endedAt).
func (ph *phases) stoppedNow() bool {
	return isClosed(ph.stopped) || isClosed(ph.stopReq) || isClosed(ph.hard.Done())
}

func (sc *scenario) warnOnce(msg string) {
	if sc.hooks.Warn != nil && sc.warnedVUs.CompareAndSwap(false, true) {
		sc.hooks.Warn(sc.cfg.Name, msg)
	}
}
