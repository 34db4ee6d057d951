package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// --l7-proxy haproxy: one keep-alive connection from curl to the proxy pod
// (through the Service), and after a scale-up the new pod serves requests
// of that same connection, because HAProxy picks a backend per request
// from the backend list the lab updates on the endpoint change. The
// proxy's CPU is counted apart from the pods'.
func TestL7ProxyFollowsEndpoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: proxy pods live in network namespaces (run as root)")
	}
	for _, tool := range []string{"haproxy", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			// In CI (.ci/run sets SPREAD_REQUIRE_PEERS) a skip would
			// hide a broken install.
			if os.Getenv("SPREAD_REQUIRE_PEERS") != "" {
				t.Fatalf("%s not installed (apt-get install %s) and SPREAD_REQUIRE_PEERS is set", tool, tool)
			}
			t.Skipf("%s not installed (apt-get install %s)", tool, tool)
		}
	}
	if iptablesMissing() != "" {
		t.Skip("iptables missing: " + iptablesMissing())
	}
	labpod, _, _ := bins(t)
	dir := t.TempDir()
	var progress lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// 40 URLs on one curl command line share one connection (curl reuses
	// it); the first wait lets the scale-up's pod become a backend.
	client := `sleep 2; for i in $(seq 40); do set -- "$@" -o /dev/null "$TARGET_HTTP/"; done; curl -sf "$@"`
	res, err := Run(ctx, Config{
		Proxy: ModeIPTables, Replicas: 1, PodCommand: podTemplate(labpod), OutDir: filepath.Join(dir, "out"),
		ProbePeriod: 50 * time.Millisecond, StopGrace: 2 * time.Second,
		Progress: &progress, Stdout: &progress, Stderr: &progress,
		L7Proxy: L7HAProxy, ClientCmd: client,
		Events: []Event{{At: 300 * time.Millisecond, Kind: KindScale, Replicas: 2}},
	})
	t.Logf("lab output:\n%s", progress.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("client exit code %d", res.ExitCode)
	}
	if res.L7 == nil || len(res.L7.Pods) != 1 || res.L7.CPUSeconds <= 0 {
		t.Fatalf("proxy tier not recorded: %+v", res.L7)
	}
	// curl's one connection is the one flow the Service sent the proxy.
	if res.L7.Flows["proxy-1"] != 1 {
		t.Errorf("proxy flows %v, want proxy-1: 1 (one client connection)", res.L7.Flows)
	}
	if res.ClientCPUSeconds == nil {
		t.Error("client CPU not recorded")
	}
	var total float64
	for _, name := range []string{"echo-server-1", "echo-server-2"} {
		st := res.PodStats[name]
		if st.Requests == nil || *st.Requests < 10 {
			t.Errorf("%s served %v of 40 requests of one client connection, want >= 10 (roundrobin)", name, st.Requests)
			continue
		}
		total += *st.Requests
	}
	if total < 40 {
		t.Errorf("pods served %v requests, want 40", total)
	}
}
