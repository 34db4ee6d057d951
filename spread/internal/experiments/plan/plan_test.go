package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/internal/report"
)

func TestParseDefaultsAndTimeline(t *testing.T) {
	p, err := Parse([]byte(`
defaults:
  vus: 40
  duration: 20s
  pod_args: ["--delay=100ms"]
  env: {A: "1"}
experiments:
  - name: one
    script: a.js
    scale: 2@5s
    pod_args: ["--max-conn-age=4s"]
    env: {B: "2"}
    expect: zero
  - name: two
    script: b.js
    replicas: 2
    vus: 5
    duration: "12"
    proxy: userspace
    events:
      - {at: 6s, kind: rolling-restart}
      - {at: 3s, kind: kill, pod: pod-1}
    expect: no-errors
`))
	if err != nil {
		t.Fatal(err)
	}
	one, two := p.Experiments[0], p.Experiments[1]
	if one.VUs != 40 || one.Duration.D() != 20*time.Second || one.Replicas != 1 || one.ReplicasAfter() != 2 {
		t.Errorf("one: %+v", one)
	}
	if strings.Join(one.PodArgs, " ") != "--delay=100ms --max-conn-age=4s" || one.Env["A"] != "1" || one.Env["B"] != "2" {
		t.Errorf("one merged args/env: %v %v", one.PodArgs, one.Env)
	}
	if ev, ok := one.ScaleEvent(); !ok || ev.At.D() != 5*time.Second || ev.Replicas != 2 {
		t.Errorf("scale event %+v %v", ev, ok)
	}
	if two.VUs != 5 || two.Duration.D() != 12*time.Second || two.Settle.D() != 2*time.Second {
		t.Errorf("two: %+v", two)
	}
	tl, _ := two.Timeline()
	if len(tl) != 2 || tl[0].Kind != "kill" || tl[1].Kind != "rolling-restart" {
		t.Errorf("timeline not sorted: %+v", tl)
	}
	if got := p.ProxyFor(one, ""); got != "auto" {
		t.Errorf("proxy for one = %s", got)
	}
	if got := p.ProxyFor(one, "iptables"); got != "iptables" {
		t.Errorf("cli proxy ignored: %s", got)
	}
	if got := p.ProxyFor(two, "iptables"); got != "userspace" {
		t.Errorf("experiment proxy must win: %s", got)
	}
	q := Quick(one)
	if ev, _ := q.ScaleEvent(); q.Duration.D() != 10*time.Second || q.VUs != 20 || ev.At.D() != 2500*time.Millisecond {
		t.Errorf("quick: %+v %+v", q, ev)
	}
	sel, err := p.Select([]string{"two"})
	if err != nil || len(sel) != 1 || sel[0].Name != "two" {
		t.Errorf("select: %v %v", sel, err)
	}
	if _, err := p.Select([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "one, two") {
		t.Errorf("select unknown name: %v, want an error listing the plan's names", err)
	}
}

func TestValidateErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"empty", `experiments: []`, "no experiments"},
		{"unknown field", "experiments:\n  - name: a\n    script: a.js\n    vus_typo: 3\n", "field vus_typo not found"},
		{"bad name", "experiments:\n  - name: A_B\n    script: a.js\n", "name must be"},
		{"dup", "experiments:\n  - {name: a, script: a.js}\n  - {name: a, script: a.js}\n", "duplicate name"},
		{"no script", "experiments:\n  - {name: a}\n", "want one of script or client_cmd"},
		{"proxy", "experiments:\n  - {name: a, script: a.js, proxy: ipvs}\n", `proxy "ipvs"`},
		{"expect", "experiments:\n  - {name: a, script: a.js, expect: great}\n", `expect "great"`},
		{"zero needs scale", "experiments:\n  - {name: a, script: a.js, expect: zero}\n", "needs a scale-up"},
		{"stall needs down", "experiments:\n  - {name: a, script: a.js, scale: 2@1s, expect: stall}\n", "needs a scale-down"},
		{"late event", "experiments:\n  - {name: a, script: a.js, duration: 10s, scale: 2@10s}\n", "not before the end"},
		{"bad scale", "experiments:\n  - {name: a, script: a.js, scale: 2-10s}\n", "REPLICAS@TIME"},
		{"bad kind", "experiments:\n  - name: a\n    script: a.js\n    events: [{at: 1s, kind: explode}]\n", `kind "explode"`},
		{"bad duration", "experiments:\n  - {name: a, script: a.js, duration: soon}\n", "duration"},
		{"balanced", "experiments:\n  - {name: a, script: a.js, expect: balanced}\n", "balanced needs"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestProjectPlan checks the plan the project ships: valid, every script
// present, every experiment of the issue there, and short enough.
func TestProjectPlan(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "scripts", "experiments.yaml")
	p, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	expects := map[Expect]int{}
	for _, e := range p.Experiments {
		if _, err := os.Stat(filepath.Join(p.Dir, e.Script)); err != nil {
			t.Errorf("%s: %v", e.Name, err)
		}
		expects[e.Expect]++
	}
	// The default plan (make experiments) stays under 10 minutes and
	// still has a row of every fix kind measured by default and an
	// emulated link; --full runs the rest.
	def, err := p.SelectFull(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if total := ExpectedTime(def); total > 10*time.Minute {
		t.Errorf("default plan takes ~%s, want <= 10m", total)
	}
	all, _ := p.SelectFull(nil, true)
	if len(all) != len(p.Experiments) || len(def) >= len(all) {
		t.Errorf("default %d rows, full %d, plan %d", len(def), len(all), len(p.Experiments))
	}
	fixes, protos, linked := map[string]bool{}, map[string]bool{}, false
	for _, e := range def {
		fixes[e.Fix], protos[e.Protocol] = true, true
		linked = linked || e.Link != ""
	}
	for _, want := range []string{"none", "close", "per-request-fresh", "server-max-age", "l7-proxy-haproxy", "l7-proxy-caddy-h3"} {
		if !fixes[want] {
			t.Errorf("default plan has no row with fix %s", want)
		}
	}
	for _, want := range []string{"h1", "h2", "h3", "ws", "grpc"} {
		if !protos[want] {
			t.Errorf("default plan has no %s row", want)
		}
	}
	if !linked {
		t.Error("default plan has no row on an emulated link")
	}
	for _, want := range []Expect{ExpectBalanced, ExpectZero, ExpectFair, ExpectPinned, ExpectConverges, ExpectStall, ExpectRecovers} {
		if expects[want] == 0 {
			t.Errorf("no experiment expects %s", want)
		}
	}
	if len(p.Experiments) < 12 {
		t.Errorf("%d experiments, want the 12 of the issue", len(p.Experiments))
	}
}

func f(v float64) *float64 { return &v }

func n(v int64) *int64 { return &v }

func TestJudge(t *testing.T) {
	base := report.Summary{Requests: 1000, ReplicasBefore: 1, ReplicasAfter: 2, FairShare: f(0.5)}
	with := func(mod func(*report.Summary)) report.Summary { s := base; mod(&s); return s }
	cases := []struct {
		expect Expect
		s      report.Summary
		want   string
	}{
		{ExpectZero, with(func(s *report.Summary) { s.NewPodShare = f(0.02) }), VerdictOK},
		{ExpectZero, with(func(s *report.Summary) { s.NewPodShare = f(0.3) }), VerdictMismatch},
		{ExpectFair, with(func(s *report.Summary) { s.NewPodShare = f(0.47) }), VerdictOK},
		{ExpectFair, with(func(s *report.Summary) { s.NewPodShare = f(0.05) }), VerdictMismatch},
		{ExpectFair, with(func(s *report.Summary) { s.NewPodShare = nil }), VerdictFailed},
		{ExpectConverges, with(func(s *report.Summary) { s.NewPodShare = f(0.2); s.LateNewPodShare = f(0.4) }), VerdictOK},
		{ExpectConverges, with(func(s *report.Summary) { s.NewPodShare = f(0.01); s.LateNewPodShare = f(0.02) }), VerdictMismatch},
		{ExpectPinned, with(func(s *report.Summary) { s.TopPodShare = 0.99 }), VerdictOK},
		{ExpectPinned, with(func(s *report.Summary) { s.TopPodShare = 0.6 }), VerdictMismatch},
		{ExpectBalanced, report.Summary{Requests: 100, ReplicasAfter: 2, PerPod: map[string]int64{"a": 45, "b": 55}}, VerdictOK},
		{ExpectBalanced, report.Summary{Requests: 100, ReplicasAfter: 2, PerPod: map[string]int64{"a": 100}}, VerdictMismatch},
		{ExpectStall, report.Summary{Requests: 10, VUs: 20, StallS: f(29.5), StalledRequests: n(9)}, VerdictOK},
		{ExpectStall, report.Summary{Requests: 10, VUs: 20, StallS: f(29.5), StalledRequests: n(1)}, VerdictMismatch},
		{ExpectStall, report.Summary{Requests: 10, VUs: 20, StallS: f(0.2), StalledRequests: n(0)}, VerdictMismatch},
		{ExpectRecovers, report.Summary{Requests: 10, VUs: 20, StallS: f(0.2), StalledRequests: n(0)}, VerdictOK},
		{ExpectRecovers, report.Summary{Requests: 10, VUs: 20, StallS: f(30), StalledRequests: n(2)}, VerdictOK},
		{ExpectRecovers, report.Summary{Requests: 10, VUs: 20, StallS: f(30), StalledRequests: n(10)}, VerdictMismatch},
		{ExpectRecovers, report.Summary{Requests: 10}, VerdictFailed},
		{ExpectNoErrors, report.Summary{Requests: 10}, VerdictOK},
		{ExpectNoErrors, report.Summary{Requests: 10, Failed: 1}, VerdictMismatch},
		{ExpectZero, report.Summary{}, VerdictFailed},
		{ExpectZero, report.Summary{Requests: 5, Error: "lab: boom"}, VerdictFailed},
		{ExpectNone, report.Summary{Requests: 5}, ""},
	}
	for i, c := range cases {
		got, detail := c.expect.Judge(c.s)
		if got != c.want {
			t.Errorf("case %d (%s): %s (%s), want %s", i, c.expect, got, detail, c.want)
		}
	}
}

// The write-up plan (make writeup) is valid, at the write-up's scale, and
// has its foreign-client rows.
func TestWriteupPlan(t *testing.T) {
	p, err := Load(filepath.Join("..", "..", "..", "..", "scripts", "writeup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	locust := 0
	for _, e := range p.Experiments {
		if e.VUs != 1000 || e.Duration.D() != 5*time.Minute || e.PodCPU == "" {
			t.Errorf("%s: %d VUs, %s, pod_cpu %q: want the write-up's 1000 users, 5m, CPU-limited pods", e.Name, e.VUs, e.Duration.D(), e.PodCPU)
		}
		if ev, ok := e.ScaleEvent(); !ok || ev.At.D() != 2*time.Minute {
			t.Errorf("%s: want the scale-up at 2m", e.Name)
		}
		if e.ClientCmd != "" {
			locust++
		}
	}
	if locust < 2 {
		t.Errorf("%d Locust rows, want baseline and close", locust)
	}
}
