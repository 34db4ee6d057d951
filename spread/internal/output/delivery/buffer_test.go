package delivery

import (
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

func TestBufferFlushesPeriodicallyAndAtStop(t *testing.T) {
	var mu sync.Mutex
	var got []int
	b := StartBuffer(20*time.Millisecond, func(s []ext.Sample) {
		mu.Lock()
		got = append(got, len(s))
		mu.Unlock()
	})
	b.Add(make([]ext.Sample, 3))
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, g := range got {
			n += g
		}
		mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("periodic flush never delivered the 3 samples: %v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Add(make([]ext.Sample, 2))
	b.Stop() // the last 2 arrive before Stop returns
	total := 0
	for _, g := range got {
		total += g
	}
	if total != 5 {
		t.Fatalf("flushed %d samples in %v, want 5", total, got)
	}
}
