package js

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// writeFiles creates files (path → content) in a temp folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// run executes a compiled program in a bare runtime and returns its exports.
func run(t *testing.T, p *Program) (*goja.Runtime, *goja.Object) {
	t.Helper()
	rt := goja.New()
	mod, exp := rt.NewObject(), rt.NewObject()
	_ = mod.Set("exports", exp)
	_ = rt.Set("module", mod)
	_ = rt.Set("exports", exp)
	_ = rt.Set("require", func(s string) goja.Value {
		o := rt.NewObject()
		_ = o.Set("name", s)
		return o
	})
	if err := p.Run(rt); err != nil {
		t.Fatalf("run: %v", err)
	}
	return rt, mod.Get("exports").ToObject(rt)
}

func TestCompileBundlesTypeScriptAndKeepsBuiltinsExternal(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.ts": `import { name } from 'k6/x/thing';
import { twice } from './lib/math.ts';
import helper from './lib/helper.js';
type N = number;
export const options = { vus: twice(2) as N };
export default function (): string { return name + helper(); }`,
		"lib/math.ts":   `export function twice(n: number): number { return n * 2; }`,
		"lib/helper.js": `export default () => '!';`,
	})
	p, err := Compile(filepath.Join(dir, "main.ts"))
	if err != nil {
		t.Fatal(err)
	}
	rt, exp := run(t, p)
	if got := exp.Get("options").ToObject(rt).Get("vus").ToInteger(); got != 4 {
		t.Errorf("options.vus = %d, want 4", got)
	}
	fn, ok := goja.AssertFunction(exp.Get("default"))
	if !ok {
		t.Fatal("no default export")
	}
	v, err := fn(goja.Undefined())
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "k6/x/thing!" {
		t.Errorf("default() = %q, want require()d module name + helper", v)
	}
}

func TestCompileErrorsPointToTheUsersFile(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error in main", map[string]string{"main.js": "export default function () {\n  let x = ;\n}\n"}, "main.js:2:11: "},
		{"syntax error in import", map[string]string{
			"main.js":  "import f from './lib/f.js';\nexport default f;\n",
			"lib/f.js": "export default function () {\n\n  return 1 +* 2;\n}\n"}, "f.js:3:13: "},
		{"type error in ts syntax", map[string]string{"main.ts": "const x: = 1;\nexport default () => x;\n"}, "main.ts:1:10: "},
		{"missing relative import", map[string]string{"main.js": "import f from './nope.js';\nexport default f;\n"}, "main.js:1:15: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			main := filepath.Join(dir, "main.js")
			if _, ok := tt.files["main.ts"]; ok {
				main = filepath.Join(dir, "main.ts")
			}
			_, err := Compile(main)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("want *CompileError, got %T %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestRuntimeErrorsAreSourceMapped(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.ts":  "import { boom } from './lib/b.ts';\n\ninterface X { a: number }\nexport default function () {\n  const x: X = { a: 1 };\n  boom(x.a);\n}\n",
		"lib/b.ts": "// a comment\nexport function boom(n: number): void {\n  if (n > 0) {\n    throw new Error('boom ' + n);\n  }\n}\n",
	})
	p, err := Compile(filepath.Join(dir, "main.ts"))
	if err != nil {
		t.Fatal(err)
	}
	_, exp := run(t, p)
	fn, _ := goja.AssertFunction(exp.Get("default"))
	_, err = fn(goja.Undefined())
	if err == nil {
		t.Fatal("no exception")
	}
	text := ErrorText(err)
	if !strings.Contains(text, "Error: boom 1") {
		t.Errorf("message missing: %s", text)
	}
	// Columns are 1-based, as in esbuild's syntax errors and editors:
	// "throw new Error" has "new" in column 11 of b.ts line 4, and the call
	// "boom(x.a)" starts in column 3 of main.ts line 6.
	if !strings.Contains(text, "lib/b.ts:4:11)") || !strings.Contains(text, "main.ts:6:3)") {
		t.Errorf("stack not mapped to lib/b.ts:4:11 and main.ts:6:3:\n%s", text)
	}
	if !strings.Contains(text, "\tat default (") || !strings.Contains(text, "main.ts:6:3)") {
		t.Errorf("anonymous default export not shown as default:\n%s", text)
	}
	if strings.Contains(text, "))") {
		t.Errorf("stack has goja's pc suffix left: %s", text)
	}
	if pos := Position(err); !strings.Contains(pos, "lib/b.ts:4:") {
		t.Errorf("Position = %q, want lib/b.ts:4:col", pos)
	}
}

func TestShiftMapColumns(t *testing.T) {
	tests := []struct{ in, want []int }{
		{[]int{0}, []int{1}},
		{[]int{0, 0, 0, 0}, []int{1, 0, 0, 1}},
		{[]int{15, 0, -3, 7, 2}, []int{16, 0, -3, 8, 2}},
		{[]int{-1000, 1, 123456, -1}, []int{-999, 1, 123456, 0}},
	}
	for _, tt := range tests {
		got, err := decodeVLQ(encodeVLQ(tt.in))
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.in) {
			t.Errorf("VLQ round trip of %v = %v, %v", tt.in, got, err)
		}
		shifted, err := shiftMapColumns(encodeVLQ(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := decodeVLQ(shifted); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("shift %v = %v, want %v", tt.in, got, tt.want)
		}
	}
	// Later segments of a line and later original columns are deltas: they
	// stay as they are; the second line's first segment is absolute again.
	in := encodeVLQ([]int{2, 0, 0, 4}) + "," + encodeVLQ([]int{3, 0, 0, 3}) + ";;" + encodeVLQ([]int{0, 0, 1, -7})
	want := encodeVLQ([]int{3, 0, 0, 5}) + "," + encodeVLQ([]int{3, 0, 0, 3}) + ";;" + encodeVLQ([]int{1, 0, 1, -7})
	if got, err := shiftMapColumns(in); err != nil || got != want {
		t.Errorf("shiftMapColumns(%q) = %q, %v; want %q", in, got, err, want)
	}
	if _, err := shiftMapColumns("A!"); err == nil {
		t.Error("bad VLQ accepted")
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"\tat main_default (main.js:3:4)":                      "\tat default (main.js:3:4)",
		"\tat my_test_default (dir/my-test.ts:1:2)":            "\tat default (dir/my-test.ts:1:2)",
		"\tat other_default (main.js:3:4)":                     "\tat other_default (main.js:3:4)",
		"\tat inner (main.js:3:4)":                             "\tat inner (main.js:3:4)",
		"\tat spread_stdin_1_default (.spread-stdin-1.js:1:2)": "\tat default (.spread-stdin-1.js:1:2)",
		"\tat main.js:1:2":                                     "\tat main.js:1:2",
	} {
		if got := defaultName(in); got != want {
			t.Errorf("defaultName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTrimPC(t *testing.T) {
	for in, want := range map[string]string{
		"\tat f (a.js:2:3(12))":      "\tat f (a.js:2:3)",
		"\tat a.js:2:3(5)":           "\tat a.js:2:3",
		"Error: boom (not a pc)":     "Error: boom (not a pc)",
		"\tat native":                "\tat native",
		"\tat f (dir(1)/a.js:1:2)":   "\tat f (dir(1)/a.js:1:2)",
		"\tat f (dir/a.js:10:20(0))": "\tat f (dir/a.js:10:20)",
	} {
		if got := trimPC(in); got != want {
			t.Errorf("trimPC(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFilesOpenIsCachedAndRelative(t *testing.T) {
	dir := writeFiles(t, map[string]string{"data/a.txt": "hello"})
	f := NewFiles(dir)
	b, err := f.Read("data/a.txt")
	if err != nil || string(b) != "hello" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data/a.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ = f.Read("./data/../data/a.txt")
	if string(b) != "hello" {
		t.Errorf("second read not served from the cache: %q", b)
	}
	if _, err := f.Read("missing.txt"); err == nil {
		t.Error("missing file read without error")
	}
}

// TestCleanStackKeepsWrappedMessage: a module that wraps a goja error
// (new SharedArray(...): open: ...) gives a message ending with goja's
// native frame; the message must survive, only the frame goes.
func TestCleanStackKeepsWrappedMessage(t *testing.T) {
	in := "GoError: new SharedArray(\"x\"): GoError: open: no such file at spread.dev/spread/internal/js.Open.func1 (native)\n\tat s.js:2:11(5)\n\tat open (native)"
	want := "new SharedArray(\"x\"): open: no such file\n\tat s.js:2:11"
	if got := CleanStack(in); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestLightInterop: the bundle's __toESM and __toCommonJS are the light
// ones (lightInterop), in both the CommonJS and the top-level-await build.
// If an esbuild upgrade rewords its helpers this fails, rather than VUs
// quietly copying every module's exports again. A bundled CommonJS
// library keeps esbuild's own interop.
func TestLightInterop(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.js": `import http from 'k6/http'; import * as k6 from 'k6'; import lib from './lib.cjs';
export default function () { return [typeof http, typeof k6, lib.x].join(); }`,
		"tla.js": `import http from 'k6/http'; await Promise.resolve(1);
export default function () { return typeof http; }`,
		"lib.cjs": `module.exports = { x: 'cjs' };`,
	})
	for _, f := range []string{"main.js", "tla.js"} {
		p, err := Compile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(p.Code, toESMNative) || strings.Contains(p.Code, toESMHelper) {
			t.Errorf("%s: __toESM not rewritten:\n%s", f, p.Code)
		}
		if f == "main.js" && (!strings.Contains(p.Code, toCommonJSLight) || strings.Contains(p.Code, toCommonJSHelper)) {
			t.Errorf("%s: __toCommonJS not rewritten:\n%s", f, p.Code)
		}
		if f == "main.js" && (!strings.Contains(p.Code, exportLoopLight) || strings.Contains(p.Code, exportLoop)) {
			t.Errorf("%s: __export not rewritten:\n%s", f, p.Code)
		}
	}
	p, err := Compile(filepath.Join(dir, "main.js"))
	if err != nil {
		t.Fatal(err)
	}
	_, exp := run(t, p)
	fn, _ := goja.AssertFunction(exp.Get("default"))
	got, err := fn(goja.Undefined())
	if err != nil || got.String() != "object,object,cjs" {
		t.Fatalf("default() = %v, %v", got, err)
	}
	if exp.Get("__esModule").ToBoolean() != true || strings.Join(exp.Keys(), ",") != "default" {
		t.Fatalf("module.exports: __esModule %v, keys %v", exp.Get("__esModule"), exp.Keys())
	}
}

// TestInitErrorStack: an exception thrown by the init code is reported at
// its line in the user's file, with no extra frame for the function the
// bundle runs in (wrapScope, Program.Run).
func TestInitErrorStack(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.js": "const a = 1;\nthrow new Error('init boom');\nexport default function () {}\n",
	})
	p, err := Compile(filepath.Join(dir, "main.js"))
	if err != nil {
		t.Fatal(err)
	}
	rt := goja.New()
	mod := rt.NewObject()
	_ = mod.Set("exports", rt.NewObject())
	_ = rt.Set("module", mod)
	err = p.Run(rt)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(ErrorText(err), "\n")
	if len(lines) != 2 || lines[0] != "Error: init boom" || !strings.HasSuffix(lines[1], "main.js:2:7") {
		t.Fatalf("error text %q", lines)
	}
}
