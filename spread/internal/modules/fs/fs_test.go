package fs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/fs"
)

// run evaluates body in an async function (init context unless iter) and
// returns its result or the rejection's "name: message".
func run(t *testing.T, dir, body string, iter bool) string {
	t.Helper()
	vu := exttest.New(nil)
	vu.Dir = dir
	src := "const fs = require('k6/experimental/fs'); var __out;\n(async () => {\n" + body +
		"\n})().then((v) => { __out = String(v); }, (e) => { __out = 'rejected ' + e.name + ': ' + e.message; });"
	if iter {
		vu.StartIteration(0)
	}
	if _, err := vu.RunString(src); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	out := vu.RT.Get("__out")
	if out == nil || goja.IsUndefined(out) {
		t.Fatalf("the promise did not settle:\n%s", body)
	}
	return out.String()
}

func TestFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bonjour.txt"), []byte("Bonjour, tout le monde!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ body, want string }{
		{`const f = await fs.open("bonjour.txt"); const i = await f.stat(); return [i.name, i.size, f.path === ` + "`" + dir + "/bonjour.txt`" + `].join()`, "bonjour.txt,24,true"},
		// k6's documented read loop: chunks, then null at the end.
		{`const f = await fs.open("bonjour.txt"); const b = new Uint8Array(10); const out = [];
		  for (let i = 0; i < 10; i++) { const n = await f.read(b); out.push(n); if (n === null) break; }
		  return out.join("|")`, "10|10|4|"},
		{`const f = await fs.open("bonjour.txt"); const b = new Uint8Array(7); await f.read(b); return String.fromCharCode(...b)`, "Bonjour"},
		{`const f = await fs.open("bonjour.txt"); const b = new Uint8Array(5);
		  const a = await f.seek(9, fs.SeekMode.Start); await f.read(b); const s1 = String.fromCharCode(...b);
		  const c = await f.seek(-7, fs.SeekMode.End); await f.read(b);
		  const d = await f.seek(-5, fs.SeekMode.Current);
		  return [a, s1, c, String.fromCharCode(...b), d].join()`, "9,tout ,17,monde,17"},
		{`const f = await fs.open("bonjour.txt"); await f.seek(100); return await f.read(new Uint8Array(4))`, "null"},
		{`const f = await fs.open("bonjour.txt"); return await f.seek(-1)`, "rejected TypeError: seek: the resulting offset would be negative"},
		{`const f = await fs.open("bonjour.txt"); return await f.read([1, 2])`, "rejected TypeError: read: the buffer must be a Uint8Array"},
		{`return await fs.open("missing.txt")`, "rejected NotFoundError: open: no such file: missing.txt"},
		{`return await fs.open("sub")`, "rejected InvalidResourceError: open: sub is a directory"},
		{`return [fs.SeekMode.Start, fs.SeekMode.Current, fs.SeekMode.End].join()`, "0,1,2"},
		// Two Files of one path keep their own offsets.
		{`const a = await fs.open("bonjour.txt"), b = await fs.open("bonjour.txt"); await a.seek(3); const buf = new Uint8Array(3); await b.read(buf); return String.fromCharCode(...buf)`, "Bon"},
	}
	for _, c := range cases {
		if got := run(t, dir, c.body, false); got != c.want {
			t.Errorf("got %q, want %q\n%s", got, c.want, c.body)
		}
	}
	if got := run(t, dir, `return await fs.open("bonjour.txt")`, true); !strings.Contains(got, "rejected ForbiddenError") {
		t.Errorf("open outside the init context: %s", got)
	}
}
