// Package delivery sends an output's batches to a remote store without ever
// holding the test up: batches queue in bounded memory, at most N are in
// flight at once, each is tried a bounded number of times with a timeout,
// and what could not be delivered (store down, too slow, queue full) is
// counted and reported when the run ends. The InfluxDB and OpenTelemetry
// outputs share it; no library does this small job for arbitrary batches.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Batch is one request's worth of data: Size is what it counts for in the
// report (samples, points).
type Batch struct {
	Data any
	Size int
}

// SendFunc delivers one batch; an error makes it retried.
type SendFunc func(ctx context.Context, b Batch) error

// Config bounds the work of a Sender.
type Config struct {
	Name        string        // "influxdb", for messages
	Concurrency int           // batches in flight at once (k6's CONCURRENT_WRITES); default 4
	Attempts    int           // tries per batch, default 3
	Timeout     time.Duration // per try, default 5s
	Backoff     time.Duration // before the second try, doubled after; default 200ms
	MaxQueued   int           // batches waiting for a slot before the oldest is dropped; default 64
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Backoff <= 0 {
		c.Backoff = 200 * time.Millisecond
	}
	if c.MaxQueued <= 0 {
		c.MaxQueued = 64
	}
}

// Sender owns the worker goroutines; Close ends them.
type Sender struct {
	cfg  Config
	send SendFunc

	mu        sync.Mutex
	cond      *sync.Cond
	queue     []Batch
	closed    bool
	delivered int64
	lost      int64
	batches   int64 // batches given up on
	lastErr   error

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts a Sender with cfg.Concurrency workers.
func New(cfg Config, send SendFunc) *Sender {
	cfg.defaults()
	s := &Sender{cfg: cfg, send: send}
	s.cond = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range cfg.Concurrency {
		s.wg.Add(1)
		go s.worker()
	}
	return s
}

// Enqueue queues a batch and returns at once. When the queue is full (the
// store is slower than the test) the oldest batch is dropped and counted:
// memory stays bounded and the test never waits.
func (s *Sender) Enqueue(b Batch) {
	if b.Size == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.lost += int64(b.Size)
		s.batches++
		return
	}
	if len(s.queue) >= s.cfg.MaxQueued {
		s.lost += int64(s.queue[0].Size)
		s.batches++
		s.lastErr = errors.New("queue full: the store is slower than the test")
		s.queue = s.queue[1:]
	}
	s.queue = append(s.queue, b)
	s.cond.Signal()
}

func (s *Sender) worker() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.cond.Wait()
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		b := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		err := s.deliver(b)
		s.mu.Lock()
		if err != nil {
			s.lost += int64(b.Size)
			s.batches++
			s.lastErr = err
		} else {
			s.delivered += int64(b.Size)
		}
		s.mu.Unlock()
	}
}

// deliver tries a batch up to Attempts times, each bounded by Timeout.
func (s *Sender) deliver(b Batch) error {
	var err error
	wait := s.cfg.Backoff
	for i := 0; i < s.cfg.Attempts; i++ {
		if i > 0 {
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				return fmt.Errorf("%w (gave up at the end of the run)", err)
			}
			wait *= 2
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
		err = s.send(ctx, b)
		cancel()
		if err == nil {
			return nil
		}
		var perm *PermanentError
		if errors.As(err, &perm) || s.ctx.Err() != nil {
			return err
		}
	}
	return err
}

// PermanentError marks a failure that a retry cannot fix (a 400: the store
// refuses the data itself).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Report is what a Sender delivered and lost.
type Report struct {
	Delivered, Undelivered int64
	FailedBatches          int64
	LastError              error
}

// String is the end-of-run line.
func (r Report) String() string {
	if r.Undelivered == 0 {
		return fmt.Sprintf("%d delivered", r.Delivered)
	}
	return fmt.Sprintf("%d delivered, %d NOT delivered in %d batches (last error: %v)", r.Delivered, r.Undelivered, r.FailedBatches, r.LastError)
}

// Close lets the queued batches go out for at most grace, then cancels
// what is still in flight, stops the workers and reports.
func (s *Sender) Close(grace time.Duration) Report {
	s.mu.Lock()
	s.closed = true
	s.cond.Broadcast()
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.cancel()
		<-done
	}
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.queue { // left when the workers were cut short
		s.lost += int64(b.Size)
		s.batches++
	}
	s.queue = nil
	return Report{Delivered: s.delivered, Undelivered: s.lost, FailedBatches: s.batches, LastError: s.lastErr}
}
