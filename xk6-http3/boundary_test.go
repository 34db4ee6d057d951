package http3

import (
	"os/exec"
	"strings"
	"testing"
)

// The extension boundary, as the Go toolchain sees it: this module (an
// extension built like any third party's) depends only on spread's public
// packages, and the compiler refuses it spread's internals.

func goTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain on PATH")
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	return string(out), err
}

func TestDependsOnlyOnPublicSpread(t *testing.T) {
	out, err := goTool(t, "list", "-deps", ".")
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	var spread []string
	for _, p := range strings.Fields(out) {
		if strings.HasPrefix(p, "spread.dev/spread/") {
			spread = append(spread, p)
			if strings.Contains(p, "/internal/") {
				t.Errorf("k6/x/http3 depends on %s", p)
			}
		}
	}
	if len(spread) == 0 {
		t.Fatalf("no spread package among the deps: %s", out)
	}
	t.Logf("spread packages: %v", spread)
}

func TestInternalImportRefused(t *testing.T) {
	out, err := goTool(t, "build", "-o", t.TempDir()+"/x", "./testdata/internalimport")
	if err == nil {
		t.Fatal("a package of another module imported spread.dev/spread/internal/engine and built")
	}
	if !strings.Contains(out, "use of internal package spread.dev/spread/internal/engine not allowed") {
		t.Fatalf("go build failed, but not for the internal import:\n%s", out)
	}
}
