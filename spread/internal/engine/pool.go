package engine

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"spread.dev/spread/internal/executor"
	"spread.dev/spread/internal/vu"
)

// pool lends initialised VUs to the executors and creates new ones when
// none is idle (arrival-rate executors grow up to maxVUs this way).
type pool struct {
	ctx  context.Context
	sh   *vu.Shared
	host vu.Host
	seg  executor.Segment

	mu     sync.Mutex
	idle   []*vu.VU
	nextID uint64
	total  atomic.Int64
}

func newPool(ctx context.Context, sh *vu.Shared, host vu.Host, seg executor.Segment) *pool {
	return &pool{ctx: ctx, sh: sh, host: host, seg: seg}
}

// Get returns an idle VU or initialises a new one.
func (p *pool) Get(ctx context.Context) (executor.VU, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		v := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return v, nil
	}
	p.mu.Unlock()
	return p.create()
}

// Put returns a VU to the idle list.
func (p *pool) Put(v executor.VU) {
	u, ok := v.(*vu.VU)
	if !ok {
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, u)
	p.mu.Unlock()
}

// create initialises one more VU with the next id.
func (p *pool) create() (*vu.VU, error) {
	p.mu.Lock()
	p.nextID++
	id := p.nextID
	p.mu.Unlock()
	idInTest := uint64(p.seg.Global(int64(id-1))) + 1
	v, err := vu.New(p.ctx, p.sh, p.host, id, idInTest)
	if err != nil {
		return nil, fmt.Errorf("VU %d: %w", id, err)
	}
	p.total.Add(1)
	return v, nil
}

// Preinit initialises n VUs before the test starts, using a few
// goroutines because init runs the whole script once per VU.
func (p *pool) Preinit(ctx context.Context, n int64, workers int) error {
	if n <= 0 {
		return nil
	}
	if workers < 1 {
		workers = 1
	}
	type res struct {
		v   *vu.VU
		err error
	}
	jobs := make(chan struct{})
	out := make(chan res)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				v, err := p.create()
				out <- res{v, err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := int64(0); i < n; i++ {
			select {
			case jobs <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(out) }()
	var first error
	for r := range out {
		if r.err != nil {
			if first == nil {
				first = r.err
			}
			continue
		}
		p.Put(r.v)
	}
	if first != nil {
		return first
	}
	// Hand out the lowest ids first, so __VU 1 is the first VU to run.
	p.mu.Lock()
	sort.Slice(p.idle, func(i, j int) bool { return p.idle[i].ID() > p.idle[j].ID() })
	p.mu.Unlock()
	return ctx.Err()
}

// Total is how many VUs were initialised (vus_max).
func (p *pool) Total() int64 { return p.total.Load() }
