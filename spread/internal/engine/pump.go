package engine

import (
	"sync"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/vu"
)

// pump moves samples to the metrics engine and the outputs. VUs buffer
// their own samples (vu.Collector) and the pump drains every VU every
// flushEvery, when a VU asks (Kick) and once more when it closes; the
// run's own samples (vus, vus_max, dropped_iterations) are Pushed into
// a buffer of the pump's. Nothing ever blocks on a slow output: the pump
// hands the batches on from its own goroutine.
//
// Batches reach the sinks as the chunks they were buffered in (one sink
// call per chunk, in each VU's order): one shared buffer that every
// sample was copied into, and that grew and was copied again as it
// filled, cost a fifth of an empty iteration's CPU.
type pump struct {
	sinks   []func([]ext.Sample)
	recycle bool // no sink keeps a batch: give the VUs' chunks back (vu.Reuse)

	mu      sync.Mutex
	buf     []ext.Sample                          // Pushed samples
	sources []func([][]ext.Sample) [][]ext.Sample // VUs' drains (vu.Collector)
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	batches [][]ext.Sample // flush's scratch list (pump goroutine only)
}

const (
	flushEvery = 100 * time.Millisecond
	kickSize   = 8192
)

// newPump starts a pump feeding sinks; recycle says none of them keeps
// a batch after it returns (the metrics engine alone), so the VUs'
// buffers can be filled again.
func newPump(recycle bool, sinks ...func([]ext.Sample)) *pump {
	p := &pump{sinks: sinks, recycle: recycle, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

// Push queues samples; safe from any goroutine.
func (p *pump) Push(s ...ext.Sample) {
	p.mu.Lock()
	p.buf = append(p.buf, s...)
	n := len(p.buf)
	p.mu.Unlock()
	if n >= kickSize {
		p.Kick()
	}
}

// Collect adds a VU's drain (vu.Collector); VUs are never removed during
// a run, so the list only grows.
func (p *pump) Collect(drain func([][]ext.Sample) [][]ext.Sample) {
	p.mu.Lock()
	p.sources = append(p.sources, drain)
	p.mu.Unlock()
}

// Kick asks for a flush soon; safe from any goroutine, never blocks.
func (p *pump) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *pump) loop() {
	defer close(p.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-p.kick:
		case <-p.stop:
			p.flush()
			return
		}
		p.flush()
	}
}

// flush hands the buffered samples on: the pump's own, then every VU's.
// The slices are the sinks' afterwards (outputs may keep them), unless
// recycle says no sink keeps any.
func (p *pump) flush() {
	p.mu.Lock()
	b := p.buf
	if len(b) > 0 {
		p.buf = nil
	}
	sources := p.sources // append-only: this prefix stays valid unlocked
	p.mu.Unlock()
	batches := p.batches[:0]
	if len(b) > 0 {
		batches = append(batches, b)
	}
	for _, drain := range sources {
		batches = drain(batches)
	}
	for _, s := range p.sinks {
		for _, batch := range batches {
			s(batch)
		}
	}
	if p.recycle && len(batches) > 0 {
		vu.Reuse(batches[min(len(b), 1):]) // VUs' chunks only
	}
	clear(batches) // drop the references: the sinks own the batches
	p.batches = batches[:0]
}

// Close flushes what is left (every VU's buffer too) and stops the loop;
// Push after Close is still safe but its samples are dropped.
func (p *pump) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}
