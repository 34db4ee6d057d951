package engine_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EK6RunFlags: k6's K6_OUT, K6_NO_SUMMARY, --no-thresholds,
// --no-setup, --no-teardown, --summary-trend-stats and -c/--config,
// through the real binary.
func TestE2EK6RunFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	scripts, err := filepath.Abs("../../testdata/scripts")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(scripts, "k6flags.js")

	// Thresholds fail without the flags (exit 99), setup/teardown run.
	r := spreadIn(t, dir, time.Minute, nil, "run", "-q", script)
	expectCode(t, r, 99)

	// K6_OUT: two comma-separated outputs; K6_NO_SUMMARY=true.
	j, c := filepath.Join(dir, "o.json"), filepath.Join(dir, "o.csv")
	r = spreadIn(t, dir, time.Minute, []string{"K6_OUT=json=" + j + ",csv=" + c, "K6_NO_SUMMARY=true"},
		"run", "-q", "--no-thresholds", "--no-setup", "--no-teardown", script)
	expectCode(t, r, 0)
	for _, f := range []string{j, c} {
		if b, err := os.ReadFile(f); err != nil || !strings.Contains(string(b), "waits") {
			t.Errorf("K6_OUT output %s: %v (%d bytes)", f, err, len(b))
		}
	}
	if strings.Contains(r.stdout, "waits") {
		t.Errorf("K6_NO_SUMMARY=true still printed the summary:\n%s", r.stdout)
	}
	if strings.Contains(r.stderr, "setup ran") || strings.Contains(r.stderr, "teardown ran") {
		t.Errorf("--no-setup/--no-teardown: setup or teardown ran:\n%s", r.stderr)
	}
	// --out outranks K6_OUT.
	j2 := filepath.Join(dir, "flag.json")
	r = spreadIn(t, dir, time.Minute, []string{"K6_OUT=json=" + filepath.Join(dir, "env.json")},
		"run", "-q", "--no-thresholds", "-o", "json="+j2, script)
	expectCode(t, r, 0)
	if _, err := os.Stat(j2); err != nil {
		t.Errorf("--out file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.json")); err == nil {
		t.Error("K6_OUT was used although --out was given")
	}
	if !strings.Contains(r.stderr, "setup ran") || !strings.Contains(r.stderr, "teardown ran") {
		t.Errorf("setup/teardown should run by default:\n%s", r.stderr)
	}

	// --summary-trend-stats picks the columns.
	r = spreadIn(t, dir, time.Minute, nil, "run", "-q", "--no-thresholds", "--summary-trend-stats", "count,p(99.9)", script)
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "p(99.9)=") || strings.Contains(r.stdout, "med=") {
		t.Errorf("--summary-trend-stats count,p(99.9) not honoured:\n%s", r.stdout)
	}

	// -c: the config file's options are the lowest tier, its "out" is used.
	cfgFile, j3 := filepath.Join(dir, "config.json"), filepath.Join(dir, "cfg.json")
	if err := os.WriteFile(cfgFile, []byte(`{"vus": 2, "iterations": 4, "out": ["json=`+j3+`"], "collectors": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r = spreadIn(t, dir, time.Minute, nil, "run", "-q", "--no-thresholds", "-c", cfgFile, script)
	expectCode(t, r, 0)
	// The script's iterations: 2 outranks the file's 4; vus 2 comes from the file.
	if n := strings.Count(r.stderr, "vus option"); n != 2 {
		t.Errorf("%d iterations, want the script's 2:\n%s", n, r.stderr)
	}
	if b, err := os.ReadFile(j3); err != nil || !strings.Contains(string(b), "waits") {
		t.Errorf("config file's out: %v", err)
	}
	r = spreadIn(t, dir, time.Minute, nil, "run", "-q", "-c", filepath.Join(dir, "nope.json"), script)
	expectCode(t, r, 104)
	r = spreadIn(t, dir, time.Minute, []string{"K6_NO_SUMMARY=maybe"}, "run", "-q", script)
	expectCode(t, r, 104)
}

// TestE2ELinger: --linger keeps the process after the test until a signal.
func TestE2ELinger(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, "run", "-q", "--no-summary", "--no-thresholds", "--linger", "k6flags.js")
	cmd.Dir = "../../testdata/scripts"
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "waiting for Ctrl+C") {
		select {
		case err := <-done:
			t.Fatalf("exited (%v) instead of lingering:\n%s", err, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no linger message after 30s:\n%s", stderr.String())
		}
	}
	select {
	case err := <-done:
		t.Fatalf("exited (%v) while lingering", err)
	case <-time.After(time.Second):
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after linger: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still lingering 10s after SIGINT")
	}
}
