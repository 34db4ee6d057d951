// Package connstate keeps what the server knows about one client
// connection (protocol, age, requests served, requests in flight) and
// decides when the connection should be recycled.
package connstate

import (
	"context"
	"sync"
	"time"
)

// Recycle reasons, used as the "reason" label of the recycled metric.
const (
	ReasonRequests = "max_requests"
	ReasonAge      = "max_age"
	ReasonShutdown = "shutdown"
)

// Policy says when a connection has served enough; zero fields disable.
type Policy struct {
	MaxRequests int
	MaxAge      time.Duration
}

// State is one connection's bookkeeping, shared by its concurrent requests.
type State struct {
	// Opened is when the connection was accepted.
	Opened time.Time
	// GoAway, when set, starts a graceful close of the connection; it is
	// for protocols where a response header cannot say "Connection: close"
	// (HTTP/3). It must not block.
	GoAway func()

	mu        sync.Mutex
	proto     string // h1, h2, h3; "" until the first request
	requests  int
	inflight  int
	recycling bool
	idle      chan struct{} // closed when inflight drops to 0 while recycling
}

// New returns the state of a connection accepted at opened.
func New(opened time.Time) *State {
	return &State{Opened: opened, idle: make(chan struct{})}
}

// Begin registers a request starting at now. It returns the request's
// 1-based number on the connection, whether this is the connection's first
// request (so its protocol is now known), and a non-empty reason when this
// request is the one after which the connection must be recycled.
func (s *State) Begin(proto string, now time.Time, p Policy) (n int, first bool, recycle string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.inflight++
	if s.recycling && s.inflight == 1 && isClosed(s.idle) {
		// A request the connection accepted before its GOAWAY started late:
		// the connection is busy again until it ends.
		s.idle = make(chan struct{})
	}
	first = s.proto == ""
	if first {
		s.proto = proto
	}
	if !s.recycling {
		switch {
		case p.MaxRequests > 0 && s.requests >= p.MaxRequests:
			recycle = ReasonRequests
		case p.MaxAge > 0 && now.Sub(s.Opened) >= p.MaxAge:
			recycle = ReasonAge
		}
		s.recycling = recycle != ""
	}
	return s.requests, first, recycle
}

// End registers the end of a request started with Begin.
func (s *State) End() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	s.maybeIdleLocked()
}

// MarkRecycling flags the connection as going away (e.g. on shutdown); it
// reports false if it already was.
func (s *State) MarkRecycling() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recycling {
		return false
	}
	s.recycling = true
	s.maybeIdleLocked()
	return true
}

// Proto returns the label of the connection's protocol, "" before any request.
func (s *State) Proto() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proto
}

// Idle returns a channel closed once the connection is recycling with no
// request in flight. A request that begins after that gets a new channel:
// callers waiting out a linger call Idle again to see whether it changed.
func (s *State) Idle() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

func (s *State) maybeIdleLocked() {
	if s.recycling && s.inflight == 0 && !isClosed(s.idle) {
		close(s.idle)
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

type ctxKey struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *State) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// From returns the State in ctx, or nil.
func From(ctx context.Context) *State {
	s, _ := ctx.Value(ctxKey{}).(*State)
	return s
}
