// Package fs is k6/experimental/fs: open() a file of the test in the init
// context and read it from iterations through a File (read, seek, stat),
// every method returning a promise, as k6 documents.
//
// The bytes come from the engine's file cache (ext.FileReader, the one
// open() uses), so every VU shares one copy and archives record the file;
// each File keeps only its own offset.
package fs

import (
	"errors"
	iofs "io/fs"
	"path/filepath"
	"syscall"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
	"spread.dev/spread/internal/modules/promises"
)

func init() { ext.Register("k6/experimental/fs", module{}) }

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{vu: vu} }

type instance struct{ vu ext.VU }

// Seek modes (SeekMode.Start, Current, End).
const (
	SeekStart   = 0
	SeekCurrent = 1
	SeekEnd     = 2
)

func (i *instance) Exports() ext.Exports {
	rt := i.vu.Runtime()
	modes := rt.NewObject()
	_ = modes.Set("Start", SeekStart)
	_ = modes.Set("Current", SeekCurrent)
	_ = modes.Set("End", SeekEnd)
	_ = modes.Set("0", "Start")
	_ = modes.Set("1", "Current")
	_ = modes.Set("2", "End")
	return ext.Exports{Named: map[string]any{
		"open":     i.open,
		"SeekMode": modes,
	}}
}

// fsError is a k6 FsError: a rejection whose name says the kind.
type fsError struct{ name, msg string }

func (e *fsError) Error() string { return e.name + ": " + e.msg }

func (e *fsError) JSValue(rt *goja.Runtime) goja.Value {
	ctor, _ := goja.AssertConstructor(rt.Get("Error"))
	o, err := ctor(nil, rt.ToValue(e.msg))
	if err != nil {
		o = rt.NewObject()
		_ = o.Set("message", e.msg)
	}
	_ = o.Set("name", e.name)
	return o
}

func (i *instance) open(pathV goja.Value) *goja.Promise {
	return promises.Resolved(i.vu, func(rt *goja.Runtime) (goja.Value, error) {
		if i.vu.State() != nil {
			return nil, &fsError{"ForbiddenError", "open() of k6/experimental/fs is only available in the init context"}
		}
		if pathV == nil || goja.IsUndefined(pathV) || pathV.String() == "" {
			return nil, &fsError{"TypeError", "open: needs a file path"}
		}
		fr, ok := i.vu.(ext.FileReader)
		if !ok {
			return nil, &fsError{"NotFoundError", "open: this VU cannot read files"}
		}
		abs, data, err := fr.ReadFile(pathV.String())
		switch {
		case errors.Is(err, iofs.ErrNotExist):
			return nil, &fsError{"NotFoundError", "open: no such file: " + pathV.String()}
		case err != nil && isDir(err):
			return nil, &fsError{"InvalidResourceError", "open: " + pathV.String() + " is a directory"}
		case err != nil:
			return nil, &fsError{"ForbiddenError", "open: " + err.Error()}
		}
		return rt.ToValue(&File{Path: abs, vu: i.vu, data: data}), nil
	})
}

func isDir(err error) bool { return errors.Is(err, syscall.EISDIR) }

// File is what open() resolves to; Go methods map to read, seek, stat.
type File struct {
	Path string `js:"path"`

	vu     ext.VU
	data   []byte // shared with every VU: read-only
	offset int64
}

// Data is the file's contents and name, for modules taking a File
// (k6/experimental/csv). The bytes are shared: never modify them.
func Data(v goja.Value) (path string, data []byte, ok bool) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return "", nil, false
	}
	f, ok := v.Export().(*File)
	if !ok {
		return "", nil, false
	}
	return f.Path, f.data, true
}

// Read fills buffer (a Uint8Array) from the offset: resolves to the byte
// count, or null at the end of the file.
func (f *File) Read(buffer goja.Value) *goja.Promise {
	return promises.Resolved(f.vu, func(rt *goja.Runtime) (goja.Value, error) {
		o, isObj := buffer.(*goja.Object)
		if !isObj || !isUint8Array(o) {
			return nil, &fsError{"TypeError", "read: the buffer must be a Uint8Array"}
		}
		b, err := jsbytes.Bytes(rt, buffer)
		if err != nil {
			return nil, &fsError{"TypeError", "read: " + err.Error()}
		}
		if f.offset >= int64(len(f.data)) {
			return goja.Null(), nil
		}
		n := copy(b, f.data[f.offset:])
		f.offset += int64(n)
		return rt.ToValue(n), nil
	})
}

func isUint8Array(o *goja.Object) bool {
	c, ok := o.Get("constructor").(*goja.Object)
	return ok && c.Get("name").String() == "Uint8Array"
}

// Seek moves the offset (whence: SeekMode.Start, Current or End) and
// resolves to the new offset.
func (f *File) Seek(offset goja.Value, whence goja.Value) *goja.Promise {
	return promises.Resolved(f.vu, func(rt *goja.Runtime) (goja.Value, error) {
		if offset == nil || goja.IsUndefined(offset) {
			return nil, &fsError{"TypeError", "seek: needs an offset"}
		}
		off := offset.ToInteger()
		mode := int64(SeekStart)
		if whence != nil && !goja.IsUndefined(whence) {
			mode = whence.ToInteger()
		}
		var base int64
		switch mode {
		case SeekStart:
		case SeekCurrent:
			base = f.offset
		case SeekEnd:
			base = int64(len(f.data))
		default:
			return nil, &fsError{"TypeError", "seek: whence must be SeekMode.Start, Current or End"}
		}
		if base+off < 0 {
			return nil, &fsError{"TypeError", "seek: the resulting offset would be negative"}
		}
		f.offset = base + off
		return rt.ToValue(f.offset), nil
	})
}

// Stat resolves to a FileInfo: name (the base name) and size in bytes.
func (f *File) Stat() *goja.Promise {
	return promises.Resolved(f.vu, func(rt *goja.Runtime) (goja.Value, error) {
		o := rt.NewObject()
		_ = o.Set("name", filepath.Base(f.Path))
		_ = o.Set("size", len(f.data))
		return o, nil
	})
}
