package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliversAndRetries(t *testing.T) {
	var calls atomic.Int64
	s := New(Config{Concurrency: 2, Backoff: time.Millisecond}, func(ctx context.Context, b Batch) error {
		if calls.Add(1)%2 == 1 {
			return errors.New("flaky") // every batch fails once, then goes through
		}
		return nil
	})
	for range 10 {
		s.Enqueue(Batch{Size: 5})
	}
	r := s.Close(5 * time.Second)
	if r.Delivered+r.Undelivered != 50 || r.Undelivered > 5 {
		t.Fatalf("report %+v", r)
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int64
	s := New(Config{Concurrency: 1}, func(ctx context.Context, b Batch) error {
		calls.Add(1)
		return &PermanentError{errors.New("400 bad line")}
	})
	s.Enqueue(Batch{Size: 3})
	r := s.Close(5 * time.Second)
	if calls.Load() != 1 || r.Undelivered != 3 || r.LastError == nil {
		t.Fatalf("calls %d report %+v", calls.Load(), r)
	}
}

// A store that never answers: Enqueue stays instant, the queue is
// bounded, tries are bounded by the timeout, Close by its grace, and
// everything is counted as undelivered.
func TestSlowStoreNeverBlocks(t *testing.T) {
	var calls atomic.Int64
	s := New(Config{Concurrency: 2, Attempts: 2, Timeout: 50 * time.Millisecond, Backoff: time.Millisecond, MaxQueued: 4},
		func(ctx context.Context, b Batch) error {
			calls.Add(1)
			<-ctx.Done()
			return ctx.Err()
		})
	start := time.Now()
	for range 100 {
		s.Enqueue(Batch{Size: 1})
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("100 Enqueue calls took %s", d)
	}
	r := s.Close(300 * time.Millisecond)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	if r.Delivered != 0 || r.Undelivered != 100 || r.LastError == nil {
		t.Fatalf("report %+v", r)
	}
	if n := calls.Load(); n > 20 {
		t.Errorf("%d tries for a store that never answers; retries must be bounded", n)
	}
	if s := r.String(); s == "" {
		t.Error("empty report line")
	}
}
