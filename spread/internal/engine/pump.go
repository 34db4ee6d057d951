package engine

import (
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// pump moves samples from VUs to the metrics engine and the outputs: VUs
// append to a buffer under a short lock (never blocking on a slow output)
// and one goroutine hands batches on every flushEvery or when the buffer
// grows large.
type pump struct {
	sinks []func([]ext.Sample)

	mu   sync.Mutex
	buf  []ext.Sample
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

const (
	flushEvery = 100 * time.Millisecond
	kickSize   = 8192
)

func newPump(sinks ...func([]ext.Sample)) *pump {
	p := &pump{sinks: sinks, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
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
		select {
		case p.kick <- struct{}{}:
		default:
		}
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

// flush hands the buffered samples on; a fresh slice each time because
// outputs may keep the batch they are given.
func (p *pump) flush() {
	p.mu.Lock()
	b := p.buf
	if len(b) > 0 {
		// the next batch is likely as large: avoid regrowing from zero.
		p.buf = make([]ext.Sample, 0, min(len(b), 4*kickSize))
	}
	p.mu.Unlock()
	if len(b) == 0 {
		return
	}
	for _, s := range p.sinks {
		s(b)
	}
}

// Close flushes what is left and stops the loop; Push after Close is
// still safe but its samples are dropped.
func (p *pump) Close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}
