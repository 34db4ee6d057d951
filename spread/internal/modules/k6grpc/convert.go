package k6grpc

import (
	"encoding/base64"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Direct conversions between dynamic messages and the plain values goja
// exports and accepts, with protojson's mapping (lowerCamelCase names,
// 64-bit integers as strings, enums by name, bytes as base64, unset
// fields emitted). They exist because going through JSON text twice per
// call (json.Marshal + protojson) was a third of a unary call's cost in
// `make bench`; anything they do not handle exactly — well-known types,
// whose JSON forms are special, or input that does not fit — returns
// false and the caller uses protojson, which also gives the error message.

// hasWKT reports whether d (or a message it contains) is a google.protobuf
// type, whose JSON mapping only protojson implements.
func hasWKT(d protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if strings.HasPrefix(string(d.FullName()), "google.protobuf.") {
		return true
	}
	if seen[d.FullName()] {
		return false
	}
	seen[d.FullName()] = true
	fs := d.Fields()
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		if f.IsMap() {
			if md := f.MapValue().Message(); md != nil && hasWKT(md, seen) {
				return true
			}
		} else if md := f.Message(); md != nil && hasWKT(md, seen) {
			return true
		}
	}
	return false
}

// toValue is m as protojson.MarshalOptions{EmitUnpopulated: true} would
// shape it, as Go values goja converts.
func toValue(m protoreflect.Message) map[string]any {
	fs := m.Descriptor().Fields()
	out := make(map[string]any, fs.Len())
	for i := 0; i < fs.Len(); i++ {
		f := fs.Get(i)
		if f.ContainingOneof() != nil && !f.ContainingOneof().IsSynthetic() && !m.Has(f) {
			continue // protojson leaves unset oneof members out
		}
		switch {
		case f.IsList():
			l := m.Get(f).List()
			arr := make([]any, l.Len())
			for j := range arr {
				arr[j] = scalar(f, l.Get(j))
			}
			out[f.JSONName()] = arr
		case f.IsMap():
			mp := m.Get(f).Map()
			obj := make(map[string]any, mp.Len())
			mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
				obj[k.String()] = scalar(f.MapValue(), v)
				return true
			})
			out[f.JSONName()] = obj
		case f.Message() != nil && !m.Has(f):
			out[f.JSONName()] = nil
		default:
			out[f.JSONName()] = scalar(f, m.Get(f))
		}
	}
	return out
}

func scalar(f protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return toValue(v.Message())
	case protoreflect.EnumKind:
		if ev := f.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return int64(v.Enum())
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return v.Int()
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return int64(v.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		x := v.Float()
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		return x
	case protoreflect.BytesKind:
		return base64.StdEncoding.EncodeToString(v.Bytes())
	default: // bool, string
		return v.Interface()
	}
}

// fromValue fills m from an exported JS object; false when the input
// needs protojson (unknown key, a type that does not fit, lists, maps).
func fromValue(m protoreflect.Message, obj map[string]any) bool {
	fs := m.Descriptor().Fields()
	for k, raw := range obj {
		f := fs.ByJSONName(k)
		if f == nil {
			f = fs.ByName(protoreflect.Name(k))
		}
		if f == nil || f.IsList() || f.IsMap() {
			return false
		}
		if raw == nil {
			continue
		}
		if f.Kind() == protoreflect.MessageKind {
			sub, ok := raw.(map[string]any)
			if !ok {
				return false
			}
			if !fromValue(m.Mutable(f).Message(), sub) {
				return false
			}
			continue
		}
		v, ok := scalarFrom(f, raw)
		if !ok {
			return false
		}
		m.Set(f, v)
	}
	return true
}

func scalarFrom(f protoreflect.FieldDescriptor, raw any) (protoreflect.Value, bool) {
	num := func() (float64, bool) {
		switch x := raw.(type) {
		case int64:
			return float64(x), true
		case float64:
			return x, true
		}
		return 0, false
	}
	switch f.Kind() {
	case protoreflect.StringKind:
		s, ok := raw.(string)
		return protoreflect.ValueOfString(s), ok
	case protoreflect.BoolKind:
		b, ok := raw.(bool)
		return protoreflect.ValueOfBool(b), ok
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		x, ok := num()
		if !ok || x != math.Trunc(x) || x < math.MinInt32 || x > math.MaxInt32 {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfInt32(int32(x)), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		x, ok := num()
		if !ok || x != math.Trunc(x) || x < 0 || x > math.MaxUint32 {
			return protoreflect.Value{}, false
		}
		return protoreflect.ValueOfUint32(uint32(x)), true
	case protoreflect.DoubleKind:
		x, ok := num()
		return protoreflect.ValueOfFloat64(x), ok
	case protoreflect.FloatKind:
		x, ok := num()
		return protoreflect.ValueOfFloat32(float32(x)), ok
	}
	// 64-bit integers (strings or numbers), enums, bytes: protojson's job.
	return protoreflect.Value{}, false
}
