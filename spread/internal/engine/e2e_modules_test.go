package engine_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2EStandardModules runs a script using k6/encoding, k6/crypto,
// k6/html, k6/data, k6/experimental/webcrypto and the crypto/TextEncoder
// globals
// through the real binary; its checks carry the assertions.
func TestE2EStandardModules(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "--no-color", "modules.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ html csrf") || !strings.Contains(r.stdout, "✓ 26 ✗ 0") {
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

// TestE2EExecution: k6/execution end to end. scenario.progress rises
// from 0 to 1 in both a timed and a counted scenario (issue 10's bug: it
// was always 0); vu.metrics.tags and .metadata reach the samples;
// check() tags; test.fail() ends the run with exit code 110 after it ran
// to the end.
func TestE2EExecution(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.json")
	r := spread(t, time.Minute, "run", "--no-color", "--out", "json="+out, "execution.js")
	expectCode(t, r, 110)
	if !strings.Contains(r.stderr, "marked by the script") {
		t.Errorf("stderr lacks the fail reason:\n%s", r.stderr)
	}
	prog := map[string][]float64{}
	for _, m := range regexp.MustCompile(`progress (\w+) ([0-9.e-]+)`).FindAllStringSubmatch(r.stderr, -1) {
		f, _ := strconv.ParseFloat(m[2], 64)
		prog[m[1]] = append(prog[m[1]], f)
	}
	for _, name := range []string{"timed", "counted"} {
		ps := prog[name]
		if len(ps) < 3 {
			t.Fatalf("%s: progress lines %v\n%s", name, ps, r.stderr)
		}
		for i, p := range ps {
			if p < 0 || p > 1 || i > 0 && p < ps[i-1] {
				t.Errorf("%s: progress %v must rise within 0..1", name, ps)
			}
		}
		if ps[len(ps)-1] <= 0.3 || ps[len(ps)-1] == ps[0] {
			t.Errorf("%s: progress %v does not move", name, ps)
		}
	}
	lines := jsonLines(t, out)
	var probes, taggedChecks, failedChecks int
	for _, l := range points(lines, "probe") {
		d := l
		tags, _ := d["tags"].(map[string]any)
		meta, _ := d["metadata"].(map[string]any)
		if !strings.HasPrefix(fmt.Sprint(tags["mytag"]), "v") || !strings.HasPrefix(fmt.Sprint(meta["trace_id"]), "trace-") {
			t.Errorf("probe sample without the VU's tag or metadata: %v", d)
		}
		probes++
	}
	for _, l := range points(lines, "checks") {
		d := l
		tags, _ := d["tags"].(map[string]any)
		if tags["checktag"] == "yes" {
			taggedChecks++
		}
		if _, ok := d["metadata"]; ok {
			t.Errorf("metadata deleted by the script still on %v", d)
		}
		if d["value"].(float64) != 1 {
			failedChecks++
			t.Errorf("failed check %v", tags["check"])
		}
	}
	if probes != 4 || taggedChecks != 4*7 || failedChecks != 0 {
		t.Errorf("probes %d, tagged checks %d, failed %d", probes, taggedChecks, failedChecks)
	}
}
