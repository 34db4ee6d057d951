package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/netns"
	"spread.dev/spread/internal/lab/pods"
)

// Test binaries, built once per test process.
var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func bins(t *testing.T) (labpod, fakespread, labrun string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "spread-lab-test-bin")
		if buildErr != nil {
			return
		}
		for _, name := range []string{"labpod", "fakespread", "labrun"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), "./testdata/"+name).CombinedOutput()
			if err != nil {
				buildErr = &buildError{name, err, out}
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "labpod"), filepath.Join(binDir, "fakespread"), filepath.Join(binDir, "labrun")
}

type buildError struct {
	name string
	err  error
	out  []byte
}

func (e *buildError) Error() string {
	return "build " + e.name + ": " + e.err.Error() + "\n" + string(e.out)
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range []string{binDir, realDir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

func podTemplate(labpod string) string {
	return labpod + " --name {{.Name}} --http {{.IP}}:{{.HTTPPort}} --udp {{.IP}}:{{.H3Port}} --metrics {{.IP}}:{{.MetricsPort}}"
}

type hit struct {
	T    float64 `json:"t"`
	Pod  string  `json:"pod"`
	Host string  `json:"host"`
}

// runPlan runs the lab with fakespread executing plan (lanes of steps) and
// returns the hits per lane.
func runPlan(t *testing.T, proxy string, replicas int, events []Event, plan string, tweak ...func(*Config)) (*Result, map[string][]hit) {
	t.Helper()
	labpod, fakespread, _ := bins(t)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	if err := os.WriteFile(planFile, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress lockedBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := Config{
		Proxy: proxy, Replicas: replicas, Events: events, PodCommand: podTemplate(labpod),
		Spread: fakespread, Script: planFile, OutDir: filepath.Join(dir, "out"),
		ProbePeriod: 50 * time.Millisecond, StopGrace: 2 * time.Second,
		Progress: &progress, Stdout: &progress, Stderr: &progress,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	res, err := Run(ctx, cfg)
	t.Logf("lab output:\n%s", progress.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("script exit code %d", res.ExitCode)
	}
	raw, err := os.ReadFile(res.SummaryFile)
	if err != nil {
		t.Fatal(err)
	}
	var hits map[string][]hit
	if err := json.Unmarshal(raw, &hits); err != nil {
		t.Fatal(err)
	}
	return res, hits
}

// lockedBuffer collects output written from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func count(hs []hit) map[string]int {
	m := map[string]int{}
	for _, h := range hs {
		m[h.Pod]++
	}
	return m
}

func requireIPTables(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("iptables lab needs root (CI runs as root)")
	}
	if reason := iptablesMissing(); reason != "" {
		t.Skipf("iptables lab unavailable: %s (apt-get install iproute2 iptables conntrack util-linux)", reason)
	}
}

const spreadPlan = `{
 "tcp-new":       [{"do":"tcp-new","n":60}],
 "tcp-keepalive": [{"do":"tcp-keepalive","n":30}],
 "udp-new":       [{"do":"udp-new","n":60}],
 "udp-same":      [{"do":"udp-same","n":30}]
}`

// checkSpread asserts kube-proxy's per-flow semantics: new TCP connections
// and new UDP 5-tuples spread over all endpoints, reused ones stay pinned.
func checkSpread(t *testing.T, hits map[string][]hit, pods []string) {
	t.Helper()
	for _, lane := range []string{"tcp-new", "udp-new"} {
		c := count(hits[lane])
		for _, p := range pods {
			// 60 flows over 3 pods: 20 expected; P(<6) is about 1e-4.
			if c[p] < 6 {
				t.Errorf("%s: pod %s got %d of 60 new flows: %v", lane, p, c[p], c)
			}
		}
	}
	for _, lane := range []string{"tcp-keepalive", "udp-same"} {
		c := count(hits[lane])
		if len(c) != 1 || c[""] != 0 {
			t.Errorf("%s: a reused flow moved between pods or failed: %v", lane, c)
		}
	}
}

func TestUserspaceSpreadsAndPins(t *testing.T) {
	res, hits := runPlan(t, ModeUserspace, 3, nil, spreadPlan)
	checkSpread(t, hits, []string{"echo-server-1", "echo-server-2", "echo-server-3"})
	checkPodStats(t, res, 122, 90)
	if res.Proxy != ModeUserspace || !strings.HasPrefix(res.Targets["TARGET_HTTP"], "http://127.0.0.1:") {
		t.Errorf("result: proxy %s targets %v", res.Proxy, res.Targets)
	}
}

func TestIPTablesSpreadsAndPins(t *testing.T) {
	requireIPTables(t)
	plan := strings.Replace(spreadPlan, "{", `{
 "udp-timeout":   [{"do":"read-file","every":"/proc/sys/net/netfilter/nf_conntrack_udp_timeout"}],
 "stream-timeout":[{"do":"read-file","every":"/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream"}],`, 1)
	res, hits := runPlan(t, ModeIPTables, 3, nil, plan, func(c *Config) {
		c.ConntrackUDPTimeout, c.ConntrackUDPStreamTimeout = 7*time.Second, 11*time.Second
	})
	checkSpread(t, hits, []string{"echo-server-1", "echo-server-2", "echo-server-3"})
	checkPodStats(t, res, 122, 90)
	// The per-run conntrack timeouts hold inside the namespace, not on the host.
	if got := hits["udp-timeout"][0].Pod + "/" + hits["stream-timeout"][0].Pod; got != "7/11" {
		t.Errorf("conntrack udp timeouts in the namespace: %s, want 7/11", got)
	}
	if host, err := os.ReadFile("/proc/sys/net/netfilter/nf_conntrack_udp_timeout"); err == nil && strings.TrimSpace(string(host)) == "7" {
		t.Error("host conntrack timeout changed")
	}
	// Each pod has its own UTS namespace: hostname == pod name.
	for _, h := range hits["tcp-new"] {
		if h.Host != h.Pod {
			t.Fatalf("pod %s reports hostname %q", h.Pod, h.Host)
		}
	}
	if res.Targets["TARGET_HTTP"] != "http://10.96.0.10:80" || res.Targets["TARGET_H3"] != "https://10.96.0.10:443" {
		t.Errorf("targets %v", res.Targets)
	}
	checkEventsFile(t, res)
}

// scaleKillPlan: one UDP 5-tuple and one keep-alive TCP connection used
// throughout, plus fresh TCP connections; pod 2 joins at 0.5 s, pod 1 is
// killed at 2.5 s (room for pod 2's start on a loaded 2-core machine).
const scaleKillPlan = `{
 "udp-same":      [{"do":"udp-same","n":160,"every":"25ms"}],
 "tcp-keepalive": [{"do":"tcp-keepalive","n":80,"every":"25ms"}],
 "tcp-new":       [{"do":"tcp-new","n":160,"every":"25ms"}]
}`

func scaleKillEvents() []Event {
	return []Event{{At: 500 * time.Millisecond, Kind: KindScale, Replicas: 2}, {At: 2500 * time.Millisecond, Kind: KindKill, Pod: "echo-server-1"}}
}

// checkScaleKill asserts: flows opened before the scale-up stay on pod 1
// (adding an endpoint moves nothing); after pod 1 dies its UDP flow is
// deleted, so the same 5-tuple lands on pod 2 at once.
func checkScaleKill(t *testing.T, res *Result, hits map[string][]hit) {
	t.Helper()
	at := func(kind, pod string) float64 {
		for _, e := range res.Events {
			if e.Kind == kind && e.Pod == pod {
				return e.AtSeconds
			}
		}
		t.Fatalf("no %s event for %s in %v", kind, pod, res.Events)
		return 0
	}
	added2, killed1 := at("pod-added", "echo-server-2"), at("pod-killed", "echo-server-1")
	removed1 := at("pod-removed", "echo-server-1")
	if !(added2 < killed1 && killed1 <= removed1) {
		t.Fatalf("event order: pod 2 added %.2f, pod 1 killed %.2f, removed %.2f", added2, killed1, removed1)
	}
	var before, after, lost, dropped int
	defer func() {
		if dropped > 3 {
			t.Errorf("%d datagrams unanswered before the kill", dropped)
		}
	}()
	for _, h := range hits["udp-same"] {
		switch {
		case h.T < killed1-0.3:
			// "" is a datagram lost to a 300 ms timeout on a loaded
			// machine; moving to another pod is the real failure.
			if h.Pod == "" {
				dropped++
			} else if h.Pod != "echo-server-1" {
				t.Errorf("udp flow at %.2fs on %q before the kill", h.T, h.Pod)
			}
			before++
		case h.T > removed1+0.1:
			if h.Pod != "echo-server-2" {
				lost++
			}
			after++
		}
	}
	if before < 5 || after < 10 {
		t.Fatalf("too few udp samples: %d before, %d after", before, after)
	}
	if lost > 0 {
		t.Errorf("%d of %d datagrams after pod 1's removal did not reach pod 2 (stale flow kept?)", lost, after)
	}
	var newOn2 int
	for _, h := range hits["tcp-new"] {
		if h.T > added2+0.1 && h.T < killed1-0.05 && h.Pod == "echo-server-2" {
			newOn2++
		}
	}
	if newOn2 == 0 {
		t.Error("no new TCP connection reached pod 2 after it was added")
	}
	for _, h := range hits["tcp-keepalive"] {
		if h.T < killed1-0.3 && h.Pod != "echo-server-1" {
			t.Errorf("keep-alive connection moved to %q at %.2fs before the kill", h.Pod, h.T)
		}
	}
}

func TestUserspaceScaleAndKill(t *testing.T) {
	res, hits := runPlan(t, ModeUserspace, 1, scaleKillEvents(), scaleKillPlan)
	checkScaleKill(t, res, hits)
}

func TestIPTablesScaleAndKillDeletesConntrack(t *testing.T) {
	requireIPTables(t)
	res, hits := runPlan(t, ModeIPTables, 1, scaleKillEvents(), scaleKillPlan)
	checkScaleKill(t, res, hits)
}

func requireNFTables(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("nftables lab needs root (CI runs as root)")
	}
	if reason := toolsMissing("nft"); reason != "" {
		t.Skipf("nftables lab unavailable: %s (apt-get install iproute2 nftables conntrack util-linux)", reason)
	}
}

// The same per-flow semantics, scale-up, kill and UDP conntrack cleanup
// with kube-proxy's nftables rules loaded by the real nft.
func TestNFTablesSpreadsPinsScalesAndKills(t *testing.T) {
	requireNFTables(t)
	t.Run("spread", func(t *testing.T) {
		res, hits := runPlan(t, ModeNFTables, 3, nil, spreadPlan)
		checkSpread(t, hits, []string{"echo-server-1", "echo-server-2", "echo-server-3"})
		checkPodStats(t, res, 122, 90)
		if res.Proxy != ModeNFTables || res.Targets["TARGET_HTTP"] != "http://10.96.0.10:80" {
			t.Errorf("proxy %s targets %v", res.Proxy, res.Targets)
		}
	})
	t.Run("scale-kill", func(t *testing.T) {
		res, hits := runPlan(t, ModeNFTables, 1, scaleKillEvents(), scaleKillPlan)
		checkScaleKill(t, res, hits)
	})
	t.Run("nodeport", func(t *testing.T) {
		res, hits := runPlan(t, ModeNFTables, 1, scaleKillEvents(), scaleKillPlan, func(c *Config) { c.NodePort = true })
		checkScaleKill(t, res, hits)
	})
}

func TestRollingRestartKeepsServing(t *testing.T) {
	proxy := ModeUserspace
	if iptablesMissing() == "" {
		proxy = ModeIPTables
	}
	res, hits := runPlan(t, proxy, 2, []Event{{At: 300 * time.Millisecond, Kind: KindRollingRestart}},
		`{"tcp-new":[{"do":"tcp-new","n":120,"every":"20ms"}]}`)
	c := count(hits["tcp-new"])
	if c[""] > 0 {
		t.Errorf("%d requests failed during the rolling restart: %v", c[""], c)
	}
	var done bool
	for _, e := range res.Events {
		done = done || e.Kind == "rolling-restart-done"
	}
	if !done || c["echo-server-3"] == 0 || c["echo-server-4"] == 0 {
		t.Errorf("restart incomplete (done=%v): %v", done, c)
	}
}

func checkEventsFile(t *testing.T, res *Result) {
	t.Helper()
	raw, err := os.ReadFile(res.EventsFile)
	if err != nil {
		t.Fatal(err)
	}
	var got Result
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Events) == 0 || len(got.Pods) != len(res.Pods) {
		t.Errorf("events.json: %d events, %d pods", len(got.Events), len(got.Pods))
	}
	for _, p := range got.Pods {
		if p.Ready.IsZero() || p.Stopped.IsZero() || p.ServerRequests == 0 {
			t.Errorf("pod info incomplete: %+v", p)
		}
	}
}

// assertPodsGone reads events.json in out and checks that the lab started
// want pods and that none of their processes is left running.
func assertPodsGone(t *testing.T, out string, want int, log string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(out, "events.json"))
	if err != nil {
		t.Fatalf("events.json: %v\n%s", err, log)
	}
	var res Result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("events.json: %v", err)
	}
	pids := pidsOf(&res)
	if len(pids) != want {
		t.Fatalf("want %d pod pids, got %v", want, pids)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pod process %d left running", pid)
		}
	}
}

// pidsOf reads the pod pids from pod-started events.
func pidsOf(res *Result) []int {
	var pids []int
	for _, e := range res.Events {
		if e.Kind == "pod-started" {
			f := strings.Fields(e.Detail)
			if n, err := strconv.Atoi(f[len(f)-1]); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(st), ") Z ")
}

func natRules(t *testing.T) string {
	if _, err := exec.LookPath("iptables-save"); err != nil {
		return ""
	}
	out, _ := exec.Command("iptables-save", "-t", "nat").Output()
	// Only kube-proxy-style lines: other tools may edit the host's table.
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "KUBE-") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestCleanup runs the lab to the end and with SIGINT, then checks that no
// namespace, pod process or host rule is left behind.
func TestCleanup(t *testing.T) {
	modes := []string{ModeUserspace}
	if os.Geteuid() == 0 && iptablesMissing() == "" {
		modes = append(modes, ModeIPTables)
	}
	labpod, fakespread, labrun := bins(t)
	for _, mode := range modes {
		for _, interrupt := range []bool{false, true} {
			t.Run(mode+"/interrupt="+strconv.FormatBool(interrupt), func(t *testing.T) {
				hostRules := natRules(t)
				dir := t.TempDir()
				plan := `{"a":[{"do":"tcp-new","n":5,"every":"20ms"}]}`
				if interrupt {
					plan = `{"a":[{"do":"tcp-new","n":1000,"every":"20ms"}]}`
				}
				planFile := filepath.Join(dir, "plan.json")
				os.WriteFile(planFile, []byte(plan), 0o644)
				out := filepath.Join(dir, "out")
				cmd := exec.Command(labrun, fakespread, podTemplate(labpod), planFile, out, mode)
				var stderr lockedBuffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				if interrupt {
					// Interrupt once the script is running.
					deadline := time.Now().Add(30 * time.Second)
					for !strings.Contains(stderr.String(), "script-started") {
						if time.Now().After(deadline) {
							cmd.Process.Kill()
							t.Fatalf("script never started:\n%s", stderr.String())
						}
						time.Sleep(50 * time.Millisecond)
					}
					time.Sleep(300 * time.Millisecond)
					cmd.Process.Signal(os.Interrupt)
				}
				select {
				case err := <-done:
					if interrupt == (err == nil) {
						t.Errorf("labrun exit: %v (interrupt=%v)\n%s", err, interrupt, stderr.String())
					}
				case <-time.After(45 * time.Second):
					cmd.Process.Kill()
					t.Fatalf("labrun did not finish:\n%s", stderr.String())
				}
				assertPodsGone(t, out, 2, stderr.String())
				prefix := netns.Prefix + strconv.Itoa(cmd.Process.Pid) + "-"
				names, _ := netns.List()
				for _, n := range names {
					if strings.HasPrefix(n, prefix) {
						t.Errorf("namespace %s left behind", n)
					}
				}
				if got := natRules(t); got != hostRules {
					t.Errorf("host nat rules changed:\nbefore:\n%s\nafter:\n%s", hostRules, got)
				}
			})
		}
	}
}

func TestChooseProxy(t *testing.T) {
	mode, reason, err := ChooseProxy("auto", false)
	if err != nil || reason == "" {
		t.Fatalf("auto: %v %q", err, reason)
	}
	if want := map[bool]string{true: ModeIPTables, false: ModeUserspace}[iptablesMissing() == ""]; mode != want {
		t.Errorf("auto chose %s, want %s (%s)", mode, want, reason)
	}
	if _, _, err := ChooseProxy("ipvs", false); err == nil {
		t.Error("unknown proxy accepted")
	}
	if os.Geteuid() == 0 && toolsMissing("nft") == "" {
		if mode, _, err := ChooseProxy("nftables", true); err != nil || mode != ModeNFTables {
			t.Errorf("nftables: %s %v", mode, err)
		}
	}
	if _, _, err := ChooseProxy("userspace", true); err == nil {
		t.Error("nodeport with userspace accepted")
	}
}

func TestParseEvents(t *testing.T) {
	tests := []struct {
		in   string
		fn   func(string) (Event, error)
		want Event
		bad  bool
	}{
		{"2@2m", ParseScale, Event{At: 2 * time.Minute, Kind: KindScale, Replicas: 2}, false},
		{"1@90", ParseScale, Event{At: 90 * time.Second, Kind: KindScale, Replicas: 1}, false},
		{"x@1s", ParseScale, Event{}, true},
		{"2", ParseScale, Event{}, true},
		{"2@-1s", ParseScale, Event{}, true},
		{"echo-server-1@30s", ParseKill, Event{At: 30 * time.Second, Kind: KindKill, Pod: "echo-server-1"}, false},
		{"@30s", ParseKill, Event{}, true},
		{"@1m", ParseRollingRestart, Event{At: time.Minute, Kind: KindRollingRestart}, false},
		{"@soon", ParseRollingRestart, Event{}, true},
	}
	for _, tt := range tests {
		got, err := tt.fn(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("%q: got %+v, %v", tt.in, got, err)
		}
	}
}

// TestIPTablesNodePort drives the same scale/kill timeline through the
// client namespace and NodePorts: PREROUTING -> KUBE-NODEPORTS -> KUBE-EXT
// -> KUBE-SVC, and the UDP cleanup of NodePort flows.
func TestIPTablesNodePort(t *testing.T) {
	requireIPTables(t)
	res, hits := runPlan(t, ModeIPTables, 1, scaleKillEvents(), scaleKillPlan, func(c *Config) { c.NodePort = true })
	if res.Targets["TARGET_HTTP"] != "http://10.200.0.1:30080" || res.Targets["TARGET_H3"] != "https://10.200.0.1:30443" {
		t.Fatalf("targets %v", res.Targets)
	}
	checkScaleKill(t, res, hits)
}

// A missing script or echo-server binary fails before anything is created.
func TestRunRejectsMissingFilesFirst(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.js")
	if err := os.WriteFile(script, []byte("export default function () {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Script: filepath.Join(dir, "nope.js")}, "lab: script:"},
		{Config{Script: script, EchoServer: filepath.Join(dir, "no-echo-server")}, "lab: echo-server binary:"},
	}
	for _, tt := range tests {
		tt.cfg.Proxy, tt.cfg.OutDir = "userspace", filepath.Join(dir, "out")
		var progress lockedBuffer
		tt.cfg.Progress, tt.cfg.Stdout, tt.cfg.Stderr = &progress, &progress, &progress
		res, err := Run(context.Background(), tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) || res != nil {
			t.Errorf("Run(%+v) = %v, %v; want an error with %q and no result", tt.cfg, res, err, tt.want)
		}
		if _, err := os.Stat(tt.cfg.OutDir); !os.IsNotExist(err) {
			t.Errorf("out dir created before the check: %v", err)
		}
	}
}

// --scheduler rr (IPVS-style, emulated): 60 sequential new connections
// over 3 pods give exactly 20 each; a kernel mode refuses the flag.
func TestUserspaceRoundRobin(t *testing.T) {
	res, hits := runPlan(t, ModeUserspace, 3, nil, `{"tcp-new":[{"do":"tcp-new","n":60}]}`, func(c *Config) { c.Scheduler = "rr" })
	c := count(hits["tcp-new"])
	for _, p := range []string{"echo-server-1", "echo-server-2", "echo-server-3"} {
		if c[p] != 20 {
			t.Errorf("rr: %v, want 20 each", c)
			break
		}
	}
	if !strings.Contains(res.ProxyReason, "emulated") {
		t.Errorf("reason %q does not say the scheduler is emulated", res.ProxyReason)
	}
	if _, err := Run(context.Background(), Config{Proxy: ModeIPTables, Scheduler: "lc", Script: "x"}); err == nil || !strings.Contains(err.Error(), "--proxy userspace") {
		if os.Geteuid() == 0 {
			t.Errorf("lc with iptables: %v", err)
		}
	}
}

// checkPodStats reads events.json's "pods" object: server-side requests
// (from /metrics), new flows (from the Service's own counters: 60 + 60 new
// flows, one keep-alive connection, one reused UDP socket) and, as root,
// CPU seconds from each pod's cgroup, with samples over time.
func checkPodStats(t *testing.T, res *Result, wantFlows int64, wantRequests float64) {
	t.Helper()
	raw, err := os.ReadFile(res.EventsFile)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Cgroups string              `json:"cgroups"`
		Pods    map[string]PodStats `json:"pods"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	var flows int64
	var reqs float64
	for name, p := range got.Pods {
		if p.NewFlows == nil || p.Requests == nil || p.RequestsSource != "metrics" {
			t.Fatalf("pod %s: stats incomplete: %+v", name, p)
		}
		flows += *p.NewFlows
		reqs += *p.Requests
		if os.Geteuid() == 0 && got.Cgroups != "" && !strings.HasPrefix(got.Cgroups, "none") {
			if p.CPUSeconds == nil || *p.CPUSeconds <= 0 {
				t.Errorf("pod %s: no CPU time from its cgroup (%s): %+v", name, got.Cgroups, p)
			}
		}
		if len(p.OverTime) == 0 {
			t.Errorf("pod %s: no samples over time", name)
		}
	}
	// A new UDP socket may get the port a closed one just had: the same
	// 5-tuple is the same flow (conntrack's rule too), so allow a few less.
	if flows > wantFlows || flows < wantFlows-3 || reqs != wantRequests {
		t.Errorf("server side: %d new flows, %.0f requests; want %d and %.0f (%s)", flows, reqs, wantFlows, wantRequests, raw)
	}
}

// TestSIGKILLThenSweep kills a running lab with SIGKILL (no cleanup runs),
// then sweeps as `spread lab --cleanup` does: its node, pod and client
// namespaces and its cgroups go, and no pod process survives.
func TestSIGKILLThenSweep(t *testing.T) {
	requireIPTables(t)
	labpod, fakespread, labrun := bins(t)
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.json")
	os.WriteFile(planFile, []byte(`{"a":[{"do":"tcp-new","n":1000,"every":"20ms"}]}`), 0o644)
	cmd := exec.Command(labrun, fakespread, podTemplate(labpod), planFile, filepath.Join(dir, "out"), ModeIPTables)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "script-started") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("script never started:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	prefix := netns.Prefix + strconv.Itoa(cmd.Process.Pid) + "-"
	mine := func() []string {
		names, _ := netns.List()
		var out []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				out = append(out, n)
			}
		}
		return out
	}
	if n := len(mine()); n < 3 {
		t.Fatalf("want node + 2 pod namespaces while running, got %v", mine())
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := netns.Sweep(false); err != nil {
		t.Error(err)
	}
	removed, err := cgroup.Sweep(false)
	if err != nil {
		t.Error(err)
	}
	if left := mine(); len(left) > 0 {
		t.Errorf("namespaces left after the sweep: %v", left)
	}
	if v, _ := cgroup.Version(); v != "" && len(removed) == 0 {
		t.Error("no cgroup of the killed lab swept")
	}
	for _, g := range removed {
		if _, err := os.Stat(g); err == nil {
			t.Errorf("cgroup %s left", g)
		}
	}
	if out, _ := exec.Command("pgrep", "-f", "labpod --name").Output(); len(strings.TrimSpace(string(out))) > 0 {
		// Other tests' pods may run in parallel packages; only ours matter.
		for _, pid := range strings.Fields(string(out)) {
			b, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			if strings.Contains(string(b), binDir) {
				t.Errorf("pod process %s survived: %s", pid, b)
			}
		}
	}
}

// Readiness with kubelet's thresholds: pod 1 starts failing /readyz at
// 0.7 s and leaves the endpoints after 3 consecutive failures; new
// connections then reach only pod 2.
func TestReadinessFailureLeavesEndpoints(t *testing.T) {
	labpod, _, _ := bins(t)
	res, hits := runPlan(t, ModeUserspace, 2, nil, `{"tcp-new":[{"do":"tcp-new","n":80,"every":"20ms"}]}`, func(c *Config) {
		c.PodCommand = podTemplate(labpod) + `{{if eq .Name "echo-server-1"}} --unready-after 700ms{{end}}`
	})
	var removed float64 = -1
	for _, e := range res.Events {
		if e.Kind == "pod-removed" && e.Pod == "echo-server-1" && strings.Contains(e.Detail, "readiness failed 3 times") {
			removed = e.AtSeconds
			break
		}
	}
	if removed < 0 {
		t.Fatalf("pod 1 never left the endpoints for readiness: %+v", res.Events)
	}
	var after int
	for _, h := range hits["tcp-new"] {
		if h.T > removed+0.05 {
			after++
			if h.Pod != "echo-server-2" {
				t.Errorf("request at %.2fs (pod 1 removed at %.2fs) served by %q", h.T, removed, h.Pod)
			}
		}
	}
	if after < 10 {
		t.Errorf("only %d requests after the removal", after)
	}
}

// Liveness: /livez fails 600 ms after the process starts; after 2 failed
// probes the container is restarted in place (same address), becomes ready
// again and serves.
func TestLivenessRestartsInPlace(t *testing.T) {
	labpod, _, _ := bins(t)
	res, hits := runPlan(t, ModeUserspace, 1, nil, `{"tcp-new":[{"do":"tcp-new","n":120,"every":"20ms"}]}`, func(c *Config) {
		c.PodCommand = podTemplate(labpod) + " --live-for 600ms"
		c.Liveness = pods.ProbeSpec{Path: "/livez", Period: 50 * time.Millisecond, Timeout: time.Second, Success: 1, Failure: 2}
	})
	var restarted, readdedAfter float64 = -1, -1
	for _, e := range res.Events {
		switch {
		case e.Kind == "pod-restarted" && restarted < 0:
			restarted = e.AtSeconds
		case e.Kind == "pod-added" && restarted >= 0 && readdedAfter < 0:
			readdedAfter = e.AtSeconds
		}
	}
	if restarted < 0 || readdedAfter < 0 {
		t.Fatalf("no restart and re-add: %+v", res.Events)
	}
	if res.Pods[0].Restarts < 1 || len(res.Pods) != 1 {
		t.Errorf("pods %+v", res.Pods)
	}
	var servedAfter int
	for _, h := range hits["tcp-new"] {
		if h.T > readdedAfter+0.05 && h.Pod == "echo-server-1" {
			servedAfter++
		}
	}
	if servedAfter == 0 {
		t.Error("the restarted pod served nothing")
	}
}

// Terminating endpoints: scaling 1 -> 0 leaves no ready endpoint, so the
// terminating pod, which still passes readiness while it drains, keeps
// taking new connections until it exits (kube-proxy >= 1.28).
func TestTerminatingEndpointUsedWhenNoneReady(t *testing.T) {
	labpod, _, _ := bins(t)
	res, hits := runPlan(t, ModeUserspace, 1, []Event{{At: 300 * time.Millisecond, Kind: KindScale, Replicas: 0}},
		`{"tcp-new":[{"do":"tcp-new","n":40,"every":"20ms"}]}`, func(c *Config) {
			c.PodCommand = podTemplate(labpod) + " --drain-ready 1500ms"
		})
	var fallback float64 = -1
	for _, e := range res.Events {
		if e.Kind == "endpoints" && strings.Contains(e.Detail, "true") {
			fallback = e.AtSeconds
		}
	}
	if fallback < 0 {
		t.Fatalf("terminating endpoints never used: %+v", res.Events)
	}
	var after, failed int
	for _, h := range hits["tcp-new"] {
		if h.T > fallback+0.05 {
			after++
			if h.Pod != "echo-server-1" {
				failed++
			}
		}
	}
	if after < 10 || failed > 0 {
		t.Errorf("after scale to 0: %d requests, %d not served by the terminating pod", after, failed)
	}
}
