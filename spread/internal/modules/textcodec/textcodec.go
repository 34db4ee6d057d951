// Package textcodec is the TextEncoder and TextDecoder globals (WHATWG
// Encoding API) for k6 scripts: TextEncoder encodes to UTF-8;
// TextDecoder decodes utf-8, utf-16le and utf-16be, with the fatal,
// ignoreBOM and stream options.
package textcodec

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
)

// labels maps the WHATWG labels of the supported encodings to their name.
var labels = map[string]string{
	"utf-8": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8", "unicode11utf8": "utf-8",
	"unicode20utf8": "utf-8", "x-unicode20utf8": "utf-8",
	"utf-16le": "utf-16le", "utf-16": "utf-16le", "ucs-2": "utf-16le", "unicode": "utf-16le",
	"csunicode": "utf-16le", "iso-10646-ucs-2": "utf-16le", "unicodefeff": "utf-16le",
	"utf-16be": "utf-16be", "unicodefffe": "utf-16be",
}

// Names are the globals this package provides (package globals).
var Names = []string{"TextEncoder", "TextDecoder"}

// Globals builds TextEncoder and TextDecoder for vu (package globals
// installs them).
func Globals(vu ext.VU) map[string]any {
	rt := vu.Runtime()
	return map[string]any{"TextEncoder": encoderCtor(rt), "TextDecoder": decoderCtor(rt)}
}

// Install defines TextEncoder and TextDecoder on rt's global object.
func Install(rt *goja.Runtime) error {
	if err := rt.Set("TextEncoder", encoderCtor(rt)); err != nil {
		return err
	}
	return rt.Set("TextDecoder", decoderCtor(rt))
}

func encoderCtor(rt *goja.Runtime) func(goja.ConstructorCall) *goja.Object {
	return func(call goja.ConstructorCall) *goja.Object {
		o := call.This
		_ = o.DefineDataProperty("encoding", rt.ToValue("utf-8"), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
		_ = o.Set("encode", func(v goja.Value) goja.Value {
			s := ""
			if v != nil && !goja.IsUndefined(v) {
				s = v.String() // lone surrogates become U+FFFD, as USVString conversion does
			}
			return uint8Array(rt, []byte(s))
		})
		_ = o.Set("encodeInto", func(src goja.Value, dst goja.Value) goja.Value {
			buf, err := jsbytes.Bytes(rt, dst)
			if err != nil {
				panic(rt.NewTypeError("encodeInto: the destination must be a Uint8Array"))
			}
			read, written := 0, 0
			for _, r := range src.String() {
				n := utf8.RuneLen(r)
				if n < 0 {
					r, n = utf8.RuneError, 3
				}
				if written+n > len(buf) {
					break
				}
				utf8.EncodeRune(buf[written:], r)
				written += n
				read += utf16.RuneLen(r)
			}
			res := rt.NewObject()
			_ = res.Set("read", read)
			_ = res.Set("written", written)
			return res
		})
		return nil
	}
}

func uint8Array(rt *goja.Runtime, b []byte) goja.Value {
	v, err := rt.New(rt.Get("Uint8Array"), rt.ToValue(rt.NewArrayBuffer(b)))
	if err != nil {
		panic(err)
	}
	return v
}

// decoder is one TextDecoder's state (the bytes of an unfinished
// character kept between stream calls).
type decoder struct {
	enc       string
	fatal     bool
	ignoreBOM bool
	pending   []byte
	bomSeen   bool
}

func decoderCtor(rt *goja.Runtime) func(goja.ConstructorCall) *goja.Object {
	return func(call goja.ConstructorCall) *goja.Object {
		label := "utf-8"
		if v := call.Argument(0); !goja.IsUndefined(v) {
			label = strings.ToLower(strings.TrimSpace(v.String()))
		}
		enc, ok := labels[label]
		if !ok {
			ctor, _ := goja.AssertConstructor(rt.Get("RangeError"))
			e, _ := ctor(nil, rt.ToValue("TextDecoder: the encoding "+label+" is not supported (utf-8, utf-16le, utf-16be)"))
			panic(e)
		}
		d := &decoder{enc: enc}
		if opts, ok := call.Argument(1).(*goja.Object); ok {
			d.fatal = opts.Get("fatal") != nil && opts.Get("fatal").ToBoolean()
			d.ignoreBOM = opts.Get("ignoreBOM") != nil && opts.Get("ignoreBOM").ToBoolean()
		}
		o := call.This
		ro := func(k string, v any) {
			_ = o.DefineDataProperty(k, rt.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
		}
		ro("encoding", enc)
		ro("fatal", d.fatal)
		ro("ignoreBOM", d.ignoreBOM)
		_ = o.Set("decode", func(input goja.Value, options goja.Value) string {
			var b []byte
			if input != nil && !goja.IsUndefined(input) && !goja.IsNull(input) {
				var err error
				if b, err = jsbytes.Bytes(rt, input); err != nil {
					panic(rt.NewTypeError("decode: expected an ArrayBuffer or a view of one"))
				}
				if _, isStr := input.Export().(string); isStr {
					panic(rt.NewTypeError("decode: expected an ArrayBuffer or a view of one, not a string"))
				}
			}
			stream := false
			if opts, ok := options.(*goja.Object); ok {
				stream = opts.Get("stream") != nil && opts.Get("stream").ToBoolean()
			}
			s, err := d.decode(b, stream)
			if err != nil {
				panic(rt.NewTypeError("decode: %v", err))
			}
			return s
		})
		return nil
	}
}

type invalidData struct{}

func (invalidData) Error() string { return "the input is not valid for the encoding (fatal mode)" }

func (d *decoder) decode(in []byte, stream bool) (string, error) {
	b := append(d.pending, in...)
	d.pending = nil
	var out strings.Builder
	switch d.enc {
	case "utf-8":
		if !d.bomSeen && !d.ignoreBOM {
			if len(b) < 3 && stream && len(b) > 0 && strings.HasPrefix("\xef\xbb\xbf", string(b)) {
				d.pending = b
				return "", nil
			}
			b = []byte(strings.TrimPrefix(string(b), "\xef\xbb\xbf"))
		}
		if len(b) > 0 {
			d.bomSeen = true
		}
		for len(b) > 0 {
			r, n := utf8.DecodeRune(b)
			if r == utf8.RuneError && n <= 1 {
				if stream && !utf8.FullRune(b) {
					d.pending = append([]byte(nil), b...)
					break
				}
				if d.fatal {
					return "", invalidData{}
				}
				out.WriteRune(utf8.RuneError)
				b = b[1:]
				continue
			}
			out.WriteRune(r)
			b = b[n:]
		}
	default:
		if len(b)%2 == 1 {
			if stream {
				d.pending = []byte{b[len(b)-1]}
				b = b[:len(b)-1]
			} else if d.fatal {
				return "", invalidData{}
			}
		}
		units := make([]uint16, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			if d.enc == "utf-16le" {
				units = append(units, uint16(b[i])|uint16(b[i+1])<<8)
			} else {
				units = append(units, uint16(b[i])<<8|uint16(b[i+1]))
			}
		}
		if !d.bomSeen && !d.ignoreBOM && len(units) > 0 && units[0] == 0xFEFF {
			units = units[1:]
		}
		if len(b) > 0 {
			d.bomSeen = true
		}
		if stream && len(units) > 0 && utf16.IsSurrogate(rune(units[len(units)-1])) && units[len(units)-1] < 0xDC00 {
			last := units[len(units)-1]
			units = units[:len(units)-1]
			lo, hi := byte(last), byte(last>>8)
			if d.enc == "utf-16le" {
				d.pending = append([]byte{lo, hi}, d.pending...)
			} else {
				d.pending = append([]byte{hi, lo}, d.pending...)
			}
		}
		for i := 0; i < len(units); i++ {
			u := rune(units[i])
			switch {
			case u < 0xD800 || u > 0xDFFF:
				out.WriteRune(u)
			case u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] <= 0xDFFF:
				out.WriteRune(utf16.DecodeRune(u, rune(units[i+1])))
				i++
			default: // an unpaired surrogate
				if d.fatal {
					return "", invalidData{}
				}
				out.WriteRune(utf8.RuneError)
			}
		}
		if len(b)%2 == 1 && !stream {
			out.WriteRune(utf8.RuneError)
		}
	}
	if !stream {
		d.bomSeen = false
	}
	return out.String(), nil
}
