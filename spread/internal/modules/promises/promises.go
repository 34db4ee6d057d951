// Package promises settles the promises that module functions return
// (crypto.subtle, k6/experimental/fs, k6/experimental/csv) through the
// VU's event loop.
package promises

import (
	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

// callbackRegistrar is the event-loop seam (PROTOCOL: ext.VU gains
// RegisterCallback). Asserting it rather than calling it through ext.VU
// lets this package build before and after the seam lands: with it the
// work runs off the VU goroutine and the promise settles on the loop;
// without it the promise settles before New returns.
type callbackRegistrar interface {
	RegisterCallback() func(func() error)
}

// Settle turns the result of work into a JS value on the VU goroutine.
type Settle func(rt *goja.Runtime) (goja.Value, error)

// New returns a promise settled by work. work runs on another goroutine
// when the VU has an event loop, so it must not touch the runtime: it
// returns a Settle that does, on the VU goroutine. A non-nil error from
// work or from Settle rejects the promise; errors that implement
// interface{ JSValue(*goja.Runtime) goja.Value } reject with that value
// (e.g. a DOMException-like object), others with a JS Error.
func New(vu ext.VU, work func() (Settle, error)) *goja.Promise {
	rt := vu.Runtime()
	p, resolve, reject := rt.NewPromise()
	settle := func(s Settle, err error) {
		if err == nil && s != nil {
			var v goja.Value
			v, err = s(rt)
			if err == nil {
				_ = resolve(v)
				return
			}
		} else if err == nil {
			_ = resolve(goja.Undefined())
			return
		}
		_ = reject(ErrorValue(rt, err))
	}
	if cr, ok := vu.(callbackRegistrar); ok {
		done := cr.RegisterCallback()
		go func() {
			s, err := work()
			done(func() error { settle(s, err); return nil })
		}()
		return p
	}
	settle(work())
	return p
}

// Resolved returns a promise already settled by work, run on the VU
// goroutine: for cheap operations that need the runtime.
func Resolved(vu ext.VU, s Settle) *goja.Promise {
	rt := vu.Runtime()
	p, resolve, reject := rt.NewPromise()
	v, err := s(rt)
	if err != nil {
		_ = reject(ErrorValue(rt, err))
	} else {
		_ = resolve(v)
	}
	return p
}

// ErrorValue is the JS value a promise is rejected with for err.
func ErrorValue(rt *goja.Runtime, err error) goja.Value {
	if jv, ok := err.(interface {
		JSValue(*goja.Runtime) goja.Value
	}); ok {
		return jv.JSValue(rt)
	}
	return rt.NewGoError(err)
}
