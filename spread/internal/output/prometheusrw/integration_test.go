package prometheusrw

import (
	"spread.dev/echo-server/testbin"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRealPrometheus runs spread against two real echo-servers (pod-a,
// pod-b) with --out prometheus-rw into a real Prometheus, then checks over
// PromQL that the per-pod request totals equal the run's own summary and
// that the trend gauges are there.
func TestRealPrometheus(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian package `prometheus`): skipping the remote-write integration test")
	}
	if testing.Short() {
		t.Skip("-short: skipping the Prometheus integration test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	spreadBin := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	echoBin := testbin.MustBuild(t, "spread.dev/echo-server/cmd/echo-server")

	prom := testbin.FreeAddr(t)
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte("global:\n  scrape_interval: 1m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.StartProcess(ctx, t, "prometheus", promBin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+prom, "--web.enable-remote-write-receiver")
	testbin.WaitHTTP(ctx, t, "http://"+prom+"/-/ready")

	var targets []string
	for _, pod := range []string{"pod-a", "pod-b"} {
		addr := testbin.FreeAddr(t)
		testbin.StartProcess(ctx, t, pod, echoBin, "--pod-name="+pod, "--insecure-bind="+addr, "--bind=", "--quic-bind=", "--grpc-bind=",
			"--metrics-bind=", "--delay=0", "--access-log=false")
		testbin.WaitHTTP(ctx, t, "http://"+addr+"/readyz")
		targets = append(targets, "http://"+addr+"/")
	}

	script := filepath.Join(dir, "two.js")
	if err := os.WriteFile(script, []byte(`
import http from 'k6/http';
import { check } from 'k6';
// Uneven on purpose: two requests to pod-b for each one to pod-a.
export default function () {
  const url = __ITER % 3 == 0 ? __ENV.A : __ENV.B;
  check(http.get(url), { 'status 200': (r) => r.status === 200 });
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	testid := fmt.Sprintf("itest-%d", time.Now().UnixNano())
	summary := filepath.Join(dir, "summary.json")
	cmd := exec.CommandContext(ctx, spreadBin, "run", "-q", "--no-summary", "-u", "3", "-i", "60",
		"-e", "A="+targets[0], "-e", "B="+targets[1], "--tag", "testid="+testid,
		"--out", "prometheus-rw=http://"+prom+"/api/v1/write", "--summary-export", summary, script)
	cmd.Env = append(os.Environ(), "K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99.9),avg,max", "K6_PROMETHEUS_RW_PUSH_INTERVAL=500ms")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("spread run: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "delivered") || strings.Contains(out.String(), "could not be delivered") {
		t.Errorf("spread's remote-write report: %s", out.String())
	}

	var sum struct {
		Pods map[string]struct {
			Requests float64 `json:"requests"`
		} `json:"pods"`
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.Pods) != 2 || sum.Pods["pod-a"].Requests == 0 || sum.Pods["pod-b"].Requests == 0 {
		t.Fatalf("summary pods: %s", b)
	}

	got := query(ctx, t, prom, fmt.Sprintf(`sum by (pod) (k6_http_reqs_total{testid=%q})`, testid))
	t.Logf("Prometheus per-pod totals %v, summary %+v", got, sum.Pods)
	if len(got) != 2 {
		t.Fatalf("per-pod totals in Prometheus: %v", got)
	}
	for pod, p := range sum.Pods {
		if got[pod] != p.Requests {
			t.Errorf("Prometheus says %s served %v requests, the summary says %v", pod, got[pod], p.Requests)
		}
	}
	for _, name := range []string{"k6_http_req_duration_p95", "k6_http_req_duration_p999", "k6_http_req_duration_avg", "k6_iteration_duration_max"} {
		g := query(ctx, t, prom, fmt.Sprintf(`max by (pod) (%s{testid=%q})`, name, testid))
		if len(g) == 0 {
			t.Errorf("%s: no series", name)
		}
		for pod, v := range g {
			// Seconds, not milliseconds: a local request takes well under 1 s.
			if v <= 0 || v > 1 {
				t.Errorf("%s{pod=%q} = %v, want seconds in (0, 1]", name, pod, v)
			}
		}
	}
	if g := query(ctx, t, prom, fmt.Sprintf(`k6_checks_rate{testid=%q}`, testid)); len(g) != 1 || g[""] != 1 {
		t.Errorf("k6_checks_rate = %v, want 1", g)
	}
	if g := query(ctx, t, prom, fmt.Sprintf(`sum(k6_iterations_total{testid=%q})`, testid)); g[""] != 60 {
		t.Errorf("k6_iterations_total = %v, want 60", g)
	}
}

// query runs an instant PromQL query and returns the values by pod label.
func query(ctx context.Context, t *testing.T, addr, q string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", q, err, r.Error)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
		out[s.Metric["pod"]] = v
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}
