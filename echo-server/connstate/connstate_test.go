package connstate

import (
	"context"
	"testing"
	"time"
)

func TestBeginRecycle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name   string
		policy Policy
		at     []time.Duration // request start times after t0
		want   []string        // recycle reason per request
	}{
		{"no policy", Policy{}, []time.Duration{0, 1, 2}, []string{"", "", ""}},
		{"max requests 2", Policy{MaxRequests: 2}, []time.Duration{0, 1, 2}, []string{"", ReasonRequests, ""}},
		{"max requests 1", Policy{MaxRequests: 1}, []time.Duration{0, 1}, []string{ReasonRequests, ""}},
		{"max age", Policy{MaxAge: time.Second}, []time.Duration{0, 999 * time.Millisecond, time.Second, 2 * time.Second}, []string{"", "", ReasonAge, ""}},
		{"requests first", Policy{MaxRequests: 1, MaxAge: time.Nanosecond}, []time.Duration{time.Second}, []string{ReasonRequests}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(t0)
			for i, at := range tc.at {
				n, first, reason := s.Begin("h2", t0.Add(at), tc.policy)
				s.End()
				if n != i+1 || first != (i == 0) || reason != tc.want[i] {
					t.Errorf("request %d: n=%d first=%v reason=%q; want %d %v %q", i, n, first, reason, i+1, i == 0, tc.want[i])
				}
			}
			if s.Proto() != "h2" {
				t.Errorf("Proto = %q", s.Proto())
			}
		})
	}
}

func TestIdleAfterRecycle(t *testing.T) {
	s := New(time.Now())
	s.Begin("h3", time.Now(), Policy{})
	s.Begin("h3", time.Now(), Policy{})
	if !s.MarkRecycling() || s.MarkRecycling() {
		t.Fatal("MarkRecycling should report true once")
	}
	s.End()
	select {
	case <-s.Idle():
		t.Fatal("idle with a request in flight")
	default:
	}
	s.End()
	select {
	case <-s.Idle():
	case <-time.After(time.Second):
		t.Fatal("not idle after the last request")
	}
}

func TestIdleRearmsForLateRequest(t *testing.T) {
	s := New(time.Now())
	s.Begin("h3", time.Now(), Policy{MaxRequests: 1}) // recycles at once
	s.End()
	first := s.Idle()
	select {
	case <-first:
	default:
		t.Fatal("not idle after the recycling request ended")
	}
	// A stream accepted before the GOAWAY whose handler starts late.
	s.Begin("h3", time.Now(), Policy{MaxRequests: 1})
	busy := s.Idle()
	if busy == first {
		t.Fatal("Idle did not change when a request began after it")
	}
	select {
	case <-busy:
		t.Fatal("idle with a request in flight")
	default:
	}
	s.End()
	select {
	case <-busy:
	default:
		t.Fatal("not idle after the late request ended")
	}
}

func TestContext(t *testing.T) {
	if From(context.Background()) != nil {
		t.Fatal("state from empty context")
	}
	s := New(time.Now())
	if From(With(context.Background(), s)) != s {
		t.Fatal("state lost in context")
	}
}
