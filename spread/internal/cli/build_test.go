package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildWithLocalExtension is the xk6 workflow end to end: an extension
// module written here (its own go.mod, requiring spread through a replace
// to the checkout) is linked by `spread build --with PATH`, the binary
// lists it in `version`, and a script importing k6/x/greet runs with it.
func TestBuildWithLocalExtension(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a spread binary")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain on PATH")
	}
	checkout, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	ext := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/xk6-greet\n\ngo 1.26\n\nrequire spread.dev/spread v0.0.0\n\nreplace spread.dev/spread => " + filepath.Join(checkout, "spread") + "\n",
		"greet.go": `package greet

import "spread.dev/spread/ext"

func init() { ext.Register("k6/x/greet", module{}) }

type module struct{}

func (module) NewModuleInstance(ext.VU) ext.Instance { return instance{} }

type instance struct{}

func (instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{"greet": func(n string) string { return "hello " + n }}}
}
`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(ext, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(t.TempDir(), "spread-greet")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	root := NewRoot()
	root.SetArgs([]string{"build", "--with", ext, "--output", bin, "--spread", checkout})
	root.SetOut(&out)
	root.SetErr(&errOut)
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("spread build: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "wrote "+bin) {
		t.Errorf("build output %q", out.String())
	}

	v, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, v)
	}
	for _, want := range []string{"example.com/xk6-greet", "spread.dev/xk6-http3", "k6/x/greet", "k6/x/http3", "k6/http"} {
		if !strings.Contains(string(v), want) {
			t.Errorf("version does not list %s:\n%s", want, v)
		}
	}

	script := filepath.Join(t.TempDir(), "greet.js")
	src := `import { greet } from 'k6/x/greet';
import { check } from 'k6';
export const options = { iterations: 2, thresholds: { checks: ['rate==1'] } };
export default function () {
  check(greet('spread'), { 'greets': (s) => s === 'hello spread' });
  console.log(greet('log'));
}
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	run, err := exec.CommandContext(ctx, bin, "run", "--quiet", "--no-summary", script).CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, run)
	}
	if !strings.Contains(string(run), "hello log") {
		t.Errorf("run output lacks the extension's answer:\n%s", run)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--with", "./no-such-folder"}, "no such folder"},
		{[]string{"build", "--spread", t.TempDir()}, "not spread's checkout"},
		{[]string{"build", "--with", t.TempDir()}, "not a Go module"},
	} {
		root := NewRoot()
		root.SetArgs(tc.args)
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&bytes.Buffer{})
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
