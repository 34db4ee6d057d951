// Package jsbytes converts the binary-ish values k6 modules accept
// (strings, ArrayBuffer, typed arrays, DataView, arrays of numbers) to Go
// bytes, and settles promises for the modules that return them. It is
// shared by k6/encoding, k6/crypto, the crypto global and k6/experimental/fs
// so they agree on what "string or ArrayBuffer" means.
package jsbytes

import (
	"errors"
	"fmt"

	"github.com/dop251/goja"
)

// ErrNotBinary is returned for values that carry no bytes (objects, numbers).
var ErrNotBinary = errors.New("expected a string, ArrayBuffer, TypedArray or DataView")

// Bytes returns the bytes of v: a string as UTF-8, the contents of an
// ArrayBuffer / TypedArray / DataView, or an array of byte values. The
// slice may alias the JS buffer: copy it before keeping it past the call.
func Bytes(rt *goja.Runtime, v goja.Value) ([]byte, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, ErrNotBinary
	}
	switch x := v.Export().(type) {
	case string:
		return []byte(x), nil
	case goja.ArrayBuffer:
		return x.Bytes(), nil
	case *goja.ArrayBuffer:
		return x.Bytes(), nil
	case []any:
		out := make([]byte, len(x))
		for i, e := range x {
			n, ok := e.(int64)
			if !ok {
				if f, fok := e.(float64); fok {
					n, ok = int64(f), true
				}
			}
			if !ok || n < 0 || n > 255 {
				return nil, fmt.Errorf("array element %d is not a byte value (0-255)", i)
			}
			out[i] = byte(n)
		}
		return out, nil
	}
	if o, ok := v.(*goja.Object); ok {
		// goja exports typed arrays and DataViews to []byte as a view of
		// their buffer; ArrayBuffer.isView tells them from plain objects.
		if isView(rt, o) {
			var b []byte
			if err := rt.ExportTo(v, &b); err == nil {
				return b, nil
			}
		}
	}
	if _, isObj := v.(*goja.Object); !isObj {
		// numbers, booleans: k6 hashes their string form.
		return []byte(v.String()), nil
	}
	return nil, ErrNotBinary
}

// Copy is Bytes with a copy the caller owns.
func Copy(rt *goja.Runtime, v goja.Value) ([]byte, error) {
	b, err := Bytes(rt, v)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// ArrayBuffer returns a new ArrayBuffer holding b (not copied).
func ArrayBuffer(rt *goja.Runtime, b []byte) goja.Value {
	return rt.ToValue(rt.NewArrayBuffer(b))
}

// isView is ArrayBuffer.isView(o).
func isView(rt *goja.Runtime, o *goja.Object) bool {
	ab := rt.Get("ArrayBuffer")
	if ab == nil {
		return false
	}
	fn, ok := goja.AssertFunction(ab.ToObject(rt).Get("isView"))
	if !ok {
		return false
	}
	r, err := fn(ab, o)
	return err == nil && r.ToBoolean()
}
