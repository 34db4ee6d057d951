// Package globals is the one place that lists the global objects spread
// installs into every VU runtime beyond ECMAScript's own (the engine's
// require/__ENV/__VU/__ITER are set by the VU itself, which also adds its
// console and open() to the list it installs).
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

// Install makes every global of list readable on vu's global object,
// lazily: the names resolve through a dynamic object placed between the
// global object and Object.prototype, which builds a group's values the
// first time the script reads one of its names and defines them on the
// global object itself as plain (writable, configurable, non-enumerable,
// like ECMAScript's built-ins) data properties; from then on the dynamic
// object is not consulted for them. One object per VU instead of a getter
// and a setter function per name (memory per VU). An assignment before
// any read just creates the script's own global, as it would over a
// built-in; `typeof`, `in` and reads see the globals before they are
// built. Until then, Object.getOwnPropertyNames(globalThis) does not list
// them.
func Install(vu ext.VU, list []Global) {
	rt := vu.Runtime()
	g := rt.GlobalObject()
	l := &lazy{vu: vu, g: g, list: list, index: map[string]int{}, built: make([]bool, len(list))}
	for i, gl := range list {
		for _, n := range gl.Names {
			l.index[n] = i
		}
	}
	l.self = rt.NewDynamicObject(l)
	_ = l.self.SetPrototype(g.Prototype())
	_ = g.SetPrototype(l.self)
}

// lazy is the goja.DynamicObject behind Install.
type lazy struct {
	vu    ext.VU
	g     *goja.Object
	self  *goja.Object
	list  []Global
	index map[string]int // name → its group in list
	built []bool
}

func (l *lazy) Get(name string) goja.Value {
	i, ok := l.index[name]
	if !ok || l.built[i] {
		// built: the script deleted the global since; it stays gone.
		return nil
	}
	l.built[i] = true
	rt := l.vu.Runtime()
	vals := l.list[i].New(l.vu)
	// The script may have assigned some names of the group already (its
	// own global, not this object's): those stay.
	_ = l.g.SetPrototype(nil)
	own := map[string]bool{}
	for _, n := range l.list[i].Names {
		own[n] = l.g.Get(n) != nil
	}
	_ = l.g.SetPrototype(l.self)
	for _, n := range l.list[i].Names {
		if own[n] {
			continue
		}
		val := goja.Undefined()
		if x, ok := vals[n]; ok {
			val = rt.ToValue(x)
		}
		_ = l.g.DefineDataProperty(n, val, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	if own[name] {
		return nil
	}
	return l.g.Get(name)
}

func (l *lazy) Has(name string) bool {
	i, ok := l.index[name]
	return ok && !l.built[i]
}

// Set and Delete are reached only through Object.getPrototypeOf(globalThis).
func (l *lazy) Set(string, goja.Value) bool { return false }
func (l *lazy) Delete(string) bool          { return true }

// Keys is empty: the globals, like ECMAScript's, are not enumerable.
func (l *lazy) Keys() []string { return nil }
