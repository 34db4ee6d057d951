package globals

import (
	"testing"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
)

// TestInstallLazy: a global is built on first read, once for its group,
// is not enumerable, and an assignment before any read keeps the
// script's value (without building anything), also when another name of
// its group is read later; a deleted global stays deleted.
func TestInstallLazy(t *testing.T) {
	v := exttest.New(nil)
	built := 0
	Install(v, []Global{{Names: []string{"a", "b"}, New: func(ext.VU) map[string]any {
		built++
		return map[string]any{"a": 1, "b": 2}
	}}, {Names: []string{"c", "d"}, New: func(ext.VU) map[string]any { built += 10; return map[string]any{"c": 3, "d": 4} }}})
	if built != 0 {
		t.Fatal("built before any read")
	}
	res, err := v.RunString(`c = 'mine'; [typeof d === 'number' || 'd' in globalThis, a + b, typeof a, Object.keys(globalThis).includes('a'), c].join()`)
	if err != nil {
		t.Fatal(err)
	}
	if res.String() != "true,3,number,false,mine" || built != 11 {
		t.Fatalf("got %s, built %d", res, built)
	}
	if _, err := v.RunString(`a; b; c; d;`); err != nil || built != 11 {
		t.Fatalf("rebuilt: %d %v", built, err)
	}
	res, err = v.RunString(`const before = 'e' in globalThis;
		const desc = JSON.stringify(Object.getOwnPropertyDescriptor(globalThis, 'a'));
		delete globalThis.a;
		[before, desc, typeof a, 'a' in globalThis, typeof nothing].join()`)
	if err != nil || res.String() != `false,{"value":1,"writable":true,"enumerable":false,"configurable":true},undefined,false,undefined` {
		t.Fatalf("got %v, %v", res, err)
	}
}

// TestListTimers: the real list installs the timers.
func TestListTimers(t *testing.T) {
	v := exttest.New(nil)
	Install(v, List())
	res, err := v.RunString(`new Promise((r) => setTimeout(() => r(typeof clearInterval), 1))`)
	if err != nil || res.String() != "function" {
		t.Fatalf("%v %v", res, err)
	}
}
