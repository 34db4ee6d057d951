package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestForeignClientAndServer: Debian's Locust (FastHttpUser, keep-alive)
// as the client through --client-cmd and a FastAPI app under Debian's
// Hypercorn (trio worker) as the pods, scale 1 -> 2 at 2 s. Counted on the
// server side only: requests from Hypercorn's access log, new flows from the
// iptables endpoint counters. With keep-alive the added pod gets no new
// flow, as the write-up found.
func TestForeignClientAndServer(t *testing.T) {
	requireIPTables(t)
	if testing.Short() {
		t.Skip("-short: skipping the Locust/Hypercorn run")
	}
	if _, err := os.Stat("/usr/bin/locust"); err != nil {
		t.Skip("Debian's python3-locust not installed")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import hypercorn, trio, fastapi").Run(); err != nil {
		t.Skip("Debian's python3-hypercorn, python3-trio, python3-fastapi not installed")
	}
	foreign, err := filepath.Abs("testdata/foreign")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var progress lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{
		Proxy: ModeIPTables, Replicas: 1, OutDir: filepath.Join(dir, "out"),
		PodCommand: "env PYTHONPATH=" + foreign + " /usr/bin/python3 -m hypercorn --worker-class trio --access-logfile - --bind {{.IP}}:{{.HTTPPort}} app:app",
		ClientCmd:  "cd " + foreign + " && /usr/bin/locust -f users.py --headless -H {{.TargetHTTP}} -u 4 -r 4 -t 6s --only-summary",
		Events:     []Event{{At: 2 * time.Second, Kind: KindScale, Replicas: 2}},
		Progress:   &progress, Stdout: &progress, Stderr: &progress,
		ProbePeriod: 100 * time.Millisecond, StopGrace: 2 * time.Second,
	})
	t.Logf("lab output:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("locust exit code %d", res.ExitCode)
	}
	p1, p2 := res.PodStats["echo-server-1"], res.PodStats["echo-server-2"]
	if p1.Requests == nil || *p1.Requests < 20 || p1.RequestsSource != "access-log" {
		t.Fatalf("pod 1 requests from its access log: %+v", p1)
	}
	if p1.NewFlows == nil || *p1.NewFlows < 4 || p2.NewFlows == nil {
		t.Fatalf("new flows: pod 1 %+v, pod 2 %+v", p1.NewFlows, p2.NewFlows)
	}
	if *p2.NewFlows > 0 || (p2.Requests != nil && *p2.Requests > 0) {
		t.Errorf("the added pod got traffic over keep-alive: flows %d, requests %v", *p2.NewFlows, p2.Requests)
	}
	if p1.CPUSeconds == nil || *p1.CPUSeconds <= 0 {
		t.Errorf("pod 1 cpu seconds %v", p1.CPUSeconds)
	}
}
