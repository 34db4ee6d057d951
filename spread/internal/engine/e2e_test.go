package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// spreadBin is the spread binary built once for the end-to-end tests.
var spreadBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spread-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	spreadBin = filepath.Join(dir, "spread")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	build := exec.CommandContext(ctx, "go", "build", "-o", spreadBin, "../../cmd/spread")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	err = build.Run()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "build spread:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// spread runs the binary in the scripts folder with a deadline.
func spread(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, args...)
	cmd.Dir = "../../testdata/scripts"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("spread %v: timed out after %s\nstderr:\n%s", args, timeout, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("spread %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

func expectCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("Go stack trace on stderr:\n%s", r.stderr)
	}
}

// jsonLines reads a k6 NDJSON file; every line must be complete JSON.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s line %d is not JSON (%v): %q", path, n, err, sc.Text())
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// points returns the Point lines of metric.
func points(lines []map[string]any, metric string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["type"] == "Point" && l["metric"] == metric {
			out = append(out, l["data"].(map[string]any))
		}
	}
	return out
}

func TestE2EESMCustomMetricsAndJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, exp := filepath.Join(dir, "out.json"), filepath.Join(dir, "summary.json")
	r := spread(t, time.Minute, "run", "-q", "--tag", "cli=yes", "-o", "json="+out, "--summary-export", exp, "esm.js")
	expectCode(t, r, 0)
	for _, want := range []string{"my_requests", "my_wait", "✓ token passed", "my_good"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	lines := jsonLines(t, out)
	var metricLines int
	for _, l := range lines {
		if l["type"] == "Metric" && l["metric"] == "my_wait" {
			metricLines++
			d := l["data"].(map[string]any)
			if d["type"] != "trend" || d["contains"] != "time" {
				t.Errorf("my_wait Metric line = %v", d)
			}
		}
	}
	if metricLines != 1 {
		t.Errorf("%d Metric lines for my_wait, want 1", metricLines)
	}
	reqs := points(lines, "my_requests")
	if len(reqs) != 10 {
		t.Fatalf("%d my_requests points, want 10", len(reqs))
	}
	tags := reqs[0]["tags"].(map[string]any)
	for k, v := range map[string]string{"suite": "e2e", "cli": "yes", "scenario": "default", "group": "::step"} {
		if tags[k] != v {
			t.Errorf("tag %s = %v, want %s (tags %v)", k, tags[k], v, tags)
		}
	}
	if it := points(lines, "iterations"); len(it) != 10 {
		t.Errorf("%d iterations points, want 10", len(it))
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	b, err := os.ReadFile(exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatalf("summary export: %v", err)
	}
	if c := sum.Metrics["my_requests"]["count"]; c != 10.0 {
		t.Errorf("summary my_requests count = %v, want 10", c)
	}
}

func TestE2ETypeScriptWithImportsAndOpen(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "-q", "typed.ts")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ greets") || !strings.Contains(r.stdout, "ts_latency") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	// A thrown error is reported at its place in the TypeScript source.
	r = spread(t, time.Minute, "run", "-q", "--no-summary", "-u", "1", "-i", "1", "-e", "EXPLODE=1", "typed.ts")
	expectCode(t, r, 0)
	for _, want := range []string{"typed explosion", "lib/util.ts:6:", "typed.ts:15:"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestE2ESeveralScenarios(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	r := spread(t, time.Minute, "run", "-q", "-o", "json="+out, "multi.js")
	expectCode(t, r, 0) // the script's thresholds check per-scenario counts
	seen := map[string]int{}
	for _, p := range points(jsonLines(t, out), "per_scenario") {
		seen[p["tags"].(map[string]any)["scenario"].(string)]++
	}
	for _, sc := range []string{"looping", "shared", "per_vu", "rate", "ramp", "rrate"} {
		if seen[sc] == 0 {
			t.Errorf("no samples from scenario %s (%v)", sc, seen)
		}
	}
	if seen["shared"] != 10 || seen["per_vu"] != 6 {
		t.Errorf("shared=%d per_vu=%d, want 10 and 6", seen["shared"], seen["per_vu"])
	}
}

func TestE2EFailingThresholdExits99(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "--no-color", "fail.js")
	expectCode(t, r, 99)
	if !strings.Contains(r.stdout, "✗") || !strings.Contains(r.stdout, "rate>0.9") {
		t.Errorf("summary does not mark the failed threshold:\n%s", r.stdout)
	}
}

func TestE2EScriptErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		script string
		code   int
		want   []string
	}{
		{"syntax.js", 107, []string{"syntax.js:3:11", "Unexpected"}},
		{"initerror.js", 107, []string{"lib/broken.js:2:", "length"}},
		{"setuptimeout.js", 100, []string{"setup() execution timed out after 300ms"}},
		{"abort.js", 108, []string{"enough", "teardown ran"}},
		{"no-such-script.js", 104, []string{"no-such-script.js"}},
	}
	for _, tt := range tests {
		t.Run(tt.script, func(t *testing.T) {
			r := spread(t, time.Minute, "run", "-q", tt.script)
			expectCode(t, r, tt.code)
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
}

func TestE2EHandleSummary(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "hs.json")
	r := spread(t, time.Minute, "run", "-e", "OUT_FILE="+file, "summary.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "things=6\n") {
		t.Errorf("stdout lacks handleSummary's text:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "TOTAL RESULTS") || strings.Contains(r.stdout, "iteration_duration") {
		t.Errorf("default summary printed although handleSummary exists:\n%s", r.stdout)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"count":6,"iters":3}` {
		t.Errorf("handleSummary file = %s", b)
	}
}

func TestE2ESIGINTStopsGracefully(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, "run", "--progress", "none", "-o", "json="+out, "long.js")
	cmd.Dir = "../../testdata/scripts"
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until iterations run (samples reach the file), then interrupt.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte(`"metric":"ticks"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no samples after 20s; stderr:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 105 {
		t.Fatalf("exit code %d, want 105\nstderr:\n%s", code, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("graceful stop took %s", d)
	}
	if !strings.Contains(stdout.String(), "ticks") || !strings.Contains(stdout.String(), "iterations") {
		t.Errorf("no summary after SIGINT:\n%s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "teardown ran") {
		t.Errorf("teardown did not run:\n%s", stderr.String())
	}
	lines := jsonLines(t, out)
	if len(points(lines, "ticks")) == 0 {
		t.Error("no ticks points in the JSON output")
	}
}

func TestE2EExecutionSegmentsSplitTheWork(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seq := "0,1/3,2/3,1"
	segs := []string{"0:1/3", "1/3:2/3", "2/3:1"}
	its := map[string]int{}
	vus := map[string]bool{}
	for i, seg := range segs {
		out := filepath.Join(dir, fmt.Sprintf("seg%d.json", i))
		r := spread(t, time.Minute, "run", "-q", "--execution-segment", seg, "--execution-segment-sequence", seq,
			"-o", "json="+out, "segment.js")
		expectCode(t, r, 0)
		for _, p := range points(jsonLines(t, out), "seen") {
			tags := p["tags"].(map[string]any)
			its[tags["it"].(string)]++
			vus[tags["vu"].(string)] = true
		}
	}
	if len(its) != 12 {
		t.Errorf("%d distinct iterationInTest values, want 12: %v", len(its), its)
	}
	for it, n := range its {
		if n != 1 {
			t.Errorf("iterationInTest %s ran %d times", it, n)
		}
	}
	if len(vus) != 3 {
		t.Errorf("vu.idInTest values %v, want 3 distinct", vus)
	}
}

func TestE2EInspect(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "inspect", "-d", "5s", "--tag", "a=b", "multi.js")
	expectCode(t, r, 0)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("inspect output is not JSON: %v\n%s", err, r.stdout)
	}
	sc := got["scenarios"].(map[string]any)
	if len(sc) != 1 || sc["default"].(map[string]any)["executor"] != "constant-vus" {
		t.Errorf("-d should replace the script's scenarios: %v", sc)
	}
	if got["tags"].(map[string]any)["a"] != "b" {
		t.Errorf("tags = %v", got["tags"])
	}
	if _, ok := got["thresholds"]; !ok {
		t.Error("thresholds missing")
	}
	r = spread(t, time.Minute, "inspect", "-d", "nonsense", "multi.js")
	expectCode(t, r, 104)
}

func TestE2ESecondSIGINTStopsAtOnce(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, "run", "--progress", "none", "-o", "json="+out, "stuck.js")
	cmd.Dir = "../../testdata/scripts"
	var stdout bytes.Buffer
	var stderr lockedBuffer // read while the process writes it
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	waitSamples := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if bytes.Contains(b, []byte(`"metric":"started"`)) {
			break
		}
		if time.Now().After(waitSamples) {
			t.Fatalf("no samples after 20s; stderr:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	go func() { done <- cmd.Wait() }()
	_ = cmd.Process.Signal(syscall.SIGINT)
	// The iterations sleep 30 s with a 30 s gracefulStop: as in k6, the
	// first signal interrupts them at once and teardown starts.
	first := time.Now()
	for !strings.Contains(stderr.String(), "teardown started") {
		select {
		case err := <-done:
			t.Fatalf("exited after the first signal (%v); stderr:\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(first) > 8*time.Second {
			t.Fatalf("teardown not started 8s after the first signal (iterations not interrupted); stderr:\n%s", stderr.String())
		}
	}
	start := time.Now()
	_ = cmd.Process.Signal(syscall.SIGINT)
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after the second signal")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("hard stop took %s", d)
	}
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 105 {
		t.Fatalf("exit = %v, want code 105\nstderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "teardown ran") {
		t.Error("teardown ran after a hard stop")
	}
	if !strings.Contains(stdout.String(), "started") {
		t.Errorf("no summary after the hard stop:\n%s", stdout.String())
	}
	if len(points(jsonLines(t, out), "started")) != 2 {
		t.Errorf("want 2 started points in the complete JSON file")
	}
}

func TestE2EAbortOnFail(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := spread(t, time.Minute, "run", "-q", "--no-color", "abortonfail.js")
	expectCode(t, r, 99)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("abortOnFail did not stop the 30s test early (%s)", d)
	}
	if !strings.Contains(r.stdout, "count<5") {
		t.Errorf("summary lacks the threshold:\n%s", r.stdout)
	}
}

func TestE2EConsoleJSONLogs(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "-q", "--no-summary", "--log-format", "json", "logjson.js")
	expectCode(t, r, 0)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q", line)
		}
		if m["msg"] == `careful {"n":1}` {
			found = true
			if m["level"] != "warn" || m["vu"] != 1.0 || m["source"] != "console" {
				t.Errorf("log line = %v", m)
			}
		}
	}
	if !found {
		t.Errorf("console.warn line not found:\n%s", r.stderr)
	}
}

func TestE2EJSLibTextSummaryIsServedLocally(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "-q", "jslib.js")
	expectCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "CUSTOM\n") || !strings.Contains(r.stdout, "jslib_things") {
		t.Errorf("handleSummary with textSummary:\n%s", r.stdout)
	}
}

// lockedBuffer is a bytes.Buffer that a test may read while a child
// process's output is copied into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestE2EVUsInitialized: exec.instance.vusInitialized counts the test's
// VUs only (k6), not the VU that reads the options or runs setup().
func TestE2EVUsInitialized(t *testing.T) {
	t.Parallel()
	r := spread(t, time.Minute, "run", "-q", "--no-summary", "vusinit.js")
	expectCode(t, r, 0)
	if n := strings.Count(r.stderr, "iter vusInitialized=3"); n != 3 {
		t.Errorf("want 3 iterations seeing vusInitialized=3, got %d:\n%s", n, r.stderr)
	}
	if !strings.Contains(r.stderr, "setup vusInitialized=3") {
		t.Errorf("setup() should see vusInitialized=3:\n%s", r.stderr)
	}
}

// TestE2EPerVUIterationsRunsEachVU: with per-vu-iterations and 2 VUs,
// VU 1 and VU 2 each run __ITER 0..2 (the slots once shared VU 1 when
// the first finished before the second asked the pool for a VU).
func TestE2EPerVUIterationsRunsEachVU(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	script := filepath.Join(dir, "pv.js")
	src := `import exec from 'k6/execution';
export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 2, iterations: 3 } } };
export default function () { console.log("it vu=" + __VU + " iter=" + __ITER + " id=" + exec.vu.idInTest); }
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "vu=1 iter=0 id=1,vu=1 iter=1 id=1,vu=1 iter=2 id=1,vu=2 iter=0 id=2,vu=2 iter=1 id=2,vu=2 iter=2 id=2"
	line := regexp.MustCompile(`it (vu=\d+ iter=\d+ id=\d+)`)
	for run := 0; run < 3; run++ { // the race was intermittent: a few runs
		r := spread(t, time.Minute, "run", "--no-color", "--quiet", script)
		expectCode(t, r, 0)
		var got []string
		for _, m := range line.FindAllStringSubmatch(r.stdout+r.stderr, -1) {
			got = append(got, m[1])
		}
		sort.Strings(got)
		if g := strings.Join(got, ","); g != want {
			t.Fatalf("run %d: iterations\n%s\nwant\n%s", run, g, want)
		}
	}
}
