// Package capacity limits how many requests do their work at once; the rest
// wait in first-come, first-served order, like requests queued in front of
// a saturated, CPU-limited pod.
package capacity

import (
	"container/list"
	"context"
	"sync"
)

// Limiter hands out at most N slots; waiters are served in FIFO order.
// A nil *Limiter or one with N <= 0 never blocks.
type Limiter struct {
	mu      sync.Mutex
	slots   int
	inUse   int
	waiters list.List // of chan struct{}, closed when the waiter owns a slot
}

// New returns a limiter with n slots (n <= 0: unlimited).
func New(n int) *Limiter { return &Limiter{slots: n} }

// Acquire waits for a slot in FIFO order; it reports whether it had to
// queue. On ctx's end it leaves the queue and returns ctx's error.
func (l *Limiter) Acquire(ctx context.Context, onQueued func(queued bool)) error {
	if l == nil || l.slots <= 0 {
		return nil
	}
	l.mu.Lock()
	if l.inUse < l.slots && l.waiters.Len() == 0 {
		l.inUse++
		l.mu.Unlock()
		return nil
	}
	ready := make(chan struct{})
	elem := l.waiters.PushBack(ready)
	l.mu.Unlock()
	if onQueued != nil {
		onQueued(true)
		defer onQueued(false)
	}
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-ready:
			// Release handed us the slot as we gave up: pass it on.
			l.releaseLocked()
		default:
			l.waiters.Remove(elem)
		}
		return ctx.Err()
	}
}

// Release returns a slot taken by a successful Acquire.
func (l *Limiter) Release() {
	if l == nil || l.slots <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked()
}

// releaseLocked gives the slot to the oldest waiter, or frees it.
func (l *Limiter) releaseLocked() {
	if front := l.waiters.Front(); front != nil {
		l.waiters.Remove(front)
		close(front.Value.(chan struct{}))
		return
	}
	l.inUse--
}

// Queued reports how many requests wait for a slot.
func (l *Limiter) Queued() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiters.Len()
}
