package executor

import (
	"context"
	"sort"
	"sync"
	"time"
)

// record is one iteration as a fake VU saw it.
type record struct {
	vu          int
	it          Iteration
	start, end  time.Duration // offsets from the recorder's origin
	interrupted bool
	progress    float64 // it.Progress() when the iteration started
}

// recorder collects iterations from fake VUs; t0 is the test's origin.
type recorder struct {
	mu   sync.Mutex
	t0   time.Time
	recs []record
}

func newRecorder() *recorder { return &recorder{t0: time.Now()} }

func (r *recorder) add(rec record) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
}

func (r *recorder) all() []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]record(nil), r.recs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].start != out[j].start {
			return out[i].start < out[j].start
		}
		return out[i].it.IterationInTest < out[j].it.IterationInTest
	})
	return out
}

// count returns completed and interrupted iterations of a scenario ("" = all).
func (r *recorder) count(scenario string) (done, interrupted int) {
	for _, rec := range r.all() {
		if scenario != "" && rec.it.Scenario != scenario {
			continue
		}
		if rec.interrupted {
			interrupted++
		} else {
			done++
		}
	}
	return
}

// fakeVU sleeps for its iteration time (virtual time in a synctest bubble),
// or until its context is cancelled.
type fakeVU struct {
	id   int
	rec  *recorder
	iter func(Iteration) time.Duration
}

func (v *fakeVU) RunIteration(ctx context.Context, it Iteration) error {
	start := time.Since(v.rec.t0)
	progress := -1.0
	if it.Progress != nil {
		progress = it.Progress()
	}
	t := time.NewTimer(v.iter(it))
	defer t.Stop()
	interrupted := false
	select {
	case <-t.C:
	case <-ctx.Done():
		interrupted = true
	}
	v.rec.add(record{vu: v.id, it: it, start: start, end: time.Since(v.rec.t0), interrupted: interrupted, progress: progress})
	return nil
}

// fakePool makes VUs on demand and checks they come back.
type fakePool struct {
	mu      sync.Mutex
	rec     *recorder
	iter    func(Iteration) time.Duration
	idle    []*fakeVU
	made    int
	out     int
	maxOut  int
	initDur time.Duration // virtual time a new VU takes to initialise
}

func newPool(rec *recorder, iter time.Duration) *fakePool {
	return &fakePool{rec: rec, iter: func(Iteration) time.Duration { return iter }}
}

func (p *fakePool) Get(ctx context.Context) (VU, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		v := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.out++
		p.maxOut = max(p.maxOut, p.out)
		p.mu.Unlock()
		return v, nil
	}
	p.made++
	v := &fakeVU{id: p.made, rec: p.rec, iter: p.iter}
	p.out++
	p.maxOut = max(p.maxOut, p.out)
	d := p.initDur
	p.mu.Unlock()
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			p.Put(v)
			return nil, ctx.Err()
		}
	}
	return v, nil
}

func (p *fakePool) Put(vu VU) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out--
	p.idle = append(p.idle, vu.(*fakeVU))
}

func (p *fakePool) outstanding() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out
}
