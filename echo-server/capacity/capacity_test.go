package capacity

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestUnlimited(t *testing.T) {
	for _, l := range []*Limiter{nil, New(0), New(-1)} {
		for range 100 {
			if err := l.Acquire(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
		}
		l.Release()
		if l.Queued() != 0 {
			t.Fatal("unlimited limiter queued")
		}
	}
}

// TestFIFO: waiters get slots in arrival order.
func TestFIFO(t *testing.T) {
	l := New(1)
	ctx := context.Background()
	if err := l.Acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []int
	var wg sync.WaitGroup
	for i := range 5 {
		queued := make(chan struct{})
		wg.Go(func() {
			err := l.Acquire(ctx, func(q bool) {
				if q {
					close(queued)
				}
			})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			l.Release()
		})
		<-queued // i is in the queue before i+1 arrives
	}
	if got := l.Queued(); got != 5 {
		t.Fatalf("Queued = %d, want 5", got)
	}
	l.Release()
	wg.Wait()
	for i, v := range order {
		if v != i {
			t.Fatalf("order %v, want 0..4", order)
		}
	}
}

// TestCancelLeavesQueue: a waiter whose context ends leaves the queue and
// does not take a slot.
func TestCancelLeavesQueue(t *testing.T) {
	l := New(1)
	if err := l.Acquire(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Acquire(ctx, nil); err == nil {
		t.Fatal("Acquire succeeded with the only slot taken")
	}
	if got := l.Queued(); got != 0 {
		t.Fatalf("Queued = %d after cancel, want 0", got)
	}
	l.Release()
	// The slot is free again: Acquire must not block.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if err := l.Acquire(ctx2, nil); err != nil {
		t.Fatalf("slot lost after a cancelled waiter: %v", err)
	}
}

func TestSlotsBound(t *testing.T) {
	const slots = 3
	l := New(slots)
	var mu sync.Mutex
	cur, peak := 0, 0
	var wg sync.WaitGroup
	for range 30 {
		wg.Go(func() {
			if err := l.Acquire(context.Background(), nil); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			cur++
			peak = max(peak, cur)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			cur--
			mu.Unlock()
			l.Release()
		})
	}
	wg.Wait()
	if peak != slots {
		t.Fatalf("peak concurrency %d, want %d", peak, slots)
	}
}
