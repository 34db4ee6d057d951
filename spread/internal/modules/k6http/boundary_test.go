package k6http

import (
	"os/exec"
	"strings"
	"testing"
)

// k6/http is built like any extension: besides itself it uses only
// spread's public packages (ext, ext/httpkit), so everything it needs is
// available to third-party modules too. The one exception allowed is
// another JS module of spread's (k6/html, for res.html()): a module may
// build on a module, never on the engine's internals.
func TestDependsOnlyOnPublicSpread(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	self := "spread.dev/spread/internal/modules/k6http"
	n := 0
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "spread.dev/") && p != self {
			n++
			if strings.Contains(p, "/internal/") && !strings.HasPrefix(p, "spread.dev/spread/internal/modules/") {
				t.Errorf("k6/http depends on %s", p)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no spread package among the deps: %s", out)
	}
}
