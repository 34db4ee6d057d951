package data_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/data"
)

const build = `
const { SharedArray } = require('k6/data');
const users = new SharedArray('users', function () {
	calls();
	const out = [];
	for (let i = 0; i < 100; i++) out.push({ id: i, name: 'user' + i, tags: ['a', 'ü'], nested: { n: i * 2 } });
	return out;
});
`

// Two VUs of one run (same registry) share one array; the function runs
// once; elements read back equal, frozen, and writes throw.
func TestSharedArray(t *testing.T) {
	calls := 0
	first := exttest.New(nil)
	second := exttest.New(nil)
	second.Reg = first.Reg
	for _, vu := range []*exttest.VU{first, second} {
		_ = vu.RT.Set("calls", func() { calls++ })
		if _, err := vu.RT.RunString(build); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("the SharedArray function ran %d times, want 1", calls)
	}
	second.StartIteration(0)
	cases := []struct{ src, want string }{
		{`users.length`, "100"},
		{`users[7].name`, "user7"},
		{`users[7].nested.n`, "14"},
		{`users[99].tags[1]`, "ü"},
		{`users[100]`, "undefined"},
		{`users[-1]`, "undefined"},
		{`Array.isArray(users)`, "true"},
		{`users.map((u) => u.id).slice(0, 3).join()`, "0,1,2"},
		{`let s = 0; for (const u of users) s += u.id; s`, "4950"},
		{`users.filter((u) => u.id % 50 === 0).length`, "2"},
		{`Object.isFrozen(users[1]) && Object.isFrozen(users[1].nested)`, "true"},
		{`"use strict"; try { users[1].name = "x"; "no throw" } catch (e) { e instanceof TypeError }`, "true"},
		{`users[1].name`, "user1"},
		{`JSON.stringify(users[3])`, `{"id":3,"name":"user3","tags":["a","ü"],"nested":{"n":6}}`},
	}
	for _, c := range cases {
		v, err := second.RT.RunString(c.src)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if v.String() != c.want {
			t.Errorf("%s = %q, want %q", c.src, v.String(), c.want)
		}
	}
	for _, src := range []string{`users[0] = 1`, `users.push(1)`, `users.length = 0`} {
		_, err := second.RT.RunString(src)
		if err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("%s: error %v, want read-only", src, err)
		}
	}
}

// A different run (another registry) builds its own array.
func TestSharedArrayPerRun(t *testing.T) {
	calls := 0
	for i := 0; i < 2; i++ {
		vu := exttest.New(nil)
		_ = vu.RT.Set("calls", func() { calls++ })
		if _, err := vu.RT.RunString(build); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 2 {
		t.Fatalf("function ran %d times for two runs, want 2", calls)
	}
}

func TestSharedArrayErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`new SharedArray('', () => [])`, "non-empty name"},
		{`new SharedArray('x')`, "function returning an array"},
		{`new SharedArray('y', () => ({}))`, "must return an array, not Object"},
		{`new SharedArray('z', () => { throw new Error('boom') })`, "boom"},
	}
	for _, c := range cases {
		vu := exttest.New(nil)
		_, err := vu.RT.RunString("const { SharedArray } = require('k6/data');\n" + c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.src, err, c.want)
		}
	}
	vu := exttest.New(nil)
	vu.StartIteration(0)
	_, err := vu.RT.RunString("const { SharedArray } = require('k6/data'); new SharedArray('late', () => [])")
	if err == nil || !strings.Contains(err.Error(), "init context") {
		t.Errorf("outside init: %v", err)
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// One copy whatever the VU count: 200 VUs' views of a ~2 MB array add
// far less than one copy (databench measures 1000 VUs over 10 MB).
func TestSharedArrayMemoryIsShared(t *testing.T) {
	const n = 200
	prog := goja.MustCompile("s.js", `const { SharedArray } = require('k6/data');
const big = new SharedArray('big', () => {
	const out = [];
	for (let i = 0; i < 20000; i++) out.push({ id: i, name: 'user' + i, pw: 'secret-' + i * 7919, mail: 'user' + i + '@example.test' });
	return out;
});
if (big[123].id !== 123) throw new Error('bad element');`, false)
	vus := make([]*exttest.VU, n)
	for i := range vus {
		vus[i] = exttest.New(nil)
		if i > 0 {
			vus[i].Reg = vus[0].Reg
		}
		// goja builds builtins lazily: touch the ones the script uses first.
		if _, err := vus[i].RT.RunString(`JSON.parse('{"a":[1]}'); Object.freeze({}); Object.keys({})`); err != nil {
			t.Fatal(err)
		}
	}
	h0 := liveHeap()
	if _, err := vus[0].RT.RunProgram(prog); err != nil {
		t.Fatal(err)
	}
	h1 := liveHeap()
	for _, vu := range vus[1:] {
		if _, err := vu.RT.RunProgram(prog); err != nil {
			t.Fatal(err)
		}
	}
	h2 := liveHeap()
	runtime.KeepAlive(vus)
	one, views := h1-h0, h2-h1
	t.Logf("one copy %d KiB, %d more VUs' views %d KiB (%d B/VU)", one>>10, n-1, views>>10, views/(n-1))
	if one < 1<<20 {
		t.Fatalf("the shared copy is only %d bytes: the measurement is off", one)
	}
	if views > one/2 || views/(n-1) > 16<<10 {
		t.Fatalf("%d VUs' views hold %d bytes (one copy is %d): elements are not shared", n-1, views, one)
	}
}
