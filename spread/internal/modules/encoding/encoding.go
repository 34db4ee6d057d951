// Package encoding is k6/encoding: b64encode and b64decode in the four
// alphabets k6 documents (std, rawstd, url, rawurl).
package encoding

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
)

func init() { ext.Register("k6/encoding", module{}) }

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return instance{rt: vu.Runtime()} }

type instance struct{ rt *goja.Runtime }

func (i instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"b64encode": i.b64encode,
		"b64decode": i.b64decode,
	}}
}

// Encoding returns the base64 alphabet k6 names by enc ("" is std).
func Encoding(enc string) (*base64.Encoding, error) {
	switch enc {
	case "", "std":
		return base64.StdEncoding, nil
	case "rawstd":
		return base64.RawStdEncoding, nil
	case "url":
		return base64.URLEncoding, nil
	case "rawurl":
		return base64.RawURLEncoding, nil
	}
	return nil, fmt.Errorf("unknown base64 encoding %q (want std, rawstd, url or rawurl)", enc)
}

func optString(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

// b64encode(input, [encoding]): input is a string (UTF-8) or binary.
func (i instance) b64encode(input, enc goja.Value) string {
	b, err := jsbytes.Bytes(i.rt, input)
	if err != nil {
		panic(i.rt.NewTypeError("b64encode: input: %v", err))
	}
	e, err := Encoding(optString(enc))
	if err != nil {
		panic(i.rt.NewTypeError("b64encode: %v", err))
	}
	return e.EncodeToString(b)
}

// b64decode(input, [encoding], [format]): an ArrayBuffer, or a string when
// format is "s".
func (i instance) b64decode(input, enc, format goja.Value) goja.Value {
	b, err := jsbytes.Bytes(i.rt, input)
	if err != nil {
		panic(i.rt.NewTypeError("b64decode: input: %v", err))
	}
	name := optString(enc)
	e, err := Encoding(name)
	if err != nil {
		panic(i.rt.NewTypeError("b64decode: %v", err))
	}
	out, err := Decode(e, string(b))
	if err != nil {
		panic(i.rt.NewGoError(fmt.Errorf("b64decode: %s input: %w", orStd(name), err)))
	}
	switch f := optString(format); f {
	case "s":
		return i.rt.ToValue(string(out))
	case "":
		return jsbytes.ArrayBuffer(i.rt, out)
	default:
		panic(i.rt.NewTypeError("b64decode: unknown format %q (want \"s\" or none)", f))
	}
}

func orStd(s string) string {
	if s == "" {
		return "std"
	}
	return s
}

// Decode decodes s with e; the padded alphabets also take input whose
// padding was stripped, and the raw ones input that kept it, since real
// tokens (JWTs, cookies) come both ways and k6 scripts rely on it.
func Decode(e *base64.Encoding, s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	out, err := e.DecodeString(s)
	if err == nil {
		return out, nil
	}
	var alt *base64.Encoding
	switch e {
	case base64.StdEncoding:
		alt = base64.RawStdEncoding
		s = strings.TrimRight(s, "=")
	case base64.URLEncoding:
		alt = base64.RawURLEncoding
		s = strings.TrimRight(s, "=")
	case base64.RawStdEncoding:
		alt = base64.StdEncoding
	case base64.RawURLEncoding:
		alt = base64.URLEncoding
	}
	if alt != nil {
		if out2, err2 := alt.DecodeString(s); err2 == nil {
			return out2, nil
		}
	}
	return nil, err
}
