package lab

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --client-cmd: curl (a client spread knows nothing of) runs in the
// client's place, the targets come from the template and the env, the lab
// exits with its code, and the servers' side counts what it did.
func TestClientCmdCountedOnServerSide(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (apt-get install curl)")
	}
	proxy := ModeUserspace
	if iptablesMissing() == "" {
		proxy = ModeIPTables
	}
	labpod, _, _ := bins(t)
	dir := t.TempDir()
	var progress lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{
		Proxy: proxy, Replicas: 2, PodCommand: podTemplate(labpod), OutDir: filepath.Join(dir, "out"),
		ProbePeriod: 50 * time.Millisecond, StopGrace: 2 * time.Second,
		Progress: &progress, Stdout: &progress, Stderr: &progress,
		ClientCmd: `for i in 1 2 3 4 5 6 7 8 9; do curl -sf -o /dev/null "$TARGET_HTTP/" || exit 1; done; curl -sf -o /dev/null {{.TargetHTTP}}/ && exit 7`,
	})
	t.Logf("lab output:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 {
		t.Fatalf("exit code %d, want the client's 7", res.ExitCode)
	}
	checkPodStats(t, res, 10, 10)
}

// up: the lab stays up, prints its targets and how to enter the client
// side, and tears down when its context ends.
func TestUpUntilCancelled(t *testing.T) {
	labpod, _, _ := bins(t)
	dir := t.TempDir()
	var progress lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var res *Result
	var err error
	go func() {
		defer close(done)
		res, err = Run(ctx, Config{Proxy: ModeUserspace, Replicas: 1, PodCommand: podTemplate(labpod), OutDir: filepath.Join(dir, "out"),
			ProbePeriod: 50 * time.Millisecond, StopGrace: time.Second, Up: true,
			Progress: &progress, Stdout: &progress, Stderr: &progress,
			Events: []Event{{At: 200 * time.Millisecond, Kind: KindScale, Replicas: 2}}})
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(progress.String(), "pod-added echo-server-2") {
		if time.Now().After(deadline) {
			t.Fatalf("timeline never ran:\n%s", progress.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("up did not stop")
	}
	out := progress.String()
	if err != nil || !strings.Contains(out, "TARGET_HTTP=http://127.0.0.1:") || !strings.Contains(out, "enter the client's side") {
		t.Fatalf("up: %v\n%s", err, out)
	}
	assertPodsGone(t, filepath.Join(dir, "out"), 2, out)
	if res.ExitCode != 0 {
		t.Errorf("exit code %d", res.ExitCode)
	}
}
