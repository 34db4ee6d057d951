// Package csv is k6/experimental/csv: csv.parse(file, options) reads a
// whole file (from k6/experimental/fs) into a read-only array shared by
// every VU of the run, and csv.Parser streams it one record per next().
// Parsing is encoding/csv (RFC 4180 quoting).
package csv

import (
	"bytes"
	stdcsv "encoding/csv"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/fs"
	"spread.dev/spread/internal/modules/promises"
)

func init() { ext.Register("k6/experimental/csv", module{}) }

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{vu: vu} }

type instance struct{ vu ext.VU }

func (i *instance) Exports() ext.Exports {
	rt := i.vu.Runtime()
	return ext.Exports{Named: map[string]any{
		"parse": i.parse,
		"Parser": rt.ToValue(func(call goja.ConstructorCall) *goja.Object {
			return i.newParser(call.Argument(0), call.Argument(1))
		}),
	}}
}

// Options are k6's CSV options.
type Options struct {
	Delimiter     rune
	AsObjects     bool
	SkipFirstLine bool
	FromLine      int // first record to return (0-based)
	ToLine        int // last record to return, inclusive; -1: to the end
}

func readOptions(rt *goja.Runtime, v goja.Value) (Options, error) {
	o := Options{Delimiter: ',', ToLine: -1}
	obj, ok := v.(*goja.Object)
	if !ok || v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return o, nil
	}
	get := func(k string) goja.Value {
		x := obj.Get(k)
		if x == nil || goja.IsUndefined(x) || goja.IsNull(x) {
			return nil
		}
		return x
	}
	if d := get("delimiter"); d != nil {
		s := d.String()
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || n != len(s) || r == '"' || r == '\r' || r == '\n' {
			return o, fmt.Errorf("delimiter must be one character other than a quote or a line break, not %q", s)
		}
		o.Delimiter = r
	}
	if x := get("asObjects"); x != nil {
		o.AsObjects = x.ToBoolean()
	}
	if x := get("skipFirstLine"); x != nil {
		o.SkipFirstLine = x.ToBoolean()
	}
	if x := get("fromLine"); x != nil {
		o.FromLine = int(x.ToInteger())
		if o.FromLine < 0 {
			return o, fmt.Errorf("fromLine must be 0 or more, not %d", o.FromLine)
		}
	}
	if x := get("toLine"); x != nil {
		o.ToLine = int(x.ToInteger())
		if o.ToLine < o.FromLine {
			return o, fmt.Errorf("toLine (%d) must not be before fromLine (%d)", o.ToLine, o.FromLine)
		}
	}
	return o, nil
}

// records reads data's records line by line, applying the options:
// header is the first record when asObjects is set.
type records struct {
	r      *stdcsv.Reader
	opts   Options
	line   int // index of the next record
	header []string
}

func newRecords(data []byte, o Options) (*records, error) {
	r := stdcsv.NewReader(bytes.NewReader(data))
	r.Comma = o.Delimiter
	r.FieldsPerRecord = -1 // k6 does not require equal field counts
	r.ReuseRecord = false
	rs := &records{r: r, opts: o}
	if o.AsObjects {
		h, err := r.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("asObjects: the file has no header line")
			}
			return nil, err
		}
		rs.header, rs.line = h, 1
	}
	return rs, nil
}

// next returns the next record to hand out, or io.EOF.
func (rs *records) next() ([]string, error) {
	for {
		if rs.opts.ToLine >= 0 && rs.line > rs.opts.ToLine {
			return nil, io.EOF
		}
		rec, err := rs.r.Read()
		if err != nil {
			return nil, err
		}
		n := rs.line
		rs.line++
		if n == 0 && rs.opts.SkipFirstLine {
			continue
		}
		if n < rs.opts.FromLine {
			continue
		}
		return rec, nil
	}
}

// value renders a record as a JS array, or an object keyed by the header.
func (rs *records) value(rt *goja.Runtime, rec []string) goja.Value {
	if rs.header == nil {
		arr := make([]any, len(rec))
		for i, f := range rec {
			arr[i] = f
		}
		return rt.NewArray(arr...)
	}
	// A short record leaves its missing columns out (as papaparse does)
	// rather than inventing empty values; fields past the header are dropped.
	o := rt.NewObject()
	for i, k := range rs.header {
		if i >= len(rec) {
			break
		}
		_ = o.Set(k, rec[i])
	}
	return o
}

// parsed caches csv.parse results per run (the metric registry tells runs
// apart, as k6/data does) so VUs share one copy.
var (
	parsedMu sync.Mutex
	parsed   = map[*ext.Registry]map[string]*table{}
)

type table struct {
	once   sync.Once
	err    error
	header []string
	rows   [][]string
}

func (i *instance) parse(file, options goja.Value) *goja.Promise {
	rt := i.vu.Runtime()
	path, data, ok := fs.Data(file)
	if !ok {
		return promises.Resolved(i.vu, func(*goja.Runtime) (goja.Value, error) {
			return nil, errors.New("csv.parse: the first argument must be a File from k6/experimental/fs open()")
		})
	}
	o, err := readOptions(rt, options)
	if err != nil {
		return promises.Resolved(i.vu, func(*goja.Runtime) (goja.Value, error) { return nil, fmt.Errorf("csv.parse: %w", err) })
	}
	key := fmt.Sprintf("%s\x00%+v", path, o)
	parsedMu.Lock()
	m := parsed[i.vu.Metrics()]
	if m == nil {
		m = map[string]*table{}
		parsed[i.vu.Metrics()] = m
	}
	t := m[key]
	if t == nil {
		t = &table{}
		m[key] = t
	}
	parsedMu.Unlock()
	return promises.New(i.vu, func() (promises.Settle, error) {
		t.once.Do(func() {
			rs, err := newRecords(data, o)
			if err != nil {
				t.err = err
				return
			}
			t.header = rs.header
			for {
				rec, err := rs.next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.err = err
					return
				}
				t.rows = append(t.rows, rec)
			}
		})
		if t.err != nil {
			return nil, fmt.Errorf("csv.parse %s: %w", path, t.err)
		}
		return func(rt *goja.Runtime) (goja.Value, error) {
			return rt.NewDynamicArray(&view{rt: rt, t: t, rs: &records{header: t.header}}), nil
		}, nil
	})
}

// view is one VU's read-only window on a parsed table.
type view struct {
	rt *goja.Runtime
	t  *table
	rs *records
}

func (v *view) Len() int { return len(v.t.rows) }
func (v *view) Get(i int) goja.Value {
	if i < 0 || i >= len(v.t.rows) {
		return goja.Undefined()
	}
	return v.rs.value(v.rt, v.t.rows[i])
}
func (v *view) Set(int, goja.Value) bool {
	panic(v.rt.NewTypeError("the array csv.parse returns is read-only"))
}
func (v *view) SetLen(int) bool { panic(v.rt.NewTypeError("the array csv.parse returns is read-only")) }

// parser is csv.Parser: one VU's stream over the file.
func (i *instance) newParser(file, options goja.Value) *goja.Object {
	rt := i.vu.Runtime()
	_, data, ok := fs.Data(file)
	if !ok {
		panic(rt.NewTypeError("csv.Parser: the first argument must be a File from k6/experimental/fs open()"))
	}
	o, err := readOptions(rt, options)
	if err != nil {
		panic(rt.NewTypeError("csv.Parser: %v", err))
	}
	rs, err := newRecords(data, o)
	if err != nil {
		panic(rt.NewGoError(fmt.Errorf("csv.Parser: %w", err)))
	}
	p := rt.NewObject()
	_ = p.Set("next", func() *goja.Promise {
		return promises.Resolved(i.vu, func(rt *goja.Runtime) (goja.Value, error) {
			res := rt.NewObject()
			rec, err := rs.next()
			if errors.Is(err, io.EOF) {
				_ = res.Set("done", true)
				_ = res.Set("value", goja.Undefined())
				return res, nil
			}
			if err != nil {
				return nil, fmt.Errorf("csv.Parser: %w", err)
			}
			_ = res.Set("done", false)
			_ = res.Set("value", rs.value(rt, rec))
			return res, nil
		})
	})
	return p
}
