package vu

import (
	"sort"

	"github.com/dop251/goja"
)

// envObject is __ENV: the run's environment overlaid with a scenario's
// env, as a goja.DynamicObject reading the shared maps instead of a copy
// of every variable per VU (a shell's environment is a few dozen
// variables: copying them was ~10 KB per VU, at init and again at the
// first iteration). To the script it is an ordinary object of strings:
// readable, enumerable (keys sorted), writable and deletable; what it
// writes stays in this VU's __ENV until the VU's scenario changes (a new
// __ENV), as before.
type envObject struct {
	rt          *goja.Runtime
	base, extra map[string]string // shared, read-only
	vals        map[string]goja.Value
	deleted     map[string]bool
	added       []string // keys the script added, in order
}

func newEnv(rt *goja.Runtime, base, extra map[string]string) *goja.Object {
	return rt.NewDynamicObject(&envObject{rt: rt, base: base, extra: extra})
}

func (e *envObject) lookup(key string) (string, bool) {
	if e.deleted[key] {
		return "", false
	}
	if s, ok := e.extra[key]; ok {
		return s, true
	}
	s, ok := e.base[key]
	return s, ok
}

func (e *envObject) Get(key string) goja.Value {
	if v, ok := e.vals[key]; ok {
		return v
	}
	s, ok := e.lookup(key)
	if !ok {
		return nil
	}
	v := e.rt.ToValue(s)
	if e.vals == nil {
		e.vals = map[string]goja.Value{}
	}
	e.vals[key] = v // a script reads the same few variables every iteration
	return v
}

func (e *envObject) Has(key string) bool {
	if _, ok := e.vals[key]; ok {
		return true
	}
	_, ok := e.lookup(key)
	return ok
}

func (e *envObject) Set(key string, val goja.Value) bool {
	if !e.Has(key) {
		if _, inherited := e.lookupUndeleted(key); !inherited {
			e.added = append(e.added, key)
		}
	}
	delete(e.deleted, key)
	if e.vals == nil {
		e.vals = map[string]goja.Value{}
	}
	e.vals[key] = val
	return true
}

// lookupUndeleted is lookup ignoring deletions: whether key is one of the
// environment's own (sorted) keys rather than one the script added.
func (e *envObject) lookupUndeleted(key string) (string, bool) {
	if s, ok := e.extra[key]; ok {
		return s, true
	}
	s, ok := e.base[key]
	return s, ok
}

func (e *envObject) Delete(key string) bool {
	if !e.Has(key) {
		return true
	}
	delete(e.vals, key)
	for i, k := range e.added {
		if k == key {
			e.added = append(e.added[:i:i], e.added[i+1:]...)
			return true
		}
	}
	if e.deleted == nil {
		e.deleted = map[string]bool{}
	}
	e.deleted[key] = true
	return true
}

func (e *envObject) Keys() []string {
	keys := make([]string, 0, len(e.base)+len(e.extra)+len(e.added))
	for k := range e.base {
		if _, dup := e.extra[k]; !dup && !e.deleted[k] {
			keys = append(keys, k)
		}
	}
	for k := range e.extra {
		if !e.deleted[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return append(keys, e.added...)
}
