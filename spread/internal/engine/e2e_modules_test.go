package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
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

// TestE2ESecrets: file, env and mock sources through --secret-source; the
// script's console.log of the values comes out redacted.
func TestE2ESecrets(t *testing.T) {
	t.Parallel()
	r := spreadIn(t, "../../testdata/scripts", time.Minute, []string{"SPREAD_TEST_PASSWORD=hunter2"}, "run", "--no-color",
		"--secret-source=file=name=f,filename=lib/secrets.file,default",
		"--secret-source=env=prefix=SPREAD_TEST_,name=env",
		`--secret-source=mock=name=cli,cool=cool secret`,
		"secrets.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ 4 ✗ 0") {
		t.Errorf("checks:\n%s", r.stdout)
	}
	want := "token=***SECRET_REDACTED*** password=***SECRET_REDACTED*** cool=***SECRET_REDACTED***"
	if !strings.Contains(r.stderr, want) {
		t.Errorf("log line not redacted, want %q in:\n%s", want, r.stderr)
	}
	for _, leak := range []string{"s3cr3t-token", "hunter2", "cool secret"} {
		if strings.Contains(r.stderr+r.stdout, leak) {
			t.Errorf("secret %q leaked to the output", leak)
		}
	}
	bad := spread(t, time.Minute, "run", "--secret-source=vault=x", "secrets.js")
	expectCode(t, bad, 104)
	if !strings.Contains(bad.stderr, `unknown source "vault"`) {
		t.Errorf("bad source: %s", bad.stderr)
	}
}

// spreadIn is spread() in another folder, with extra environment variables.
func spreadIn(t *testing.T, dir string, timeout time.Duration, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
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

// TestE2ECSVAgainstPapaparse parses Debian's release table
// (distro-info-data's debian.csv) with k6/experimental/csv and with
// papaparse from npm in the same script; its checks compare them.
func TestE2ECSVAgainstPapaparse(t *testing.T) {
	t.Parallel()
	const table = "/usr/share/distro-info/debian.csv"
	data, err := os.ReadFile(table)
	if err != nil {
		t.Skipf("%s missing (Debian package distro-info-data): %v", table, err)
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not installed: cannot fetch papaparse")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	npm := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "papaparse@5")
	if out, err := npm.CombinedOutput(); err != nil {
		t.Skipf("npm install papaparse failed (registry unreachable?): %v\n%s", err, out)
	}
	script, err := os.ReadFile("../../testdata/scripts/csv.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"csv.js": script, "debian.csv": data} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := spreadIn(t, dir, 2*time.Minute, nil, "run", "--no-color", "csv.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ 36 ✗ 0") {
		t.Errorf("checks:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	// The file fs.open() read goes into the archive: the archive runs
	// alone in an empty folder.
	tarPath := filepath.Join(t.TempDir(), "csv.tar")
	expectCode(t, spreadIn(t, dir, time.Minute, nil, "archive", "csv.js", "-O", tarPath), 0)
	r = spreadIn(t, filepath.Dir(tarPath), 2*time.Minute, nil, "run", "--no-color", tarPath)
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ 36 ✗ 0") {
		t.Errorf("from the archive, checks:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// TestE2ETopLevelAwaitImportsPapaparseUMD: a script with top-level await
// importing papaparse's own UMD build (from `npm pack papaparse`) as a
// local file, the way k6 users vendor it.
func TestE2ETopLevelAwaitImportsPapaparseUMD(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm not installed: cannot fetch papaparse")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pack := exec.CommandContext(ctx, "npm", "pack", "--silent", "papaparse@5")
	pack.Dir = dir
	out, err := pack.CombinedOutput()
	if err != nil {
		t.Skipf("npm pack papaparse failed (registry unreachable?): %v\n%s", err, out)
	}
	tgz := strings.TrimSpace(string(out))
	if i := strings.LastIndex(tgz, "\n"); i >= 0 {
		tgz = tgz[i+1:]
	}
	untar := exec.CommandContext(ctx, "tar", "-xzf", tgz, "-C", dir, "package/papaparse.js")
	untar.Dir = dir
	if out, err := untar.CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(dir, "package", "papaparse.js"), filepath.Join(dir, "papaparse.js")); err != nil {
		t.Fatal(err)
	}
	script := `import Papa from './papaparse.js';
import { check } from 'k6';
const rows = await Promise.resolve(Papa.parse("name,n\na,1\nb,2\n", { header: true, skipEmptyLines: true }).data);
export const options = { iterations: 1 };
export default function () {
  check(rows, { "two rows": (r) => r.length === 2, "b is 2": (r) => r[1].n === "2" });
}
`
	if err := os.WriteFile(filepath.Join(dir, "tla.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	r := spreadIn(t, dir, 2*time.Minute, nil, "run", "--no-color", "tla.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ 2 ✗ 0") {
		t.Errorf("checks:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}
