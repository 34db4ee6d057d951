package engine

import (
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

// fakeSource is a VU's buffer as the pump sees it (vu.Collector's drain).
type fakeSource struct {
	mu  sync.Mutex
	buf []ext.Sample
}

func (f *fakeSource) add(v float64) {
	f.mu.Lock()
	f.buf = append(f.buf, ext.Sample{Value: v})
	f.mu.Unlock()
}

func (f *fakeSource) drain(dst [][]ext.Sample) [][]ext.Sample {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.buf) > 0 {
		dst = append(dst, f.buf)
		f.buf = nil
	}
	return dst
}

// TestPumpDrainsSources: the pump hands on its own samples and every
// source's, each source's in order; Close drains what was buffered
// after the last flush, so nothing is lost at the end of a run; a Kick
// flushes before the period is up.
func TestPumpDrainsSources(t *testing.T) {
	var mu sync.Mutex
	var got []float64
	flushed := make(chan struct{}, 100)
	p := newPump(false, func(b []ext.Sample) {
		mu.Lock()
		for _, s := range b {
			got = append(got, s.Value)
		}
		mu.Unlock()
		select {
		case flushed <- struct{}{}:
		default:
		}
	})
	a, b := &fakeSource{}, &fakeSource{}
	p.Collect(a.drain)
	p.Collect(b.drain)
	for i := 0; i < 1000; i++ {
		a.add(float64(i))
		b.add(float64(10000 + i))
		if i == 500 {
			p.Push(ext.Sample{Value: -1})
			p.Kick()
			select {
			case <-flushed:
			case <-time.After(10 * time.Second):
				t.Fatal("no flush within 10s of a Kick")
			}
		}
	}
	p.Close() // the last 499 of each source were never flushed before
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2001 {
		t.Fatalf("got %d samples, want 2001", len(got))
	}
	nextA, nextB, own := 0, 10000, 0
	for _, v := range got {
		switch {
		case v == -1:
			own++
		case v >= 10000:
			if int(v) != nextB {
				t.Fatalf("source b: %v after %d", v, nextB-1)
			}
			nextB++
		default:
			if int(v) != nextA {
				t.Fatalf("source a: %v after %d", v, nextA-1)
			}
			nextA++
		}
	}
	if own != 1 || nextA != 1000 || nextB != 11000 {
		t.Errorf("own %d, a up to %d, b up to %d", own, nextA, nextB)
	}
}
