package k6websockets

import (
	"github.com/dop251/goja"

	"spread.dev/spread/internal/modules/jsbytes"
	"spread.dev/spread/internal/modules/promises"
)

// blobKey holds a Blob object's bytes, out of the script's sight.
var blobKey = goja.NewSymbol("spread.blob")

type blob struct {
	data []byte
	typ  string
}

// blobBytes returns the bytes of a Blob made by this module.
func blobBytes(v goja.Value) ([]byte, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	v = o.GetSymbol(blobKey)
	if v == nil {
		return nil, false
	}
	b, ok := v.Export().(*blob)
	if !ok {
		return nil, false
	}
	return b.data, true
}

// blobConstructor is `new Blob(parts, {type})`: parts are strings (UTF-8),
// ArrayBuffers, typed arrays, DataViews or Blobs.
func (in *instance) blobConstructor() goja.Value {
	rt := in.vu.Runtime()
	return rt.ToValue(func(call goja.ConstructorCall) *goja.Object {
		var data []byte
		if pv := call.Argument(0); !goja.IsUndefined(pv) && !goja.IsNull(pv) {
			po, ok := pv.(*goja.Object)
			if !ok {
				panic(rt.NewTypeError("Blob: the parts must be an array"))
			}
			for _, k := range po.Keys() {
				part := po.Get(k)
				if b, ok := blobBytes(part); ok {
					data = append(data, b...)
					continue
				}
				b, err := jsbytes.Bytes(rt, part)
				if err != nil {
					panic(rt.NewTypeError("Blob: part " + k + ": " + err.Error()))
				}
				data = append(data, b...)
			}
		}
		typ := ""
		if ov, ok := call.Argument(1).(*goja.Object); ok {
			if t := ov.Get("type"); t != nil && !goja.IsUndefined(t) {
				typ = t.String()
			}
		}
		in.fillBlob(call.This, data, typ)
		return nil
	})
}

// newBlob returns a Blob holding data (not copied).
func (in *instance) newBlob(data []byte, typ string) goja.Value {
	o := in.vu.Runtime().NewObject()
	in.fillBlob(o, data, typ)
	return o
}

func (in *instance) fillBlob(o *goja.Object, data []byte, typ string) {
	rt := in.vu.Runtime()
	b := &blob{data: data, typ: typ}
	_ = o.SetSymbol(blobKey, rt.ToValue(b))
	_ = o.DefineDataProperty("size", rt.ToValue(len(data)), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	_ = o.DefineDataProperty("type", rt.ToValue(typ), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	settled := func(v func(*goja.Runtime) (goja.Value, error)) func() *goja.Promise {
		return func() *goja.Promise { return promises.Resolved(in.vu, v) }
	}
	_ = o.Set("arrayBuffer", settled(func(rt *goja.Runtime) (goja.Value, error) {
		return jsbytes.ArrayBuffer(rt, append([]byte(nil), b.data...)), nil
	}))
	_ = o.Set("text", settled(func(rt *goja.Runtime) (goja.Value, error) { return rt.ToValue(string(b.data)), nil }))
	_ = o.Set("bytes", settled(func(rt *goja.Runtime) (goja.Value, error) {
		return rt.New(rt.Get("Uint8Array"), jsbytes.ArrayBuffer(rt, append([]byte(nil), b.data...)))
	}))
	_ = o.Set("slice", func(call goja.FunctionCall) goja.Value {
		n := int64(len(b.data))
		clamp := func(v goja.Value, def int64) int64 {
			if goja.IsUndefined(v) {
				return def
			}
			i := v.ToInteger()
			if i < 0 {
				i += n
			}
			return max(0, min(i, n))
		}
		start, end := clamp(call.Argument(0), 0), clamp(call.Argument(1), n)
		if end < start {
			end = start
		}
		t := ""
		if a := call.Argument(2); !goja.IsUndefined(a) {
			t = a.String()
		}
		return in.newBlob(b.data[start:end], t)
	})
}
