package lab

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/internal/lab/netns"
)

// realBins builds the real spread and echo-server into one folder (so
// `spread lab` finds echo-server next to itself), or skips when the
// echo-server module is not in the workspace.
func realBins(t *testing.T) (spread string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the run with the real spread and echo-server")
	}
	realOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spread-lab-real-bin")
		if err != nil {
			realErr = err.Error()
			return
		}
		realDir = dir
		for _, b := range []struct{ out, pkg string }{
			{filepath.Join(dir, "spread"), "spread.dev/spread/cmd/spread"},
			{filepath.Join(dir, "echo-server"), "spread.dev/echo-server/cmd/echo-server"},
		} {
			out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput()
			if err != nil {
				if strings.Contains(string(out), "cannot find module") || strings.Contains(string(out), "no required module") || strings.Contains(string(out), "is not in std") {
					realSkip = b.pkg + " not buildable here (run from the go.work workspace): " + string(out)
				} else {
					realErr = "build " + b.pkg + ": " + err.Error() + "\n" + string(out)
				}
				return
			}
		}
	})
	if realSkip != "" {
		t.Skip(realSkip)
	}
	if realErr != "" {
		t.Fatal(realErr)
	}
	return filepath.Join(realDir, "spread")
}

var (
	realOnce                   sync.Once
	realDir, realErr, realSkip string
)

const realScript = `import http from 'k6/http';
export const options = { vus: 4, duration: __ENV.DUR || '4s' };
const params = __ENV.CLOSE ? { headers: { Connection: 'close' } } : {};
export default function () { http.get(__ENV.TARGET_HTTP + '/', params); }
`

type summaryPods struct {
	Pods map[string]struct {
		Requests float64 `json:"requests"`
		Share    float64 `json:"share"`
	} `json:"pods"`
}

// TestRealKeepAliveVersusClose runs `spread lab` (real CLI, spread run and
// echo-server) with a scale-up 1 -> 2 at 1.5 s: keep-alive connections stay
// on the first pod, Connection: close spreads onto the new one.
func TestRealKeepAliveVersusClose(t *testing.T) {
	spread := realBins(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	os.WriteFile(script, []byte(realScript), 0o644)
	for _, tc := range []struct {
		name     string
		env      []string
		min, max float64 // share of echo-server-2
	}{
		{"keepalive", nil, 0, 0.02},
		{"close", []string{"-e", "CLOSE=1"}, 0.12, 0.6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name)
			args := append([]string{"lab", "--replicas", "1", "--scale", "2@1500ms", "--out-dir", out, "--pod-arg=--delay=20ms", "--pod-arg=--access-log=false"}, tc.env...)
			args = append(args, script, "--", "-q")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, spread, args...)
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("spread lab: %v\n%s", err, b)
			}
			var sum summaryPods
			raw, err := os.ReadFile(filepath.Join(out, "summary-export.json"))
			if err == nil {
				err = json.Unmarshal(raw, &sum)
			}
			if err != nil {
				t.Fatalf("summary-export.json: %v\n%s", err, b)
			}
			share := sum.Pods["echo-server-2"].Share
			if share < tc.min || share > tc.max || sum.Pods["echo-server-1"].Requests < 20 {
				t.Errorf("new pod share %.3f, want [%.2f, %.2f]; pods %+v\n%s", share, tc.min, tc.max, sum.Pods, b)
			}
			var res Result
			raw, _ = os.ReadFile(filepath.Join(out, "events.json"))
			if err := json.Unmarshal(raw, &res); err != nil || len(res.Pods) != 2 || res.Pods[0].ServerRequests < 20 {
				t.Errorf("events.json: %v %+v", err, res.Pods)
			}
		})
	}
}

// TestRealSIGINTCleansUp interrupts `spread lab` while the script runs: the
// script is stopped, pods and namespaces are gone, exit code 105.
func TestRealSIGINTCleansUp(t *testing.T) {
	spread := realBins(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	os.WriteFile(script, []byte(realScript), 0o644)
	out := filepath.Join(dir, "out")
	cmd := exec.Command(spread, "lab", "--replicas", "2", "--out-dir", out, "-e", "DUR=60s", "--pod-arg=--access-log=false", script, "--", "-q")
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "script-started") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("script never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 105 {
			t.Errorf("exit: %v, want code 105\n%s", err, stderr.String())
		}
	case <-time.After(40 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("spread lab did not stop after SIGINT:\n%s", stderr.String())
	}
	assertPodsGone(t, out, 2, stderr.String())
	names, _ := netns.List()
	for _, n := range names {
		if strings.HasPrefix(n, netns.Prefix+strconv.Itoa(cmd.Process.Pid)+"-") {
			t.Errorf("namespace %s left", n)
		}
	}
	// No spread run child left either (it ran in the lab's process group).
	if out, _ := exec.Command("pgrep", "-f", script).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("processes still running the script: %s", out)
	}
}
