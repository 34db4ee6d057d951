package dashboard

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"spread.dev/echo-server/testbin"
)

// The live tests run the real binaries: spread (run, lab, experiments)
// with the dashboard on, echo-server as the pods, and headless Chromium
// as the person watching the page while the test runs.

// bins are the built spread and echo-server binaries.
type bins struct{ spread, echo string }

func buildBinaries(t *testing.T) bins {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: builds and runs spread and echo-server")
	}
	return bins{testbin.MustBuild(t, "spread.dev/spread/cmd/spread"), testbin.MustBuild(t, "spread.dev/echo-server/cmd/echo-server")}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// proc is a spread process of a test: its output is kept, and logged if
// the test fails.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuf
	done chan error
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startSpread(t *testing.T, ctx context.Context, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, buildBinaries(t).spread, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	p := &proc{cmd: cmd, out: &syncBuf{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("spread %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its error.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("spread still running after %s", d)
		return nil
	}
}

var urlRe = regexp.MustCompile(`web dashboard: (http://127\.0\.0\.1:\d+)`)

// dashboardURL waits for the line the dashboard prints at start.
func (p *proc) dashboardURL(t *testing.T, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if m := urlRe.FindStringSubmatch(p.out.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("spread exited before the dashboard started: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no dashboard address printed within %s", d)
	return ""
}

// waitPage polls url until the page answers (the lab starts pods first).
func waitPage(t *testing.T, p *proc, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("spread exited before the dashboard answered: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("dashboard %s not up within %s", url, d)
}

// watchLive opens the live page, waits until it shows two pods (and a
// scale marker when the run scales), checks the live status and the Pods
// view with a screenshot.
func watchLive(t *testing.T, url string, scale bool, shot string) {
	t.Helper()
	b := newBrowser(t, 90*time.Second, false)
	b.run("open "+url, chromedp.Navigate(url))
	cond := `document.querySelectorAll('#overview-pods tbody tr').length >= 2`
	if scale {
		cond += ` && document.querySelectorAll('#charts-overview svg.chart g.marker.scale').length > 0`
	}
	b.waitFor(cond, 40*time.Second)
	if st := eval[string](b, `document.getElementById('status').dataset.state`); st != "live" {
		t.Errorf("status %q while the test runs, want live", st)
	}
	// Wait one more update so the added pod has a drawn line, not a dot.
	b.waitFor(`(() => { const d = document.querySelectorAll('#charts-pods svg.chart path.series');
	  return d.length >= 8 && Array.from(d).every(p => (p.getAttribute('d').match(/L/g) || []).length >= 1); })()`, 20*time.Second)
	checkPodsView(t, b, podNames(t, b), scale, shot)
}

// podNames are the pods the page lists (the lab names its pods itself).
func podNames(t *testing.T, b *browser) []string {
	t.Helper()
	pods := eval[[]string](b, `Array.from(document.querySelectorAll('#overview-pods tbody tr')).map(r => r.dataset.pod)`)
	if len(pods) < 2 {
		t.Fatalf("pods %v", pods)
	}
	return pods
}

const switchScript = `
import http from 'k6/http';
export const options = { vus: 4, duration: '9s' };
const t0 = Date.now();
// Odd VUs move to the second pod after 2 s: a scale-up, seen from the client.
export default function () {
  const second = __VU % 2 === 1 && Date.now() - t0 > 2000;
  http.get(second ? __ENV.B : __ENV.A);
}
`

// TestLiveDashboardRun: `spread run --out web-dashboard` against two real
// echo-servers; Chromium watches the page while the test runs.
func TestLiveDashboardRun(t *testing.T) {
	testbin.Chromium(t)
	bins := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var addrs []string
	for _, pod := range []string{"pod-a", "pod-b"} {
		addr := testbin.FreeAddr(t)
		testbin.StartProcess(ctx, t, pod, bins.echo, "--insecure-bind", addr, "--bind", "", "--quic-bind", "",
			"--metrics-bind", "", "--grpc-bind", "", "--delay", "20ms", "--pod-name", pod, "--access-log=false")
		testbin.WaitHTTP(ctx, t, "http://"+addr+"/healthz")
		addrs = append(addrs, addr)
	}
	script := filepath.Join(t.TempDir(), "switch.js")
	if err := os.WriteFile(script, []byte(switchScript), 0o644); err != nil {
		t.Fatal(err)
	}
	export := filepath.Join(t.TempDir(), "report.html")
	p := startSpread(t, ctx, nil, "run", "-q", "--no-summary", "-e", "A=http://"+addrs[0], "-e", "B=http://"+addrs[1],
		"--out", "web-dashboard=port=0&period=500ms&export="+export, script)
	url := p.dashboardURL(t, 30*time.Second)
	watchLive(t, url, false, "live-run")
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("spread run: %v", err)
	}
	page, err := os.ReadFile(export)
	if err != nil || !bytes.Contains(page, []byte(`"pod-b"`)) || !bytes.Contains(page, []byte(`"done":true`)) {
		t.Errorf("export: %v, %d bytes without the run's end", err, len(page))
	}
}

// TestLiveDashboardLab: `spread lab` scaling 1->2 with K6_WEB_DASHBOARD;
// the lab's scale event is a marker on the live charts and the Pods view
// lists the pod added at the scale-up.
func TestLiveDashboardLab(t *testing.T) {
	testbin.Chromium(t)
	bins := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freePort(t)
	script, _ := filepath.Abs(filepath.Join("..", "..", "..", "..", "scripts", "close_h1.js"))
	p := startSpread(t, ctx, dashEnv(port), "lab", "--proxy", "userspace", "--replicas", "1", "--scale", "2@2s",
		"--echo-server", bins.echo, "--pod-arg=--delay=20ms", "--out-dir", t.TempDir(),
		script, "--", "-e", "VUS=4", "-e", "DURATION=10s")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitPage(t, p, url, 40*time.Second)
	watchLive(t, url, true, "live-lab")
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("spread lab: %v", err)
	}
}

// TestLiveDashboardExperiments: `spread experiments` on a one-row plan
// with K6_WEB_DASHBOARD: each experiment's run serves the live page.
func TestLiveDashboardExperiments(t *testing.T) {
	testbin.Chromium(t)
	bins := buildBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freePort(t)
	script, _ := filepath.Abs(filepath.Join("..", "..", "..", "..", "scripts", "close_h1.js"))
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	plan := fmt.Sprintf(`defaults:
  proxy: userspace
  vus: 4
  duration: 10s
  settle: 1s
  pod_args: ["--delay=20ms"]
experiments:
  - name: dashboard-close-scale
    description: the dashboard test's row
    script: %s
    protocol: h1
    mode: close
    scale: 2@2s
    expect: fair
`, script)
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startSpread(t, ctx, dashEnv(port), "experiments", "--plan", planFile, "--out", filepath.Join(dir, "results"),
		"--echo-server", bins.echo)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitPage(t, p, url, 40*time.Second)
	watchLive(t, url, true, "live-experiments")
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Fatalf("spread experiments: %v", err)
	}
}

func dashEnv(port int) []string {
	return []string{"K6_WEB_DASHBOARD=true", fmt.Sprintf("K6_WEB_DASHBOARD_PORT=%d", port), "K6_WEB_DASHBOARD_PERIOD=500ms"}
}

func freePort(t *testing.T) int {
	t.Helper()
	addr := testbin.FreeAddr(t)
	var port int
	if _, err := fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	return port
}
