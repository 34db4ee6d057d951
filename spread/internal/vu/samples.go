package vu

import (
	"sync"

	"spread.dev/spread/ext"
)

// Collector is a Host that collects each VU's samples from a buffer of
// the VU's own instead of taking them one Push at a time. A shared
// buffer behind one lock, grown and copied as it filled, was a fifth of
// the CPU of an empty iteration (two samples each); a VU's own buffer is
// only ever contended by the collector's drain.
//
// New calls Collect once, before the VU's first sample, with the VU's
// drain; from then on the VU's Push (and its iteration samples) go to
// that buffer. The host calls drain from any goroutine, at least every
// period of its own (so live outputs see samples as soon as before) and
// once more after the last iteration (so no sample is lost): drain
// appends the VU's samples to dst in the order they were pushed, as
// slices the host then owns, and empties the buffer. Kick says a VU holds
// many samples: drain soon.
type Collector interface {
	Collect(drain func(dst [][]ext.Sample) [][]ext.Sample)
	Kick()
}

const (
	// chunkSize is how many samples a VU buffers in one slice before it
	// starts another (~14 KiB): a full chunk is handed on as it is, so
	// no sample is copied again, and a VU that pushes little never holds
	// a whole chunk (a partial one is grown by append as needed).
	chunkSize = 256
	// kickAt is how many samples a VU holds before it asks for a drain.
	kickAt = 4096
)

// Direct is implemented by a Collector whose sinks keep no batch and are
// safe from any goroutine (the metrics engine alone, no outputs): Direct
// returns that sink, or nil. A VU then hands each full chunk to it
// itself, under its lock (so in the order pushed), and fills the same
// chunk again: in a steady loop no chunk is allocated, collected or
// waits for the collector's goroutine (with GOMAXPROCS=1 a VU runs a
// whole time slice, ~10 ms, before the collector can drain it), and the
// chunk stays in the CPU's cache. The collector's periodic drain hands a
// VU's partial chunk to the same sink, under the same lock.
type Direct interface {
	Direct() func([]ext.Sample)
}

// outbox is a VU's buffered samples, guarded by VU.mu.
type outbox struct {
	full   [][]ext.Sample     // filled chunks, oldest first
	cur    []ext.Sample       // the chunk being filled
	n      int                // samples held in full and cur
	direct func([]ext.Sample) // see Direct; nil: full chunks wait in full
}

// add buffers s with the VU's metadata when it has none of its own, and
// says whether the collector should be kicked now.
func (o *outbox) add(s ext.Sample, meta map[string]string) (kick bool) {
	if len(o.cur) == cap(o.cur) && len(o.cur) >= chunkSize {
		if o.direct != nil {
			o.direct(o.cur)
			o.n -= len(o.cur)
			o.cur = o.cur[:0] // overwritten before read again
		} else {
			o.full = append(o.full, o.cur)
			o.cur = newChunk()
		}
	}
	if s.Metadata == nil {
		s.Metadata = meta
	}
	o.cur = append(o.cur, s)
	o.n++
	return o.n == kickAt
}

// take appends the buffered samples to dst and empties the outbox (a
// direct outbox hands them to its sink instead).
func (o *outbox) take(dst [][]ext.Sample) [][]ext.Sample {
	if o.direct != nil {
		if len(o.cur) > 0 {
			o.direct(o.cur)
			o.cur = o.cur[:0]
		}
		o.n = 0
		return dst
	}
	dst = append(dst, o.full...)
	clear(o.full) // the chunks are dst's now; keep the list's array only
	o.full = o.full[:0]
	if len(o.cur) > 0 {
		dst = append(dst, o.cur)
		o.cur = nil
	}
	o.n = 0
	return dst
}

// drainSamples is the VU's drain for its Collector.
func (v *VU) drainSamples(dst [][]ext.Sample) [][]ext.Sample {
	if !v.holding.Load() {
		return dst // nothing buffered: no lock (thousands of idle VUs per period)
	}
	v.mu.Lock()
	dst = v.out.take(dst)
	v.holding.Store(false)
	v.mu.Unlock()
	return dst
}

// pushLocked buffers samples for the collector (v.mu held) and says
// whether to kick it.
func (v *VU) pushLocked(samples []ext.Sample) (kick bool) {
	for _, s := range samples {
		if v.out.add(s, v.meta) {
			kick = true
		}
	}
	if !v.holding.Load() {
		v.holding.Store(true)
	}
	return kick
}

// spare holds chunks that a host gave back (Reuse) once nothing kept
// them, for VUs to fill again: a VU looping an empty function fills a
// chunk every 128 iterations, and allocating each (then collecting it)
// was a tenth of the iteration. Bounded, so a burst does not stay
// resident; beyond it chunks are left to the GC.
var spare struct {
	mu     sync.Mutex
	chunks [][]ext.Sample
}

const maxSpare = 256 // ~3.5 MiB

func newChunk() []ext.Sample {
	spare.mu.Lock()
	if n := len(spare.chunks); n > 0 {
		c := spare.chunks[n-1]
		spare.chunks[n-1] = nil
		spare.chunks = spare.chunks[:n-1]
		spare.mu.Unlock()
		return c[:0]
	}
	spare.mu.Unlock()
	return make([]ext.Sample, 0, chunkSize)
}

// Reuse gives back batches a Collector drained once nothing holds them
// any more (a host whose sinks keep no batch): their full chunks are
// filled again by VUs. The host must not touch them afterwards. The old
// samples are not cleared: every slot is overwritten before it is read
// again, and the few pointers left meanwhile are the run's tag sets and
// metrics, alive anyway.
func Reuse(batches [][]ext.Sample) {
	spare.mu.Lock()
	for _, b := range batches {
		if cap(b) != chunkSize || len(spare.chunks) >= maxSpare {
			continue
		}
		spare.chunks = append(spare.chunks, b)
	}
	spare.mu.Unlock()
}
