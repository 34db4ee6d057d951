package delivery

import (
	"sync"
	"time"

	"spread.dev/spread/ext"
)

// Buffer keeps the samples the engine hands an output (AddSamples must not
// block) and passes them to flush from a goroutine of its own every
// interval, and once more at Stop: the push loop every store output
// (InfluxDB, OpenTelemetry) needs.
type Buffer struct {
	interval time.Duration
	flush    func([]ext.Sample)

	mu      sync.Mutex
	pending []ext.Sample

	stop, done chan struct{}
}

// StartBuffer starts the loop calling flush every interval.
func StartBuffer(interval time.Duration, flush func([]ext.Sample)) *Buffer {
	b := &Buffer{interval: interval, flush: flush, stop: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// Add keeps samples for the next flush; safe from any goroutine.
func (b *Buffer) Add(samples []ext.Sample) {
	b.mu.Lock()
	b.pending = append(b.pending, samples...)
	b.mu.Unlock()
}

// Stop flushes what is left and returns once flush has returned.
func (b *Buffer) Stop() {
	close(b.stop)
	<-b.done
}

func (b *Buffer) loop() {
	defer close(b.done)
	t := time.NewTicker(b.interval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			b.take()
			return
		case <-t.C:
			b.take()
		}
	}
}

func (b *Buffer) take() {
	b.mu.Lock()
	samples := b.pending
	b.pending = nil
	b.mu.Unlock()
	b.flush(samples)
}
