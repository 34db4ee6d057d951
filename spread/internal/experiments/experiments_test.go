package experiments

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/internal/experiments/plan"
	"spread.dev/spread/internal/lab"
	"spread.dev/spread/internal/report"
)

// fakeLab plays a run without processes: pod-1 serves 20 req/s alone until
// the scale-up at 3 s, pod-2 becomes ready at 3.5 s and then serves every
// other request; it records what the lab was asked.
type fakeLab struct {
	t     *testing.T
	start time.Time
	got   []lab.Config
}

func (f *fakeLab) run(_ context.Context, cfg lab.Config) (*lab.Result, error) {
	f.got = append(f.got, cfg)
	samples := filepath.Join(cfg.OutDir, "run.json")
	file, err := os.Create(samples)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriter(file)
	for i := 0; i < 200; i++ { // 10 s at 20 req/s
		at := f.start.Add(time.Duration(i) * 50 * time.Millisecond)
		pod := "pod-1"
		if at.Sub(f.start) >= 3500*time.Millisecond && i%2 == 0 {
			pod = "pod-2"
		}
		tags := fmt.Sprintf(`{"pod":%q,"proto":"HTTP/1.1","status":"200"}`, pod)
		ts := at.Format(time.RFC3339Nano)
		fmt.Fprintf(w, `{"type":"Point","data":{"time":%q,"value":1,"tags":%s},"metric":"http_reqs"}`+"\n", ts, tags)
		fmt.Fprintf(w, `{"type":"Point","data":{"time":%q,"value":%d,"tags":%s},"metric":"http_req_duration"}`+"\n", ts, 100+i%10, tags)
		fmt.Fprintf(w, `{"type":"Point","data":{"time":%q,"value":0,"tags":%s},"metric":"http_req_failed"}`+"\n", ts, tags)
		connecting := 0.0
		if i < 5 {
			connecting = 0.2
		}
		fmt.Fprintf(w, `{"type":"Point","data":{"time":%q,"value":%v,"tags":%s},"metric":"http_req_connecting"}`+"\n", ts, connecting, tags)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	file.Close()
	ev := func(at time.Duration, kind, pod, detail string) lab.RecordedEvent {
		return lab.RecordedEvent{At: at, AtSeconds: at.Seconds(), Time: f.start.Add(at), Kind: kind, Pod: pod, Detail: detail}
	}
	return &lab.Result{
		Proxy: "userspace", ProxyReason: "fake", Start: f.start, SamplesFile: samples,
		Events: []lab.RecordedEvent{
			ev(-time.Second, "pod-added", "pod-1", ""),
			ev(3*time.Second, "scale", "", "1 -> 2"),
			ev(3500*time.Millisecond, "pod-added", "pod-2", ""),
			ev(15*time.Second, "pod-removed", "pod-1", "teardown"),
		},
		Pods: []lab.PodInfo{{Name: "pod-1", ServerConnections: map[string]float64{"h1": 7}}, {Name: "pod-2", ServerConnections: map[string]float64{"h1": 3}}},
	}, nil
}

func TestRunWritesResults(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.js"), []byte("export default function () {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	planFile := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(planFile, []byte(`
defaults:
  vus: 7
  duration: 10s
  settle: 1s
  pod_args: ["--delay=100ms"]
experiments:
  - name: fake-scale
    script: s.js
    protocol: h1
    mode: keep-alive
    env: {MODE: x}
    pod_args: ["--max-conn-age=2s"]
    scale: 2@3s
    expect: fair
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(planFile)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeLab{t: t, start: time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)}
	var progress strings.Builder
	out := filepath.Join(dir, "results")
	sums, err := Run(context.Background(), Options{Plan: p, OutDir: out, Proxy: "userspace", Lab: fake.run, Progress: &progress, Command: "spread experiments"})
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.got) != 1 {
		t.Fatalf("lab ran %d times", len(fake.got))
	}
	cfg := fake.got[0]
	if cfg.Proxy != "userspace" || cfg.Replicas != 1 || len(cfg.Events) != 1 || cfg.Events[0].At != 3*time.Second || cfg.Events[0].Replicas != 2 {
		t.Errorf("lab config: %+v", cfg)
	}
	if cfg.Env["VUS"] != "7" || cfg.Env["DURATION"] != "10s" || cfg.Env["MODE"] != "x" || !filepath.IsAbs(cfg.Script) {
		t.Errorf("lab env/script: %v %s", cfg.Env, cfg.Script)
	}
	if strings.Join(cfg.PodArgs, " ") != "--delay=100ms --max-conn-age=2s" {
		t.Errorf("pod args %v", cfg.PodArgs)
	}

	// From 4.5 s (ready + settle) to the end pod-2 has every other request.
	s := sums[0]
	if s.NewPodShare == nil || math.Abs(*s.NewPodShare-0.5) > 0.01 || s.FairShare == nil || *s.FairShare != 0.5 {
		t.Errorf("shares %v %v", s.NewPodShare, s.FairShare)
	}
	if s.Requests != 200 || s.PerPod["pod-1"]+s.PerPod["pod-2"] != 200 || s.ConnectionsOpened != 5 ||
		s.ServerConnectionsOpened == nil || *s.ServerConnectionsOpened != 10 {
		t.Errorf("counts: %+v", s)
	}
	if s.Verdict != plan.VerdictOK || s.ScaleAtS == nil || *s.ScaleAtS != 3 || s.ReadyAtS == nil || *s.ReadyAtS != 3.5 {
		t.Errorf("verdict/timeline: %s %s scale %v ready %v", s.Verdict, s.VerdictDetail, s.ScaleAtS, s.ReadyAtS)
	}
	if !strings.Contains(progress.String(), "[1/1] fake-scale") || !strings.Contains(progress.String(), "as-expected") {
		t.Errorf("progress:\n%s", progress.String())
	}

	var fromFile []report.Summary
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &fromFile); err != nil || len(fromFile) != 1 || fromFile[0].Requests != 200 {
		t.Errorf("summary.json: %v %s", err, data)
	}
	for _, key := range []string{`"name"`, `"protocol"`, `"mode"`, `"proxy"`, `"replicas_before"`, `"replicas_after"`, `"scale_at_s"`,
		`"duration_s"`, `"requests"`, `"rps"`, `"p50_ms"`, `"p95_ms"`, `"error_rate"`, `"per_pod"`, `"new_pod_share"`,
		`"fair_share"`, `"connections_opened"`, `"expected"`, `"verdict"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("summary.json lacks %s", key)
		}
	}
	md, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	if !strings.Contains(string(md), "| fake-scale | h1 | none | keep-alive | userspace | 0.0 | 1→2 @3s | 200 |") {
		t.Errorf("summary.md:\n%s", md)
	}
	page, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(page), "+pod-2 ready") || strings.Contains(string(page), "teardown") || strings.Contains(string(page), "-pod-1") {
		t.Errorf("report markers wrong (want the readiness, not the teardown)")
	}
	if _, err := os.Stat(filepath.Join(out, "fake-scale", "result.json")); err != nil {
		t.Error(err)
	}
}

func TestRunRecordsLabFailure(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.js"), []byte("export default function () {}\n"), 0o644)
	p, err := plan.Parse([]byte("experiments:\n  - {name: a, script: s.js, scale: 2@3s, expect: zero}\n  - {name: b, script: missing.js}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Dir = dir
	boom := func(context.Context, lab.Config) (*lab.Result, error) { return nil, fmt.Errorf("no pods") }
	sums, err := Run(context.Background(), Options{Plan: p, OutDir: filepath.Join(dir, "r"), Lab: boom})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].Verdict != plan.VerdictFailed || !strings.Contains(sums[0].Error, "no pods") ||
		!strings.Contains(sums[1].Error, "missing.js") {
		t.Errorf("%+v", sums)
	}
}

// TestRunKeepsSamplesOfFailedLab: when the lab fails after samples were
// written (interrupt, teardown error), what was measured is kept.
func TestRunKeepsSamplesOfFailedLab(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.js"), []byte("export default function () {}\n"), 0o644)
	p, err := plan.Parse([]byte("experiments:\n  - {name: a, script: s.js, scale: 2@3s, expect: fair}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p.Dir = dir
	fake := &fakeLab{t: t, start: time.Now()}
	failing := func(ctx context.Context, cfg lab.Config) (*lab.Result, error) {
		res, err := fake.run(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return res, fmt.Errorf("lab: cleanup: boom")
	}
	sums, err := Run(context.Background(), Options{Plan: p, OutDir: filepath.Join(dir, "r"), Lab: failing})
	if err != nil {
		t.Fatal(err)
	}
	s := sums[0]
	if s.Requests != 200 || s.Verdict != plan.VerdictFailed || !strings.Contains(s.Error, "cleanup: boom") {
		t.Errorf("%+v", s)
	}
}

func TestWithIdlePodsListsPodsThatServedNothing(t *testing.T) {
	series := report.Series{X: []float64{0, 1, 2}, Pods: []string{"pod-1"}, PodRPS: map[string][]float64{"pod-1": {5, 5, 5}}}
	pods := []lab.PodInfo{{Name: "pod-1"}, {Name: "pod-2"}}
	got := withIdlePods(map[string]int64{"pod-1": 15}, &series, pods)
	if n, ok := got["pod-2"]; !ok || n != 0 || got["pod-1"] != 15 || len(got) != 2 {
		t.Errorf("per_pod = %v, want pod-1 15 and pod-2 0", got)
	}
	if strings.Join(series.Pods, ",") != "pod-1,pod-2" || len(series.PodRPS["pod-2"]) != 3 || series.PodRPS["pod-2"][1] != 0 {
		t.Errorf("series pods %v, pod-2 line %v", series.Pods, series.PodRPS["pod-2"])
	}
	run := report.Run{Summary: report.Summary{PerPod: got}, Series: series}
	rows := run.PodRows()
	if len(rows) != 2 || rows[1].Pod != "pod-2" || rows[1].Requests != 0 || rows[1].Share != 0 {
		t.Errorf("pod rows %+v", rows)
	}
	if lines := run.Charts(0)[0].Lines; len(lines) != 3 || lines[1].Name != "pod-2" || lines[2].Name != "total" {
		t.Errorf("rps chart lines %+v, want pod-1, pod-2 (flat) and total", lines)
	}
}

// The cost columns come from what the lab measured, per request served.
func TestWithCosts(t *testing.T) {
	cpu := func(v float64) *float64 { return &v }
	res := &lab.Result{ClientCPUSeconds: cpu(0.5), Link: &lab.LinkInfo{ExpectedRTTms: 20, MeasuredRTTms: 20.7},
		PodStats: map[string]lab.PodStats{"a": {CPUSeconds: cpu(0.2)}, "b": {CPUSeconds: cpu(0.05)}},
		L7:       &lab.L7Info{Kind: "haproxy", CPUSeconds: 0.1}}
	s := report.Summary{Requests: 1000}
	withCosts(&s, res)
	if s.RTTMs != 20.7 || s.ClientCPUUsPerReq == nil || *s.ClientCPUUsPerReq != 500 ||
		s.ServerCPUUsPerReq == nil || *s.ServerCPUUsPerReq != 250 || s.ProxyCPUUsPerReq == nil || *s.ProxyCPUUsPerReq != 100 {
		t.Errorf("costs: rtt %v client %v server %v proxy %v", s.RTTMs, s.ClientCPUUsPerReq, s.ServerCPUUsPerReq, s.ProxyCPUUsPerReq)
	}
	// No link, no cgroups, no proxy: rtt 0 and the columns left null.
	s = report.Summary{Requests: 1000}
	withCosts(&s, &lab.Result{Link: &lab.LinkInfo{MeasuredRTTms: 0.05}})
	if s.RTTMs != 0 || s.ClientCPUUsPerReq != nil || s.ServerCPUUsPerReq != nil || s.ProxyCPUUsPerReq != nil {
		t.Errorf("no costs measured: %+v", s)
	}
}

// A foreign client's row (client_cmd) is counted on the server side: the
// added pod's share from its readiness (+ settle) on, from the pods'
// sampled counters.
func TestServerSideShares(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	start := time.Now()
	e := plan.Experiment{Name: "foreign", Replicas: 1, Scale: "2@2s", Settle: plan.Duration(time.Second), Expect: plan.ExpectFair}
	res := &lab.Result{Start: start,
		Events: []lab.RecordedEvent{
			{Time: start.Add(2 * time.Second), Kind: "scale"},
			{Time: start.Add(3 * time.Second), Kind: "pod-added", Pod: "pod-2"},
			{Time: start.Add(10 * time.Second), AtSeconds: 10, Kind: "script-exited"},
		},
		PodStats: map[string]lab.PodStats{
			// pod-1: 400 by t=4s, 700 at the end: 300 after the settle
			"pod-1": {Requests: v(700), OverTime: []lab.PodSample{{AtSeconds: 4, Requests: v(400)}, {AtSeconds: 9, Requests: v(650)}}},
			// pod-2: 0 by t=4s, 300 at the end
			"pod-2": {Requests: v(300), OverTime: []lab.PodSample{{AtSeconds: 4, Requests: v(0)}, {AtSeconds: 9, Requests: v(250)}}},
		}}
	s := report.Summary{Name: e.Name, ReplicasBefore: 1, ReplicasAfter: 2}
	out := serverSide(e, res, s)
	got := out.Summary
	if got.Requests != 1000 || got.RPS != 100 || got.PerPod["pod-2"] != 300 || got.NewPodShare == nil || *got.NewPodShare != 0.5 {
		t.Fatalf("summary %+v (new-pod share %v)", got, got.NewPodShare)
	}
	if verdict, detail := e.Expect.Judge(got); verdict != plan.VerdictOK {
		t.Errorf("verdict %s (%s)", verdict, detail)
	}
}
