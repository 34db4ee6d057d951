package webcrypto

import (
	"fmt"

	"github.com/dop251/goja"
)

// domError is a WebCrypto failure: promises reject with an Error whose
// name is the DOMException name the spec gives (NotSupportedError,
// InvalidAccessError, OperationError, DataError, SyntaxError...), the
// shape k6 documents, since goja has no DOMException.
type domError struct {
	Name string
	Msg  string
}

func (e *domError) Error() string { return e.Name + ": " + e.Msg }

// JSValue builds the rejection value (promises.ErrorValue calls it).
func (e *domError) JSValue(rt *goja.Runtime) goja.Value {
	ctor, _ := goja.AssertConstructor(rt.Get("Error"))
	var o *goja.Object
	if ctor != nil {
		o, _ = ctor(nil, rt.ToValue(e.Msg))
	}
	if o == nil {
		o = rt.NewObject()
		_ = o.Set("message", e.Msg)
	}
	_ = o.Set("name", e.Name)
	return o
}

func errf(name, format string, args ...any) *domError {
	return &domError{Name: name, Msg: fmt.Sprintf(format, args...)}
}

func notSupported(format string, args ...any) *domError {
	return errf("NotSupportedError", format, args...)
}
func invalidAccess(format string, args ...any) *domError {
	return errf("InvalidAccessError", format, args...)
}
func operation(format string, args ...any) *domError { return errf("OperationError", format, args...) }
func dataErr(format string, args ...any) *domError   { return errf("DataError", format, args...) }
func syntaxErr(format string, args ...any) *domError { return errf("SyntaxError", format, args...) }
func typeErr(format string, args ...any) *domError   { return errf("TypeError", format, args...) }
