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

// TestE2EAsyncAndTimers: async iterations, timers and async setup and
// teardown work end to end, and an async function that rejects is logged
// as k6 logs it ("Uncaught (in promise)", the stack at the user's line)
// without failing the run (issue 10's bug: it was silent).
func TestE2EAsyncAndTimers(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "--no-color", "async.js")
	expectCode(t, r, 0)
	for _, w := range []string{"Uncaught (in promise) Error: async failure 0", "Uncaught (in promise) Error: async failure 1",
		"async.js:42:9", "async teardown ran"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if !strings.Contains(r.stdout, "✓ 9 ✗ 0") && !strings.Contains(r.stdout, "9 out of 9") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}
