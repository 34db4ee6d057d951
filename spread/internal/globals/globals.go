// Package globals is the one place that lists the global objects spread
// installs into every VU runtime beyond ECMAScript's own (the engine's
// require/open/console/__ENV/__VU/__ITER are set by the VU itself).
//
// To add a global (crypto, TextEncoder, ...): write a function building
// its value for one VU in the package that implements it, and add a
// Global to List below. Globals are installed lazily: the value is built
// the first time the script reads one of its names, so a VU pays nothing
// for globals its script never touches (memory per VU is a figure make
// bench checks).
package globals

import (
	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/textcodec"
	"spread.dev/spread/internal/modules/timers"
	"spread.dev/spread/internal/modules/webcrypto"
)

// Global is one group of global names whose values are built together
// (setTimeout and clearTimeout share the VU's timer table).
type Global struct {
	Names []string
	// New builds the values of Names for vu, on vu's goroutine, at most
	// once per VU. A name missing from the map is left undefined.
	New func(vu ext.VU) map[string]any
}

// List is every global spread installs, in one place (explicit wiring,
// not init-time registration).
func List() []Global {
	return []Global{
		{Names: timers.Names, New: timers.Globals},
		{Names: webcrypto.Names, New: webcrypto.Globals},
		{Names: textcodec.Names, New: textcodec.Globals},
	}
}

// Install defines every global of list on vu's global object as a lazy
// accessor that replaces itself with a plain (writable, configurable,
// non-enumerable, like ECMAScript's built-ins) data property on first
// read. An assignment before any read just stores the script's value.
func Install(vu ext.VU, list []Global) {
	rt := vu.Runtime()
	g := rt.GlobalObject()
	for _, gl := range list {
		gl := gl
		built := false
		materialize := func() {
			if built {
				return
			}
			built = true
			vals := gl.New(vu)
			for _, n := range gl.Names {
				val := goja.Undefined()
				if x, ok := vals[n]; ok {
					val = rt.ToValue(x)
				}
				_ = g.DefineDataProperty(n, val, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
			}
		}
		for _, name := range gl.Names {
			name := name
			get := rt.ToValue(func() goja.Value {
				materialize()
				return g.Get(name)
			})
			set := rt.ToValue(func(val goja.Value) {
				materialize()
				_ = g.Set(name, val)
			})
			_ = g.DefineAccessorProperty(name, get, set, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
}
