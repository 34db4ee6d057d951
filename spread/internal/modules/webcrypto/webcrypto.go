// Package webcrypto is the `crypto` global k6 scripts use (Web Crypto API
// as k6 documents it): getRandomValues, randomUUID and crypto.subtle
// (digest; HMAC, ECDSA, RSASSA-PKCS1-v1_5, RSA-PSS and Ed25519 sign/verify;
// AES-CBC/CTR/GCM and RSA-OAEP encrypt/decrypt; ECDH, PBKDF2 and HKDF
// deriveBits/deriveKey; AES-KW (and any encrypt algorithm) wrapKey/unwrapKey;
// generateKey, importKey and exportKey in raw, jwk, spki and pkcs8), on
// Go's crypto packages. The same object is the `crypto` export of
// k6/experimental/webcrypto, which older k6 scripts import.
//
// subtle methods return promises: arguments are read and copied on the
// VU goroutine, the cryptography runs off it, and the promise settles on
// the VU's event loop (package promises).
package webcrypto

import (
	"crypto/rand"

	"github.com/dop251/goja"
	"github.com/google/uuid"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
	"spread.dev/spread/internal/modules/promises"
)

func init() { ext.Register("k6/experimental/webcrypto", module{}) }

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return instance{vu: vu} }

type instance struct{ vu ext.VU }

func (i instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{"crypto": New(i.vu)}}
}

// Names are the globals this package provides (package globals).
var Names = []string{"crypto"}

// Globals builds the `crypto` global for vu (package globals installs it).
func Globals(vu ext.VU) map[string]any { return map[string]any{"crypto": New(vu)} }

// Install sets the `crypto` global of vu's runtime.
func Install(vu ext.VU) error {
	return vu.Runtime().Set("crypto", New(vu))
}

// New returns a `crypto` object for vu.
func New(vu ext.VU) *goja.Object {
	rt := vu.Runtime()
	c := rt.NewObject()
	_ = c.Set("getRandomValues", func(v goja.Value) goja.Value { return getRandomValues(rt, v) })
	_ = c.Set("randomUUID", func() string { return uuid.NewString() })
	_ = c.Set("subtle", newSubtle(vu))
	return c
}

// getRandomValues fills an integer typed array in place and returns it.
func getRandomValues(rt *goja.Runtime, v goja.Value) goja.Value {
	o, ok := v.(*goja.Object)
	if !ok {
		panic(rt.NewTypeError("getRandomValues: expected an integer TypedArray"))
	}
	switch ctorName(o) {
	case "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
		"Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array":
	default:
		// TypeMismatchError in the spec; Float arrays and others land here.
		panic(domValue(rt, "TypeMismatchError", "getRandomValues: expected an integer TypedArray, not "+ctorName(o)))
	}
	b, err := jsbytes.Bytes(rt, v)
	if err != nil {
		panic(rt.NewTypeError("getRandomValues: %v", err))
	}
	if len(b) > 65536 {
		panic(domValue(rt, "QuotaExceededError", "getRandomValues: at most 65536 bytes at a time"))
	}
	_, _ = rand.Read(b)
	return v
}

func ctorName(o *goja.Object) string {
	c, ok := o.Get("constructor").(*goja.Object)
	if !ok {
		return "Object"
	}
	return c.Get("name").String()
}

func domValue(rt *goja.Runtime, name, msg string) goja.Value {
	return (&domError{Name: name, Msg: msg}).JSValue(rt)
}

// subtle is crypto.subtle.
type subtleAPI struct {
	vu ext.VU
	rt *goja.Runtime
}

func newSubtle(vu ext.VU) *goja.Object {
	s := &subtleAPI{vu: vu, rt: vu.Runtime()}
	o := s.rt.NewObject()
	for name, fn := range map[string]func(goja.FunctionCall) (func() (promises.Settle, error), error){
		"digest":      s.digest,
		"generateKey": s.generateKey,
		"importKey":   s.importKey,
		"exportKey":   s.exportKey,
		"sign":        s.sign,
		"verify":      s.verify,
		"encrypt":     s.encrypt,
		"decrypt":     s.decrypt,
		"deriveBits":  s.deriveBits,
		"deriveKey":   s.deriveKey,
		"wrapKey":     s.wrapKey,
		"unwrapKey":   s.unwrapKey,
	} {
		fn := fn
		_ = o.Set(name, func(call goja.FunctionCall) goja.Value {
			// Argument errors reject too (the spec's promise-returning
			// methods never throw synchronously).
			work, err := fn(call)
			if err != nil {
				return s.rt.ToValue(promises.New(s.vu, func() (promises.Settle, error) { return nil, err }))
			}
			return s.rt.ToValue(promises.New(s.vu, work))
		})
	}
	return o
}

func bufferResult(b []byte) promises.Settle {
	return func(rt *goja.Runtime) (goja.Value, error) { return jsbytes.ArrayBuffer(rt, b), nil }
}

// bytesWork wraps an operation producing bytes.
func bytesWork(f func() ([]byte, error)) func() (promises.Settle, error) {
	return func() (promises.Settle, error) {
		b, err := f()
		if err != nil {
			return nil, err
		}
		return bufferResult(b), nil
	}
}

func (s *subtleAPI) digest(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, err := readParams(s.rt, c.Argument(0))
	if err != nil {
		return nil, err
	}
	data, err := readBytes(s.rt, c.Argument(1), "digest data")
	if err != nil {
		return nil, err
	}
	return bytesWork(func() ([]byte, error) { return digest(p.name, data) }), nil
}

func (s *subtleAPI) keyArg(v goja.Value) (*key, error) {
	k, ok := keyOf(v)
	if !ok {
		return nil, typeErr("expected a CryptoKey")
	}
	return k, nil
}

func (s *subtleAPI) generateKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, err := readParams(s.rt, c.Argument(0))
	if err != nil {
		return nil, err
	}
	extractable := c.Argument(1).ToBoolean()
	usages, err := readUsages(s.rt, c.Argument(2))
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		a, b, err := generate(p, extractable, usages)
		if err != nil {
			return nil, err
		}
		return func(rt *goja.Runtime) (goja.Value, error) {
			if b == nil {
				return jsKey(rt, a), nil
			}
			pair := rt.NewObject()
			_ = pair.Set("publicKey", jsKey(rt, a))
			_ = pair.Set("privateKey", jsKey(rt, b))
			return pair, nil
		}, nil
	}, nil
}

func (s *subtleAPI) importKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	format := c.Argument(0).String()
	var kd keyData
	if format == "jwk" {
		o, ok := c.Argument(1).(*goja.Object)
		if !ok {
			return nil, typeErr("jwk import needs a JSON Web Key object")
		}
		m, ok := o.Export().(map[string]any)
		if !ok {
			return nil, typeErr("jwk import needs a JSON Web Key object")
		}
		kd.jwk = m
	} else {
		b, err := readBytes(s.rt, c.Argument(1), "keyData")
		if err != nil {
			return nil, err
		}
		kd.raw = b
	}
	p, err := readParams(s.rt, c.Argument(2))
	if err != nil {
		return nil, err
	}
	extractable := c.Argument(3).ToBoolean()
	usages, err := readUsages(s.rt, c.Argument(4))
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		k, err := importKey(format, kd, p, extractable, usages)
		if err != nil {
			return nil, err
		}
		return func(rt *goja.Runtime) (goja.Value, error) { return jsKey(rt, k), nil }, nil
	}, nil
}

func (s *subtleAPI) exportKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	format := c.Argument(0).String()
	k, err := s.keyArg(c.Argument(1))
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		b, m, err := exportKey(format, k)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return func(rt *goja.Runtime) (goja.Value, error) {
				// a plain JS object (not a Go map wrapper), as JSON.stringify
				// and spreading expect.
				return rt.ToValue(m).ToObject(rt), nil
			}, nil
		}
		return bufferResult(b), nil
	}, nil
}

// algKeyData reads the (algorithm, key, data...) arguments of the
// sign/verify/encrypt/decrypt family.
func (s *subtleAPI) algKeyData(c goja.FunctionCall, n int) (*params, *key, [][]byte, error) {
	p, err := readParams(s.rt, c.Argument(0))
	if err != nil {
		return nil, nil, nil, err
	}
	k, err := s.keyArg(c.Argument(1))
	if err != nil {
		return nil, nil, nil, err
	}
	var bufs [][]byte
	for j := 0; j < n; j++ {
		b, err := readBytes(s.rt, c.Argument(2+j), "data")
		if err != nil {
			return nil, nil, nil, err
		}
		bufs = append(bufs, b)
	}
	return p, k, bufs, nil
}

func (s *subtleAPI) sign(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, k, b, err := s.algKeyData(c, 1)
	if err != nil {
		return nil, err
	}
	return bytesWork(func() ([]byte, error) { return sign(p, k, b[0]) }), nil
}

func (s *subtleAPI) verify(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, k, b, err := s.algKeyData(c, 2)
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		ok, err := verify(p, k, b[0], b[1])
		if err != nil {
			return nil, err
		}
		return func(rt *goja.Runtime) (goja.Value, error) { return rt.ToValue(ok), nil }, nil
	}, nil
}

func (s *subtleAPI) encrypt(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, k, b, err := s.algKeyData(c, 1)
	if err != nil {
		return nil, err
	}
	return bytesWork(func() ([]byte, error) { return encrypt(p, k, b[0]) }), nil
}

func (s *subtleAPI) decrypt(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, k, b, err := s.algKeyData(c, 1)
	if err != nil {
		return nil, err
	}
	return bytesWork(func() ([]byte, error) { return decrypt(p, k, b[0]) }), nil
}

func (s *subtleAPI) deriveBits(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, err := readParams(s.rt, c.Argument(0))
	if err != nil {
		return nil, err
	}
	k, err := s.keyArg(c.Argument(1))
	if err != nil {
		return nil, err
	}
	lv := c.Argument(2)
	length, has := 0, !isNullish(lv)
	if has {
		length = int(lv.ToInteger())
	}
	return bytesWork(func() ([]byte, error) { return deriveBits(p, k, length, has, "deriveBits") }), nil
}

func keyResult(k *key) promises.Settle {
	return func(rt *goja.Runtime) (goja.Value, error) { return jsKey(rt, k), nil }
}

// deriveKey(algorithm, baseKey, derivedKeyType, extractable, keyUsages).
func (s *subtleAPI) deriveKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	p, err := readParams(s.rt, c.Argument(0))
	if err != nil {
		return nil, err
	}
	base, err := s.keyArg(c.Argument(1))
	if err != nil {
		return nil, err
	}
	derived, err := readParams(s.rt, c.Argument(2))
	if err != nil {
		return nil, err
	}
	extractable := c.Argument(3).ToBoolean()
	usages, err := readUsages(s.rt, c.Argument(4))
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		k, err := deriveKey(p, base, derived, extractable, usages)
		if err != nil {
			return nil, err
		}
		return keyResult(k), nil
	}, nil
}

// wrapKey(format, key, wrappingKey, wrapAlgorithm).
func (s *subtleAPI) wrapKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	format := c.Argument(0).String()
	k, err := s.keyArg(c.Argument(1))
	if err != nil {
		return nil, err
	}
	wk, err := s.keyArg(c.Argument(2))
	if err != nil {
		return nil, err
	}
	p, err := readParams(s.rt, c.Argument(3))
	if err != nil {
		return nil, err
	}
	return bytesWork(func() ([]byte, error) { return wrapKey(format, k, wk, p) }), nil
}

// unwrapKey(format, wrappedKey, unwrappingKey, unwrapAlgorithm,
// unwrappedKeyAlgorithm, extractable, keyUsages).
func (s *subtleAPI) unwrapKey(c goja.FunctionCall) (func() (promises.Settle, error), error) {
	format := c.Argument(0).String()
	wrapped, err := readBytes(s.rt, c.Argument(1), "wrappedKey")
	if err != nil {
		return nil, err
	}
	uk, err := s.keyArg(c.Argument(2))
	if err != nil {
		return nil, err
	}
	p, err := readParams(s.rt, c.Argument(3))
	if err != nil {
		return nil, err
	}
	target, err := readParams(s.rt, c.Argument(4))
	if err != nil {
		return nil, err
	}
	extractable := c.Argument(5).ToBoolean()
	usages, err := readUsages(s.rt, c.Argument(6))
	if err != nil {
		return nil, err
	}
	return func() (promises.Settle, error) {
		k, err := unwrapKey(format, wrapped, uk, p, target, extractable, usages)
		if err != nil {
			return nil, err
		}
		return keyResult(k), nil
	}, nil
}
