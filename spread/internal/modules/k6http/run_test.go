package k6http

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestSpreadRunPerPodCounts runs the real `spread run` against two
// echo-servers (pod-a over HTTP/1.1, pod-b over HTTP/2 with the lab CA
// trusted through the tlsCACerts option) and checks the per-pod counts of
// --summary-export against each server's own request counter, and that
// keep-alive kept one connection per VU and server.
func TestSpreadRunPerPodCounts(t *testing.T) {
	spread := buildBinary(t, "spread")
	a := startEcho(t, "pod-a", "--delay", "5ms")
	b := startEcho(t, "pod-b", "--delay", "5ms")
	dir := t.TempDir()
	script := filepath.Join(dir, "pods.js")
	if err := os.WriteFile(script, []byte(`
import http from 'k6/http';
import { check } from 'k6';
export const options = { tlsCACerts: __ENV.CA, thresholds: { http_req_failed: ['rate==0'] } };
export default function () {
  const url = Math.random() < 0.3 ? __ENV.A : __ENV.B;
  const res = http.get(url, { tags: { target: url === __ENV.A ? 'a' : 'b' } });
  check(res, { 'status 200': (r) => r.status === 200 });
  http.batch([__ENV.A, __ENV.B]);
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	summary := filepath.Join(dir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, spread, "run", "-q", "--no-color", "-u", "4", "-i", "80",
		"-e", "A="+a.HTTPURL()+"/", "-e", "B="+b.HTTPSURL()+"/", "-e", "CA="+b.PKI.CA,
		"--summary-export", summary, script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("spread run: %v\n%s", err, out)
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
		Pods    map[string]struct {
			Requests float64 `json:"requests"`
		} `json:"pods"`
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, raw)
	}
	servedA := a.Series(t, `echo_requests_total{code="200",proto="h1"}`)
	servedB := b.Series(t, `echo_requests_total{code="200",proto="h2"}`)
	if sum.Pods["pod-a"].Requests != servedA || sum.Pods["pod-b"].Requests != servedB || len(sum.Pods) != 2 {
		t.Fatalf("summary pods %+v, servers counted pod-a=%v pod-b=%v", sum.Pods, servedA, servedB)
	}
	// 80 iterations: one request and a batch of two each.
	num := func(metric, stat string) float64 {
		v, _ := sum.Metrics[metric][stat].(float64)
		return v
	}
	if total := num("http_reqs", "count"); total != 240 || servedA+servedB != 240 {
		t.Fatalf("http_reqs %v, servers %v, want 240", total, servedA+servedB)
	}
	if num("http_req_failed", "value") != 0 || num("http_req_failed", "fails") != 240 {
		t.Fatalf("http_req_failed: %v", sum.Metrics["http_req_failed"])
	}
	if num("data_received", "count") < 240*100 || num("data_sent", "count") < 240*50 {
		t.Fatalf("data: sent %v received %v", sum.Metrics["data_sent"], sum.Metrics["data_received"])
	}
	// Keep-alive: at most one connection per VU and server (the batch's
	// two requests go to different servers, so it needs no second one).
	if c := a.Series(t, `echo_connections_opened_total{proto="h1"}`); c < 1 || c > 4 {
		t.Fatalf("pod-a h1 connections %v, want 1..4 (one per VU)", c)
	}
	if c := b.Series(t, `echo_connections_opened_total{proto="h2"}`); c < 1 || c > 4 {
		t.Fatalf("pod-b h2 connections %v, want 1..4 (one per VU)", c)
	}
}

// TestSpreadRunConnectionOptions runs `spread run` with each way of
// (not) reusing connections and counts the connections echo-server saw:
// 3 VUs, 12 iterations of 2 requests each.
func TestSpreadRunConnectionOptions(t *testing.T) {
	spread := buildBinary(t, "spread")
	cases := []struct {
		name, options, params string
		min, max              float64
	}{
		{"keep-alive", "{}", "{}", 1, 3},
		{"Connection: close", "{}", "{ headers: { Connection: 'close' } }", 24, 24},
		{"noConnectionReuse", "{ noConnectionReuse: true }", "{}", 24, 24},
		{"noVUConnectionReuse", "{ noVUConnectionReuse: true }", "{}", 12, 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := startEcho(t, "pod-a", "--delay", "0")
			script := filepath.Join(t.TempDir(), "conns.js")
			if err := os.WriteFile(script, []byte(`
import http from 'k6/http';
export const options = `+c.options+`;
export default function () {
  http.get(__ENV.A, `+c.params+`);
  http.get(__ENV.A, `+c.params+`);
}
`), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, spread, "run", "-q", "--no-summary", "-u", "3", "-i", "12", "-e", "A="+a.HTTPURL()+"/", script).CombinedOutput()
			if err != nil {
				t.Fatalf("spread run: %v\n%s", err, out)
			}
			conns := a.Series(t, `echo_connections_opened_total{proto="h1"}`)
			reqs := a.Series(t, `echo_requests_total{code="200",proto="h1"}`)
			if reqs != 24 || conns < c.min || conns > c.max {
				t.Fatalf("%v connections for %v requests, want %v..%v connections for 24 requests", conns, reqs, c.min, c.max)
			}
		})
	}
}
