// Package eventloop is the per-VU event loop: it runs a JS call, then the
// callbacks that Go code (modules, timers) queued back onto the VU's
// goroutine, until nothing the call started is pending — k6's rule for
// when an iteration, the init context, setup or teardown has ended.
//
// goja runs promise jobs (microtasks) itself whenever an outermost call
// returns, so the loop only deals with macrotasks: reservations taken with
// RegisterCallback and the callbacks that redeem them. Unhandled promise
// rejections are tracked with goja's rejection tracker and end the run
// with an *Uncaught error, as k6 does.
//
// This is written here rather than taken from goja_nodejs' eventloop
// because that loop owns its runtime and goroutine, while a VU needs a
// loop it drives itself, one call at a time, with k6's pending-reservation
// rule and a context that can cut a wait short.
package eventloop

import (
	"context"
	"errors"
	"reflect"
	"sync"

	"github.com/dop251/goja"
)

// ErrInterrupted is returned by Run when ctx ended while callbacks were
// still pending.
var ErrInterrupted = errors.New("iteration interrupted")

// Loop is one VU's event loop. RegisterCallback and Run are for the VU's
// goroutine; the functions RegisterCallback returns are safe anywhere.
type Loop struct {
	rt *goja.Runtime

	mu    sync.Mutex
	queue []func() error // callbacks ready to run, in arrival order
	gen   uint64         // bumped by reset: callbacks of an older run are dropped
	wake  chan struct{}  // a callback was queued (capacity 1)

	pending  int             // reservations not yet redeemed and run (VU goroutine only)
	rejected []*goja.Promise // rejected promises nobody handles yet (VU goroutine only)
}

// New returns the loop of rt and installs rt's promise rejection tracker.
func New(rt *goja.Runtime) *Loop {
	l := &Loop{rt: rt, wake: make(chan struct{}, 1)}
	rt.SetPromiseRejectionTracker(l.track)
	return l
}

// track follows goja's reports: a rejection without a handler, then
// maybe a handler attached later (Promise.prototype.catch after the fact).
func (l *Loop) track(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		l.rejected = append(l.rejected, p)
	case goja.PromiseRejectionHandle:
		for i, q := range l.rejected {
			if q == p {
				l.rejected = append(l.rejected[:i], l.rejected[i+1:]...)
				break
			}
		}
	}
}

// RegisterCallback reserves a place on the loop: the current run does not
// end until the returned function has been called (once, from any
// goroutine) with the code to run back on the VU goroutine. An error from
// that code is an uncaught exception that ends the run. Calls after the
// run has ended (interrupted, or an error) are dropped; a second call of
// the same function is ignored.
func (l *Loop) RegisterCallback() func(func() error) {
	l.pending++
	l.mu.Lock()
	gen := l.gen
	l.mu.Unlock()
	var once sync.Once
	return func(f func() error) {
		once.Do(func() {
			l.mu.Lock()
			if l.gen != gen {
				l.mu.Unlock()
				return
			}
			l.queue = append(l.queue, f)
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		})
	}
}

// Idle reports whether nothing is pending and no rejection is unhandled:
// the fast path after a synchronous call that started nothing.
func (l *Loop) Idle() bool { return l.pending == 0 && len(l.rejected) == 0 }

// Wait runs queued callbacks until nothing is pending, after a call that
// returned res. When res is a promise its result is returned once it is
// fulfilled (undefined while still pending at the end, as k6 ends an
// iteration whose promise nothing will settle). It returns the first
// callback error, an *Uncaught for an unhandled rejection, or
// ErrInterrupted when ctx ends first; on any error the loop is reset so
// the next run starts clean.
func (l *Loop) Wait(ctx context.Context, res goja.Value) (goja.Value, error) {
	if err := l.wait(ctx); err != nil {
		l.Reset()
		return nil, err
	}
	if p := promiseOf(res); p != nil {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			return p.Result(), nil
		case goja.PromiseStateRejected:
			// handled by a .catch the script attached to it: not an error
			// of the run, and there is no value.
			return goja.Undefined(), nil
		default:
			return goja.Undefined(), nil
		}
	}
	return res, nil
}

func (l *Loop) wait(ctx context.Context) error {
	for {
		if err := l.takeRejection(); err != nil {
			return err
		}
		if l.pending == 0 {
			return nil
		}
		l.mu.Lock()
		q := l.queue
		l.queue = nil
		l.mu.Unlock()
		if len(q) == 0 {
			select {
			case <-l.wake:
				continue
			case <-ctx.Done():
				return ErrInterrupted
			}
		}
		for _, f := range q {
			l.pending--
			if err := f(); err != nil {
				return err
			}
			if err := l.takeRejection(); err != nil {
				return err
			}
		}
	}
}

// takeRejection turns the first unhandled rejection into an error.
func (l *Loop) takeRejection() error {
	if len(l.rejected) == 0 {
		return nil
	}
	p := l.rejected[0]
	l.rejected = l.rejected[1:]
	return &Uncaught{Value: p.Result()}
}

// Reset drops every pending reservation and queued callback (after an
// error or an interrupt): callbacks that arrive later are ignored.
func (l *Loop) Reset() {
	l.mu.Lock()
	l.gen++
	l.queue = nil
	l.mu.Unlock()
	select {
	case <-l.wake:
	default:
	}
	l.pending = 0
	l.rejected = nil
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// promiseOf returns res as a promise, or nil. ExportType first: Export of
// a plain object would build a map (and a promise's ClassName is "Object").
func promiseOf(res goja.Value) *goja.Promise {
	o, ok := res.(*goja.Object)
	if !ok || o == nil || o.ExportType() != promiseType {
		return nil
	}
	p, _ := o.Export().(*goja.Promise)
	return p
}

// Uncaught is a promise rejection nobody handled.
type Uncaught struct {
	Value goja.Value // the rejection reason
}

func (e *Uncaught) Error() string { return "Uncaught (in promise) " + Describe(e.Value) }

// Describe renders a thrown or rejected JS value: an Error's stack (its
// message and frames, positions already mapped through the source map by
// goja), else the value as a string.
func Describe(v goja.Value) string {
	if v == nil {
		return "undefined"
	}
	if o, ok := v.(*goja.Object); ok && o != nil {
		if s := o.Get("stack"); s != nil && !goja.IsUndefined(s) && !goja.IsNull(s) {
			return s.String()
		}
	}
	return v.String()
}
