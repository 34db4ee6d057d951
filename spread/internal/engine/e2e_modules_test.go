package engine_test

import (
	"strings"
	"testing"
	"time"
)

// TestE2EStandardModules runs a script importing k6/encoding, k6/crypto
// and k6/html through the real binary; its checks carry the assertions.
func TestE2EStandardModules(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "--no-color", "modules.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ html csrf") || !strings.Contains(r.stdout, "✓ 14 ✗ 0") {
		t.Errorf("summary:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
