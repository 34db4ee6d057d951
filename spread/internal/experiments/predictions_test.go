package experiments

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/internal/experiments/plan"
	"spread.dev/spread/internal/report"
)

// predictionsPlan is DESIGN.md section 1 in short runs: each experiment's
// expect is the prediction, checked with plan's tolerances. Sized to stay
// quick here: a few seconds each, 10-20 VUs, a 100 ms server delay.
const predictionsPlan = `
defaults:
  vus: 20
  duration: 7s
  settle: 1s
  pod_args: ["--delay=100ms", "--max-inflight=10", "--drain=1s"]
experiments:
  - {name: keepalive-zero, script: baseline_h1.js, protocol: h1, mode: keep-alive, scale: 2@2500ms, expect: zero}
  - {name: close-fair, script: close_h1.js, protocol: h1, mode: close, scale: 2@2500ms, expect: fair}
  - name: h3-fresh-fair
    script: scale_h3.js
    protocol: h3
    mode: per-request-fresh
    env: {MODE: per-request, SOCKET: fresh}
    vus: 10
    scale: 2@2500ms
    expect: fair
  - name: h3-shared-pinned
    script: scale_h3.js
    protocol: h3
    mode: per-request-shared
    env: {MODE: per-request, SOCKET: shared}
    vus: 10
    scale: 2@2500ms
    expect: pinned
  - name: h3-mux-pinned
    script: scale_h3.js
    protocol: h3
    mode: multiplexed
    env: {MODE: multiplexed}
    pod_args: ["--max-inflight=100"]
    scale: 2@2500ms
    expect: pinned
  - name: recycle-converges
    script: baseline_h1.js
    protocol: h1
    mode: keep-alive+server-max-age
    pod_args: ["--max-conn-age=1500ms"]
    duration: 9s
    scale: 2@2500ms
    expect: converges
  - name: rolling-restart-no-loss
    script: baseline_h1.js
    protocol: h1
    mode: keep-alive
    replicas: 2
    duration: 10s
    events: [{at: 2s, kind: rolling-restart}]
    expect: no-errors
  # WebSocket sessions (k6/ws) are pinned like keep-alive; the server's
  # max age closes them with 1001 and the reconnects spread.
  - {name: ws-held-zero, script: scale_ws.js, protocol: ws, mode: held-open, scale: 2@2500ms, expect: zero}
  - name: ws-max-age-converges
    script: scale_ws.js
    protocol: ws
    mode: held-open+server-max-age
    pod_args: ["--max-conn-age=1500ms"]
    duration: 9s
    scale: 2@2500ms
    expect: converges
  # gRPC (k6/net/grpc): the rows the 10-minute plan has no room for.
  # MaxConnectionAge GOAWAYs make per-VU connections re-dial the Service;
  # a scale-down drains then GOAWAYs, and no RPC fails.
  - name: grpc-max-age-converges
    script: scale_grpc.js
    protocol: grpc
    mode: per-vu+server-max-age
    env: {MODE: per-vu}
    pod_args: ["--max-conn-age=1500ms"]
    duration: 9s
    scale: 2@2500ms
    expect: converges
  - name: grpc-scaledown-no-errors
    script: scale_grpc.js
    protocol: grpc
    mode: per-vu
    env: {MODE: per-vu}
    replicas: 2
    duration: 7s
    scale: 1@2s
    expect: no-errors
  # The client's QUIC idle timeout is cut to 6 s so a stall shows in a
  # short run (the default is 30 s). A 2 s think time leaves most VUs idle
  # at the removal: their next request is what meets the other pod (a
  # request in flight at that moment stalls even with shared keys, see
  # docs/EXPERIMENTS.md).
  - name: scaledown-stall
    script: scale_h3.js
    protocol: h3
    mode: single-connection
    env: {MODE: single-connection, IDLE_TIMEOUT: 6s, SLEEP: "2"}
    pod_args: ["--max-inflight=100"]
    vus: 20
    replicas: 2
    duration: 10s
    scale: 1@2s
    expect: stall
  - name: scaledown-shared-keys-recovers
    script: scale_h3.js
    protocol: h3
    mode: single-connection
    env: {MODE: single-connection, IDLE_TIMEOUT: 6s, SLEEP: "2"}
    pod_args: ["--max-inflight=100"]
    shared_quic_keys: true
    vus: 20
    replicas: 2
    duration: 10s
    scale: 1@2s
    expect: recovers
`

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	buildOut  []byte
)

// buildBinaries builds spread and echo-server once for the package's tests.
func buildBinaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "spread-experiments-bin-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, pkg := range []string{"spread.dev/spread/cmd/spread", "spread.dev/echo-server/cmd/echo-server"} {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir, pkg)
			if buildOut, buildErr = cmd.CombinedOutput(); buildErr != nil {
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, buildOut)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// TestPredictions runs DESIGN.md section 1's predictions through the real
// lab (spread, echo-server, the emulated Service) in both proxy modes, the
// two modes side by side to bound the time.
func TestPredictions(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the predictions run real lab experiments (~2 min)")
	}
	bins := buildBinaries(t)
	p, err := plan.Parse([]byte(predictionsPlan))
	if err != nil {
		t.Fatal(err)
	}
	p.Dir, err = filepath.Abs(filepath.Join("..", "..", "..", "scripts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, proxy := range []string{"userspace", "iptables"} {
		t.Run(proxy, func(t *testing.T) {
			if proxy == "iptables" {
				if os.Geteuid() != 0 {
					t.Skip("the iptables lab needs root (network namespaces, iptables-restore, conntrack); CI runs as root")
				}
				for _, tool := range []string{"ip", "iptables-restore", "conntrack", "unshare"} {
					if _, err := exec.LookPath(tool); err != nil {
						t.Skipf("the iptables lab needs %s (Debian packages iproute2, iptables, conntrack, util-linux)", tool)
					}
				}
			}
			t.Parallel()
			out := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			var progress strings.Builder
			sums, err := Run(ctx, Options{Plan: p, OutDir: out, Proxy: proxy,
				Spread: filepath.Join(bins, "spread"), EchoServer: filepath.Join(bins, "echo-server"), Progress: &progress})
			t.Logf("progress:\n%s", progress.String())
			if err != nil {
				t.Fatal(err)
			}
			if len(sums) != len(p.Experiments) {
				t.Fatalf("%d results for %d experiments", len(sums), len(p.Experiments))
			}
			for _, s := range sums {
				if s.Proxy != proxy {
					t.Errorf("%s ran with proxy %q, want %s", s.Name, s.Proxy, proxy)
				}
				if s.Verdict != plan.VerdictOK {
					t.Errorf("%s: expected %s, got %s: %s%s", s.Name, s.Expected, s.Verdict, s.VerdictDetail, logHint(out, s))
				}
			}
			// The report of the run renders its charts.
			page, err := os.ReadFile(filepath.Join(out, "report.html"))
			if err != nil || strings.Count(string(page), `<svg class="chart"`) != 3*len(sums) {
				t.Errorf("report.html: %v", err)
			}
		})
	}
}

func logHint(out string, s report.Summary) string {
	if s.Verdict == plan.VerdictOK {
		return ""
	}
	log, _ := os.ReadFile(filepath.Join(out, s.Name, "spread.log"))
	if len(log) > 3000 {
		log = log[len(log)-3000:]
	}
	return "\n--- spread.log (tail) ---\n" + string(log)
}
