package csv_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/exttest"
	_ "spread.dev/spread/internal/modules/csv"
	_ "spread.dev/spread/internal/modules/fs"
)

const data = `name,age,city
John,30,"New York, NY"
Jane,25,"Quote ""here"""
"Multi
line",40,Paris
Bob,50,Oslo
`

func run(t *testing.T, vu *exttest.VU, body string) string {
	t.Helper()
	src := "var fs = require('k6/experimental/fs'), csv = require('k6/experimental/csv'); var __out;\n(async () => {\n" + body +
		"\n})().then((v) => { __out = String(v); }, (e) => { __out = 'rejected ' + e.message; });"
	if _, err := vu.RunString(src); err != nil {
		t.Fatalf("%v\n%s", err, body)
	}
	out := vu.RT.Get("__out")
	if out == nil || goja.IsUndefined(out) {
		t.Fatalf("the promise did not settle:\n%s", body)
	}
	return out.String()
}

func TestCSV(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "data.csv"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "semi.csv"), []byte("a;b\n1;2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ body, want string }{
		{`const f = await fs.open("data.csv"); const rows = await csv.parse(f); return rows.length + " " + JSON.stringify(rows[1])`, `5 ["John","30","New York, NY"]`},
		{`const f = await fs.open("data.csv"); const rows = await csv.parse(f, { skipFirstLine: true }); return rows.length + " " + rows[1][0] + " " + rows[2][0]`, "4 Jane Multi\nline"},
		{`const f = await fs.open("data.csv"); const rows = await csv.parse(f, { asObjects: true }); return rows.length + " " + JSON.stringify(rows[1])`, `4 {"name":"Jane","age":"25","city":"Quote \"here\""}`},
		{`const f = await fs.open("data.csv"); const rows = await csv.parse(f, { fromLine: 2, toLine: 3 }); return rows.map((r) => r[0]).join("|")`, "Jane|Multi\nline"},
		{`const f = await fs.open("semi.csv"); const rows = await csv.parse(f, { delimiter: ";" }); return JSON.stringify(rows[1])`, `["1","2"]`},
		{`const f = await fs.open("data.csv"); const rows = await csv.parse(f); try { rows[0] = 1; return "no error"; } catch (e) { return e.message; }`, "the array csv.parse returns is read-only"},
		{`const f = await fs.open("data.csv"); try { await csv.parse(f, { delimiter: "ab" }); } catch (e) { return e.message; }`, `csv.parse: delimiter must be one character other than a quote or a line break, not "ab"`},
		{`try { await csv.parse("data.csv"); } catch (e) { return e.message; }`, "csv.parse: the first argument must be a File from k6/experimental/fs open()"},
		// The streaming parser, as k6's docs use it.
		{`const f = await fs.open("data.csv"); const p = new csv.Parser(f, { skipFirstLine: true }); const out = [];
		  for (let i = 0; i < 10; i++) { const { done, value } = await p.next(); if (done) { out.push("done", value); break; } out.push(value[0]); }
		  return out.join("|")`, "John|Jane|Multi\nline|Bob|done|"},
		{`const f = await fs.open("data.csv"); const p = new csv.Parser(f, { asObjects: true }); const r = await p.next(); return r.value.city`, "New York, NY"},
	}
	for _, c := range cases {
		vu := exttest.New(nil)
		vu.Dir = dir
		if got := run(t, vu, c.body); got != c.want {
			t.Errorf("got %q, want %q\n%s", got, c.want, c.body)
		}
	}
}

// VUs of one run share one parsed table: the second VU's parse finds it.
func TestCSVParseShared(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "data.csv")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := exttest.New(nil), exttest.New(nil)
	b.Reg = a.Reg
	a.Dir, b.Dir = dir, dir
	body := `const f = await fs.open("data.csv"); const rows = await csv.parse(f); return rows.length`
	if got := run(t, a, body); got != "5" {
		t.Fatalf("first VU: %s", got)
	}
	// The file changes on disk: the run's second VU still sees the table
	// the first one parsed (what k6's shared parse gives too).
	if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := run(t, b, body); got != "5" {
		t.Fatalf("second VU parsed again (%s rows), the table is not shared", got)
	}
}
