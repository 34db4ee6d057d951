// Package ext is spread's public extension API: the only package a JS module
// such as k6/http or k6/x/http3 imports from spread.
//
// A module registers itself at init time under its import path, and the
// engine asks it for one instance per VU. From the VU it gets the goja
// runtime, a context cancelled when the VU stops, the VU's state (id,
// iteration, scenario) once the init context is over, the current tag set,
// the run's options, the metric registry and a way to push samples.
//
// A complete module, as a runnable example, is in example_test.go (go doc
// shows it as this package's Example): it registers k6/x/counter, whose
// bump(n) pushes a sample of its own counter metric. A script then does
// `import { bump } from 'k6/x/counter'`.
//
// What is not the contract lives next to it: spread/ext/httpkit (the HTTP
// reporting kit of k6/http and k6/x/http3: results, tags, samples, error
// codes, response objects) and spread/ext/exttest (a fake VU for module
// tests). `spread build --with` links a module into a spread binary.
package ext

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/dop251/goja"
)

// Module is what an extension registers: a factory of per-VU instances.
type Module interface {
	NewModuleInstance(vu VU) Instance
}

// OptionsChecker is implemented by modules that can reject the run's
// options (a bad CA file, an unknown TLS version) before any VU starts: the
// engine calls CheckOptions once the options are final and stops with k6's
// invalid-config exit code (104) when it returns an error.
type OptionsChecker interface {
	CheckOptions(o Options) error
}

// Instance is one VU's copy of a module.
type Instance interface {
	Exports() Exports
}

// Exports is what `import` gives a script: Named exports become properties
// of the module object; Default, when set, is the default export (otherwise
// the default export is the object of named exports, as k6 does).
//
// A module with many exports can give Names and Export instead of Named,
// so a VU builds neither a map of them nor the values its script never
// reads: Names lists the named exports (one slice shared by every VU,
// read-only, in the order Object.keys gives them), and Export(name)
// returns the value of one of them, called at most once per VU and name,
// the first time the script reads it. Named, when set, wins.
type Exports struct {
	Default any
	Named   map[string]any
	Names   []string
	Export  func(name string) any
}

// Value is the object require() returns for these exports: the named
// exports, plus `default` and `__esModule` when Default is set (so esbuild's
// ESM interop gives `import x from` the default export).
//
// The object is built lazily: each export becomes a JS value (a goja
// function object for a Go func) the first time the script reads it, so a
// VU pays only for the exports its script touches (memory per VU is a
// figure make bench checks; k6/http alone has 33 exports). To the script
// it is an ordinary extensible object: every export is an own,
// enumerable, writable property (Object.keys lists them, Named's sorted),
// and properties can be added, replaced and deleted.
func (e Exports) Value(rt *goja.Runtime) goja.Value {
	m := &moduleObject{rt: rt, e: e, vals: make(map[string]goja.Value, 4)}
	if e.Named != nil {
		m.e.Names, m.e.Export = nil, nil
	}
	m.self = rt.NewDynamicObject(m)
	return m.self
}

// NamespaceKey is the hidden property of a module object (Value) that
// holds its ES module namespace: the same exports plus `default` (the
// Default export, or the module object itself when there is none, as k6
// gives `import http from 'k6/http'`). The engine's import interop reads
// it instead of copying every export onto a new object per import, which
// is what esbuild's generic CommonJS interop does. It is not listed among
// the object's keys.
const NamespaceKey = "__spreadNamespace"

// moduleObject is the goja.DynamicObject behind Value.
type moduleObject struct {
	rt      *goja.Runtime
	e       Exports
	vals    map[string]goja.Value // built or assigned values
	added   []string              // keys the script added, in order
	deleted map[string]bool       // exports the script deleted (nil: none)
	self    *goja.Object
	ns      *goja.Object // the namespace view, built on first use
}

// export returns the module's own export key.
func (m *moduleObject) export(key string) (any, bool) {
	if m.e.Named != nil {
		if v, ok := m.e.Named[key]; ok {
			return v, true
		}
	} else if m.e.Export != nil && slices.Contains(m.e.Names, key) {
		return m.e.Export(key), true
	}
	if m.e.Default != nil {
		switch key {
		case "default":
			return m.e.Default, true
		case "__esModule":
			return true, true
		}
	}
	return nil, false
}

// hasExport is export without building the value.
func (m *moduleObject) hasExport(key string) bool {
	if m.e.Named != nil {
		if _, ok := m.e.Named[key]; ok {
			return true
		}
	} else if slices.Contains(m.e.Names, key) {
		return true
	}
	return m.e.Default != nil && (key == "default" || key == "__esModule")
}

func (m *moduleObject) Get(key string) goja.Value {
	if v, ok := m.vals[key]; ok {
		return v
	}
	if m.deleted[key] {
		return nil
	}
	x, ok := m.export(key)
	if !ok {
		if key == NamespaceKey {
			return m.namespace()
		}
		return nil
	}
	v := m.rt.ToValue(x)
	m.vals[key] = v
	return v
}

func (m *moduleObject) namespace() *goja.Object {
	if m.ns == nil {
		if m.e.Default != nil {
			m.ns = m.self // it has `default` already
		} else {
			m.ns = m.rt.NewDynamicObject(namespaceObject{m})
		}
	}
	return m.ns
}

func (m *moduleObject) Has(key string) bool {
	if _, ok := m.vals[key]; ok {
		return true
	}
	return !m.deleted[key] && m.hasExport(key)
}

func (m *moduleObject) Set(key string, val goja.Value) bool {
	if !m.Has(key) && !m.hasExport(key) {
		m.added = append(m.added, key)
	}
	delete(m.deleted, key)
	m.vals[key] = val
	return true
}

func (m *moduleObject) Delete(key string) bool {
	if !m.Has(key) {
		return true
	}
	delete(m.vals, key)
	for i, k := range m.added {
		if k == key {
			m.added = append(m.added[:i:i], m.added[i+1:]...)
			return true
		}
	}
	if m.deleted == nil {
		m.deleted = map[string]bool{}
	}
	m.deleted[key] = true
	return true
}

// Keys lists the exports (Named's sorted, or Names), then `default` and
// `__esModule` with a Default, then what the script added; built per call,
// so a VU keeps no list of its own (enumerating a module is rare).
func (m *moduleObject) Keys() []string { return m.keys(nil) }

func (m *moduleObject) keys(out []string) []string {
	start := len(out)
	if m.e.Named != nil {
		for k := range m.e.Named {
			out = append(out, k)
		}
		sort.Strings(out[start:])
	} else {
		out = append(out, m.e.Names...)
	}
	if m.e.Default != nil {
		out = append(out, "default", "__esModule")
	}
	if m.deleted != nil {
		kept := out[:start]
		for _, k := range out[start:] {
			if !m.deleted[k] {
				kept = append(kept, k)
			}
		}
		out = kept
	}
	return append(out, m.added...)
}

// namespaceObject is a module's namespace for `import * as` and `import
// x from` (see NamespaceKey): read-only, like an ES module namespace.
type namespaceObject struct{ m *moduleObject }

func (n namespaceObject) Get(key string) goja.Value {
	if key == "default" {
		return n.m.self
	}
	if key == NamespaceKey {
		return nil
	}
	return n.m.Get(key)
}

func (n namespaceObject) Has(key string) bool {
	return key == "default" || n.m.Has(key)
}

func (namespaceObject) Set(string, goja.Value) bool { return false }
func (namespaceObject) Delete(string) bool          { return false }

func (n namespaceObject) Keys() []string { return n.m.keys([]string{"default"}) }

// VU is the engine's view of one virtual user, handed to module instances.
type VU interface {
	// Runtime is the VU's JS runtime; only touch it from the VU's goroutine.
	Runtime() *goja.Runtime
	// Context is cancelled when the VU is stopped (end of test or abort).
	Context() context.Context
	// State is nil while the init context runs, then the VU's live state.
	State() *State
	// Tags is the current tag set: CLI/script tags, scenario tags,
	// `scenario`, and `group` while inside group(). It stays the same
	// TagSet until one of those changes.
	Tags() TagSet
	// Push hands samples to the metrics engine and the outputs. It never
	// blocks for long and is safe from any goroutine. It copies the
	// samples it keeps, so the caller may reuse the slice once it returns.
	Push(samples ...Sample)
	// Metrics is the run's metric registry (built-in and custom metrics).
	Metrics() *Registry
	// Options are the run's consolidated options (script options + CLI).
	Options() Options
	// OnIterationEnd registers fn to run on the VU's goroutine after each
	// iteration (used e.g. by noVUConnectionReuse).
	OnIterationEnd(fn func())
	// RegisterCallback, called on the VU's goroutine, reserves a place on
	// the VU's event loop: the iteration (or init, setup, teardown) does
	// not end while a reservation is pending. The returned function must
	// be called exactly once, from any goroutine, with the code to run
	// back on the VU's goroutine; its error, if any, is an uncaught
	// exception that interrupts the iteration. Calls after the iteration
	// ended (interrupted) are dropped. This is how a module returns a
	// promise: make it with Runtime().NewPromise() on the VU goroutine, do
	// the work elsewhere, and resolve or reject it inside the callback:
	//
	//	p, resolve, reject := rt.NewPromise()
	//	done := vu.RegisterCallback()
	//	go func() {
	//		v, err := work()
	//		done(func() error {
	//			if err != nil {
	//				return reject(rt.NewGoError(err))
	//			}
	//			return resolve(v)
	//		})
	//	}()
	//	return p
	RegisterCallback() func(func() error)
}

// State is what a VU knows about itself outside the init context.
type State struct {
	VUID       uint64 // __VU: 1-based id within this process
	VUIDInTest uint64 // id across all instances (execution segments)
	Iteration  int64  // __ITER: 0-based iteration of this VU in its scenario
	Scenario   string // current scenario name
	Group      string // current group path ("" at root, "::a::b" nested)
}

var (
	regMu    sync.RWMutex
	registry = map[string]Module{}
)

// Register makes m importable under path ("k6/http", "k6/x/http3", ...).
// It panics when the path is taken or malformed, as it runs at init time.
func Register(path string, m Module) {
	if path != "k6" && !strings.HasPrefix(path, "k6/") {
		panic(fmt.Sprintf("ext: module path %q must be k6 or start with k6/", path))
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[path]; dup {
		panic(fmt.Sprintf("ext: module %q registered twice", path))
	}
	registry[path] = m
}

// Lookup returns the module registered under path.
func Lookup(path string) (Module, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	m, ok := registry[path]
	return m, ok
}

// Registered lists the registered module paths, sorted.
func Registered() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(registry))
	for p := range registry {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Options holds the run's consolidated options as raw JSON values by key,
// so each module decodes only the keys it owns.
type Options map[string]json.RawMessage

// Decode decodes option key into dst; it reports whether the key was set.
func (o Options) Decode(key string, dst any) (bool, error) {
	raw, ok := o[key]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return true, fmt.Errorf("option %s: %w", key, err)
	}
	return true, nil
}
