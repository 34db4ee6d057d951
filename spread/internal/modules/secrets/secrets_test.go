package secrets_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"

	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/internal/modules/secrets"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustSet(t *testing.T, specs []string, e map[string]string) *secrets.Set {
	t.Helper()
	var srcs []*secrets.Source
	for _, s := range specs {
		src, err := secrets.ParseSource(s, env(e))
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, src)
	}
	set, err := secrets.NewSet(srcs)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func get(t *testing.T, body string) string {
	t.Helper()
	vu := exttest.New(nil)
	src := "const secrets = require('k6/secrets'); var __out;\n(async () => {\n" + body +
		"\n})().then((v) => { __out = String(v); }, (e) => { __out = 'rejected: ' + e.message; });"
	if _, err := vu.RunString(src); err != nil {
		t.Fatal(err)
	}
	out := vu.RT.Get("__out")
	if out == nil || goja.IsUndefined(out) {
		t.Fatal("the promise did not settle")
	}
	return out.String()
}

// The sources k6 documents, as `--secret-source` values.
func TestSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets.file")
	if err := os.WriteFile(file, []byte("secret=very secret\n\n# a comment\nsomeotherkey=another secret\nwith=equals=inside\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets.Configure(mustSet(t, []string{
		"file=" + file,
		"mock=name=another,cool=not cool secret",
		"env=prefix=APP_,name=env",
	}, map[string]string{"APP_TOKEN": "t0k3n"}))
	defer secrets.Configure(nil)
	cases := []struct{ body, want string }{
		{`return await secrets.source("env").get("TOKEN")`, "t0k3n"},
		{`return await secrets.source("another").get("cool")`, "not cool secret"},
		{`return await secrets.source("another").get("nope")`, `rejected: no secret "nope" in the mock "another" source`},
		{`return await secrets.source("missing").get("x")`, `rejected: secrets: no secret source named "missing"`},
		{`return await secrets.get("secret")`, "rejected: secrets: several sources and none is the default (add ,default to one --secret-source, or use secrets.source(name))"},
	}
	for _, c := range cases {
		if got := get(t, c.body); got != c.want {
			t.Errorf("%s: got %q, want %q", c.body, got, c.want)
		}
	}
	// With a default, secrets.get reads it; a lone source is the default.
	secrets.Configure(mustSet(t, []string{"file=name=f,filename=" + file + ",default", "mock=x=y"}, nil))
	for body, want := range map[string]string{
		`return await secrets.get("secret")`:                   "very secret",
		`return await secrets.get("with")`:                     "equals=inside",
		`return await secrets.source("f").get("someotherkey")`: "another secret",
	} {
		if got := get(t, body); got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
	secrets.Configure(mustSet(t, []string{"env"}, map[string]string{"HOME_DIR": "/h"}))
	if got := get(t, `return await secrets.get("HOME_DIR")`); got != "/h" {
		t.Errorf("lone env source: %q", got)
	}
	secrets.Configure(nil)
	if got := get(t, `return await secrets.get("x")`); !strings.Contains(got, "no secret source is configured") {
		t.Errorf("no sources: %q", got)
	}
}

func TestRedact(t *testing.T) {
	secrets.Configure(mustSet(t, []string{"mock=a=hunter2,b=hunter22"}, nil))
	defer secrets.Configure(nil)
	if got := get(t, `return (await secrets.get("a")) + (await secrets.get("b"))`); got != "hunter2hunter22" {
		t.Fatal(got)
	}
	if got := secrets.Redact("pw=hunter22 and hunter2."); got != "pw=***SECRET_REDACTED*** and ***SECRET_REDACTED***." {
		t.Errorf("redacted: %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("ok=1\nnot a pair\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"vault=x":             "unknown source \"vault\"",
		"file=":               "needs a file",
		"file=" + bad:         bad + ":2: want KEY=VALUE",
		"file=/nonexistent/f": "no such file",
		"env=suffix=x":        "unknown env option",
		"mock=justakey":       "mock options are KEY=VALUE",
	} {
		_, err := secrets.ParseSource(spec, env(nil))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", spec, err, want)
		}
	}
	a, _ := secrets.ParseSource("mock=name=x,default,a=1", env(nil))
	b, _ := secrets.ParseSource("mock=name=x,b=2", env(nil))
	if _, err := secrets.NewSet([]*secrets.Source{a, b}); err == nil || !strings.Contains(err.Error(), "two sources are named") {
		t.Errorf("duplicate names: %v", err)
	}
	c, _ := secrets.ParseSource("mock=default,c=3", env(nil))
	if _, err := secrets.NewSet([]*secrets.Source{a, c}); err == nil || !strings.Contains(err.Error(), "more than one source is marked default") {
		t.Errorf("two defaults: %v", err)
	}
}
