package js

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
)

// Resolver finds the module for an import path: the engine's builtins
// first, then the extensions registered with ext.Register.
type Resolver struct {
	Builtins map[string]ext.Module
	// Remote serves the few remote (https://) modules the engine knows
	// locally; nil for none.
	Remote func(url string) (ext.Module, bool)
}

// Lookup returns the module behind path.
func (r *Resolver) Lookup(path string) (ext.Module, bool) {
	if m, ok := r.Builtins[path]; ok {
		return m, true
	}
	if strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://") {
		if r.Remote != nil {
			return r.Remote(path)
		}
		return nil, false
	}
	return ext.Lookup(path)
}

// Known lists every importable module path, sorted.
func (r *Resolver) Known() []string {
	out := ext.Registered()
	for p := range r.Builtins {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Require returns a require() for one VU: each module gets one instance
// per VU, created at the first import and cached.
//
// It is a goja.FunctionCall function rather than a func(string): goja
// wraps that kind without reflection, for less memory per VU.
func Require(rt *goja.Runtime, r *Resolver, vu ext.VU) func(goja.FunctionCall) goja.Value {
	cache := map[string]goja.Value{}
	return func(call goja.FunctionCall) goja.Value {
		path := call.Argument(0).String()
		if v, ok := cache[path]; ok {
			return v
		}
		m, ok := r.Lookup(path)
		if !ok && (strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://")) {
			panic(rt.NewGoError(fmt.Errorf("remote module %q: not bundled (remote modules are fetched when the script is compiled; a require() built at run time cannot be)", path)))
		}
		if !ok {
			panic(rt.NewGoError(fmt.Errorf("unknown module %q (known modules: %v)", path, r.Known())))
		}
		v := m.NewModuleInstance(vu).Exports().Value(rt)
		cache[path] = v
		return v
	}
}

// Files caches what open() read, shared by every VU so 1000 VUs opening
// the same file hold one copy.
type Files struct {
	Dir string // the script's folder; relative paths start here
	// Root, when set, holds the files of an archive under their original
	// absolute paths: an absolute path is looked up below it.
	Root string

	mu    sync.Mutex
	files map[string][]byte
}

// NewFiles returns a cache resolving relative paths against dir.
func NewFiles(dir string) *Files { return &Files{Dir: dir, files: map[string][]byte{}} }

// Abs is the absolute, cleaned path Read reads for path.
func (f *Files) Abs(path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(f.Dir, path)
	} else if f.Root != "" && !strings.HasPrefix(filepath.Clean(path), f.Root+string(filepath.Separator)) {
		path = filepath.Join(f.Root, path)
	}
	return filepath.Clean(path)
}

// Read returns the contents of path (relative to the script's folder).
// The slice is shared by every caller: never modify it.
func (f *Files) Read(path string) ([]byte, error) {
	path = f.Abs(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.files[path]; ok {
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	f.files[path] = b
	return b, nil
}

// Paths lists the files read so far (absolute), for archives.
func (f *Files) Paths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.files))
	for p := range f.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Open returns the script's open(path[, "b"]); inInit says whether the VU
// is still in its init context, the only place open() is allowed.
func Open(rt *goja.Runtime, files *Files, inInit func() bool) func(string, goja.Value) goja.Value {
	return func(path string, mode goja.Value) goja.Value {
		if !inInit() {
			panic(rt.NewGoError(fmt.Errorf("open() is only available in the init context")))
		}
		b, err := files.Read(path)
		if err != nil {
			panic(rt.NewGoError(err))
		}
		if mode != nil && !goja.IsUndefined(mode) && mode.String() == "b" {
			// a copy: the ArrayBuffer is the script's to modify.
			return rt.ToValue(rt.NewArrayBuffer(append([]byte(nil), b...)))
		}
		return rt.ToValue(string(b))
	}
}
