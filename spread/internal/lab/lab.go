// Package lab runs a load script against an emulated Kubernetes Service on
// one machine: pods as local processes, a Service programmed either with
// kube-proxy's real iptables rules in a network namespace or with a Go L4
// proxy of the same semantics, and a timeline of scale, kill and rolling
// restart events recorded next to the script's results.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/hpa"
	"spread.dev/spread/internal/lab/link"
	"spread.dev/spread/internal/lab/netns"
	"spread.dev/spread/internal/lab/pods"
	"spread.dev/spread/internal/lab/userspace"
)

// Config describes one lab run.
type Config struct {
	Proxy string // "auto" | "iptables" | "nftables" | "userspace"
	// Scheduler is the userspace proxy's endpoint choice per new flow:
	// "random" (default, as iptables/nftables), or IPVS-style "rr" / "lc"
	// (emulated: this kernel has no ip_vs).
	Scheduler  string
	Replicas   int     // pods at start
	Events     []Event // timeline, relative to the script's start
	PodCommand string  // "" = echo-server; else a template with {{.Name}} {{.IP}} {{.HTTPPort}} {{.HTTPSPort}} {{.H3Port}} {{.MetricsPort}} {{.CertFile}} {{.KeyFile}} {{.CAFile}}
	EchoServer string  // echo-server binary ("" = next to spread's executable, then PATH)
	PodArgs    []string
	// SharedQUICKeys gives every pod the same --quic-keys file.
	SharedQUICKeys                                 bool
	ConntrackUDPTimeout, ConntrackUDPStreamTimeout time.Duration // 0 = kernel default
	Spread                                         string        // spread binary ("" = os.Executable())
	Script                                         string
	RunArgs                                        []string
	Env                                            map[string]string
	OutDir                                         string
	Stdout, Stderr                                 io.Writer

	// Extensions (see /work/brief/lab-api-changes.md).

	// NodePort runs the script in a second namespace joined by a veth pair
	// and targets the Service's NodePorts (iptables mode only).
	NodePort bool
	// ReadinessPath is the pod's readiness probe path ("" = /readyz).
	ReadinessPath string
	// ProbePeriod is the readiness probe period ("" = 250ms).
	ProbePeriod time.Duration
	// Readiness is the full readiness probe (kubelet's fields); when its
	// Path is empty it is ReadinessPath every ProbePeriod, timeout 1s,
	// success 1, failure 3 (kubelet's thresholds at a lab-sized period).
	Readiness pods.ProbeSpec
	// Liveness restarts a pod's process after Failure consecutive failed
	// probes (zero Path = no liveness probe, kubelet's default).
	Liveness pods.ProbeSpec
	// StopGrace is how long a stopping pod may drain before SIGKILL (0 = 30s,
	// kubelet's terminationGracePeriodSeconds default).
	StopGrace time.Duration
	// ReadyTimeout bounds the wait for the initial pods (0 = 60s).
	ReadyTimeout time.Duration
	// Progress receives one line per lab event (nil = Stderr).
	Progress io.Writer

	// HPA scales the pods on their measured CPU utilization (needs
	// PodLimits.MilliCPU as the request); nil = no autoscaler.
	HPA *hpa.Spec
	// ClientCmd runs any command as the client instead of a spread script:
	// a shell command line and text/template with {{.TargetHTTP}},
	// {{.TargetHTTPS}}, {{.TargetH3}}, {{.CACert}} (also in its env as
	// TARGET_HTTP, ...), run where a script would run (the client or node
	// namespace); the lab's exit code is the command's.
	ClientCmd string
	// Up runs no client: the lab prints its targets and how to enter the
	// client's namespace, plays the timeline and waits for ctx to end.
	Up bool

	// PodLimits are every pod's resources.limits (CPU quota, memory limit),
	// applied with cgroups; zero = unlimited. Pods get a cgroup (for their
	// CPU time) whenever the lab runs as root, limits or not.
	PodLimits cgroup.Limits
	// ClientLink and PodLink emulate the client's link to the node and each
	// pod's (delay, jitter, loss per direction); zero = plain veth pairs.
	// A client link puts the client in a namespace of its own.
	ClientLink, PodLink link.Spec
	// LinkEmulator: "auto" (netem where the kernel has it, else the TUN
	// relay), "netem" or "userspace".
	LinkEmulator string
	// DNSTTL is the TTL of the lab's cluster DNS answers (0 = 5s, CoreDNS's
	// cache default); see clusterdns.go.
	DNSTTL time.Duration
	// SampleEvery is how often each pod's counters are sampled for
	// events.json (0 = 1s).
	SampleEvery time.Duration

	// L7Proxy puts proxy pods between the client and the echo-server pods
	// (see l7.go): "" (none), "haproxy", "haproxy-leastconn" or "caddy".
	// The Service's endpoints are then the proxies; the pods are the
	// proxies' backends, updated on every endpoint change.
	L7Proxy         string
	L7ProxyReplicas int    // proxy pods (0 = 1)
	L7Upstream      string // how the proxy talks to the pods: h1 (default) or h2 (Caddy)
}

// Event kinds of Config.Events.
const (
	KindScale          = "scale"
	KindKill           = "kill"
	KindRollingRestart = "rolling-restart"
)

// Event is one timeline step: scale to Replicas, kill Pod, or restart all pods.
type Event struct {
	At       time.Duration
	Kind     string
	Replicas int
	Pod      string
}

// Result is what a lab run measured and where it wrote it.
type Result struct {
	Proxy       string    `json:"proxy"`
	ProxyReason string    `json:"proxy_reason"`
	Start       time.Time `json:"start"` // when the script started
	// Targets are the env values the script received (TARGET_HTTP, ...).
	Targets map[string]string `json:"targets"`
	Events  []RecordedEvent   `json:"events"`
	// Link says how the client and pod links were emulated, and the RTT
	// the client measured to the Service (kernel modes only).
	Link *LinkInfo `json:"link,omitempty"`
	// Cgroups says which cgroup hierarchy held the pods ("" = none, and why).
	Cgroups string `json:"cgroups"`
	// Pods lists the pods in start order; PodStats has, per pod name, what
	// the servers did, measured on the server side (events.json "pods").
	Pods     []PodInfo           `json:"pod_list"`
	PodStats map[string]PodStats `json:"pods"`
	ExitCode int                 `json:"exit_code"`
	// ClientCPUSeconds is the client process's CPU time (user+system of
	// the script's process and the children it waited for).
	ClientCPUSeconds *float64 `json:"client_cpu_seconds,omitempty"`
	// L7 is the proxy tier, when Config.L7Proxy ran one.
	L7          *L7Info `json:"l7_proxy,omitempty"`
	SamplesFile string  `json:"samples_file"`
	SummaryFile string  `json:"summary_file"`
	EventsFile  string  `json:"events_file"`
}

// RecordedEvent is one thing that happened, At relative to Result.Start
// (negative before the script started).
type RecordedEvent struct {
	At        time.Duration `json:"at_ns"`
	AtSeconds float64       `json:"at_s"`
	Time      time.Time     `json:"time"`
	Kind      string        `json:"kind"` // scale, pod-started, pod-ready, pod-added, pod-removed, pod-draining, pod-stopped, pod-killed, kill-skipped, pod-exited, rolling-restart, error
	Pod       string        `json:"pod,omitempty"`
	Detail    string        `json:"detail,omitempty"`
}

// PodInfo describes one pod of the run; zero times mean "never".
type PodInfo struct {
	Name              string             `json:"name"`
	Address           string             `json:"address"`
	Started           time.Time          `json:"started"`
	Ready             time.Time          `json:"ready"`
	Stopped           time.Time          `json:"stopped"`
	Restarts          int                `json:"restarts"`
	ServerRequests    float64            `json:"server_requests"`
	ServerConnections map[string]float64 `json:"server_connections"`
}

// Run starts the pods and the Service, runs the script with `spread run`,
// plays the timeline, and removes everything it created before returning,
// also when ctx is cancelled or the script fails.
func Run(ctx context.Context, cfg Config) (res *Result, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	mode, reason, err := ChooseProxy(cfg.Proxy, cfg.NodePort)
	if err != nil {
		return nil, err
	}
	if (!cfg.ClientLink.Zero() || !cfg.PodLink.Zero()) && mode == ModeUserspace {
		return nil, errors.New("lab: --link/--pod-link need --proxy iptables or nftables (root): the links join network namespaces")
	}
	if cfg.Scheduler != "" && cfg.Scheduler != userspace.SchedRandom {
		if mode != ModeUserspace {
			return nil, fmt.Errorf("lab: --scheduler %s needs --proxy userspace (IPVS is not in this kernel; its schedulers are emulated in the Go proxy)", cfg.Scheduler)
		}
		reason += "; scheduler " + cfg.Scheduler + " (IPVS-style, emulated in the Go proxy)"
	}
	if err := cfg.checkFiles(); err != nil {
		return nil, err
	}
	res = &Result{
		Proxy: mode, ProxyReason: reason,
		SamplesFile: filepath.Join(cfg.OutDir, "run.json"),
		SummaryFile: filepath.Join(cfg.OutDir, "summary-export.json"),
		EventsFile:  filepath.Join(cfg.OutDir, "events.json"),
	}
	for _, dir := range []string{cfg.OutDir, filepath.Join(cfg.OutDir, "pods")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
	}
	l := &lab{cfg: cfg, res: res, podsByName: map[string]*podState{}, applied: map[string]pods.Spec{}}
	if f, err := os.Create(filepath.Join(cfg.OutDir, "events.live.jsonl")); err == nil {
		l.liveEvents = f
		defer func() {
			l.mu.Lock()
			l.liveEvents = nil
			l.mu.Unlock()
			f.Close()
		}()
	}
	fmt.Fprintf(cfg.Progress, "lab: proxy %s (%s)\n", mode, reason)

	// Everything created from here on is undone by cleanup, whatever happens.
	defer func() {
		if cerr := l.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
		l.finish()
		if werr := l.writeEvents(); werr != nil && err == nil {
			err = werr
		}
	}()

	if mode == ModeIPTables || mode == ModeNFTables {
		l.svc, err = newNodeService(ctx, cfg, mode)
	} else {
		l.svc, err = newUserspaceService(cfg)
	}
	if err != nil {
		return res, err
	}
	if err := l.prepareFiles(ctx); err != nil {
		return res, err
	}
	if err := l.setupCgroups(); err != nil {
		return res, err
	}
	defer l.stopL7() // before cleanup (deferred earlier) removes the namespaces
	if err := l.startL7(ctx); err != nil {
		return res, err
	}
	res.Targets = l.svc.targets()
	res.Targets["CA_CERT"] = l.caFile
	if err := l.startDNS(); err != nil {
		return res, err
	}

	if err := l.startInitialPods(ctx); err != nil {
		return res, err
	}
	if ns, ok := l.svc.(*nodeService); ok {
		li := ns.linkInfo()
		if l.cfg.Replicas > 0 {
			// Ten connects through the Service: what the client's
			// handshakes will pay, measured, not assumed.
			if rtt, err := ns.measureRTT(ctx, 10); err == nil {
				li.MeasuredRTTms = float64(rtt.Microseconds()) / 1000
			} else {
				l.record("error", "", err.Error())
			}
		}
		res.Link = &li
		// The measuring connects are not the client's: count from here.
		if f, err := l.svc.newFlows(ctx); err == nil {
			l.flowOffset = f
		}
		l.record("link", "", fmt.Sprintf("emulator %q client %s pods %s: expected rtt %.2fms, measured %.2fms",
			li.Emulator, li.Client, li.Pods, li.ExpectedRTTms, li.MeasuredRTTms))
	}
	return res, l.runScript(ctx)
}

// checkFiles looks for the script and the echo-server binary before any
// namespace or pod is made, so a typo fails at once with one clear line.
func (c *Config) checkFiles() error {
	if c.Script != "" {
		if _, err := os.Stat(c.Script); err != nil {
			return fmt.Errorf("lab: script: %w", err)
		}
	}
	if c.EchoServer != "" && c.PodCommand == "" {
		if _, err := exec.LookPath(c.EchoServer); err != nil {
			return fmt.Errorf("lab: echo-server binary: %w", err)
		}
	}
	return nil
}

func (c *Config) defaults() error {
	modes := 0
	for _, set := range []bool{c.Script != "", c.ClientCmd != "", c.Up} {
		if set {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("lab: want exactly one of a script, --client-cmd or up")
	}
	if c.ClientCmd != "" {
		if _, err := template.New("client").Option("missingkey=error").Parse(c.ClientCmd); err != nil {
			return fmt.Errorf("lab: --client-cmd: %w", err)
		}
	}
	if c.Replicas < 0 {
		return fmt.Errorf("lab: replicas %d < 0", c.Replicas)
	}
	if err := checkL7(c); err != nil {
		return err
	}

	if c.Proxy == "" {
		c.Proxy = "auto"
	}
	if err := userspace.CheckScheduler(c.Scheduler); err != nil {
		return fmt.Errorf("lab: --scheduler: %w", err)
	}
	if c.OutDir == "" {
		c.OutDir = "lab-out"
	}
	abs, err := filepath.Abs(c.OutDir)
	if err != nil {
		return fmt.Errorf("lab: out dir: %w", err)
	}
	c.OutDir = abs
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Progress == nil {
		c.Progress = c.Stderr
	}
	if c.ReadinessPath == "" {
		c.ReadinessPath = "/readyz"
	}
	if c.ProbePeriod <= 0 {
		c.ProbePeriod = 250 * time.Millisecond
	}
	if c.Readiness.Path == "" {
		c.Readiness = pods.ProbeSpec{Path: c.ReadinessPath, Period: c.ProbePeriod, Timeout: time.Second, Success: 1, Failure: 3}
	}
	for _, p := range []*pods.ProbeSpec{&c.Readiness, &c.Liveness} {
		if p.Path == "" {
			continue
		}
		if p.Period <= 0 || p.Timeout <= 0 || p.Success < 1 || p.Failure < 1 || p.InitialDelay < 0 {
			return fmt.Errorf("lab: probe %+v: want period and timeout > 0, success and failure >= 1", *p)
		}
	}
	if c.StopGrace <= 0 {
		c.StopGrace = 30 * time.Second
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = 60 * time.Second
	}
	if c.HPA != nil && c.PodLimits.MilliCPU <= 0 {
		return errors.New("lab: --hpa needs --pod-cpu (the HPA's utilization is of the pod's CPU request)")
	}
	if c.SampleEvery <= 0 {
		c.SampleEvery = time.Second
	}
	if c.PodLimits.MilliCPU < 0 || c.PodLimits.MemoryBytes < 0 {
		return fmt.Errorf("lab: negative pod limits %+v", c.PodLimits)
	}
	if c.Spread == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("lab: find spread binary: %w", err)
		}
		c.Spread = exe
	}
	for _, e := range c.Events {
		switch e.Kind {
		case KindScale:
			if e.Replicas < 0 {
				return fmt.Errorf("lab: scale to %d", e.Replicas)
			}
		case KindKill:
			if e.Pod == "" {
				return errors.New("lab: kill event without pod")
			}
		case KindRollingRestart:
		default:
			return fmt.Errorf("lab: unknown event kind %q", e.Kind)
		}
	}
	return nil
}

// runScript runs `spread run` with the Service's address in env while the
// timeline plays, and stops it with SIGINT when ctx is cancelled.
func (l *lab) runScript(ctx context.Context) error {
	cfg := l.cfg
	argv := []string{cfg.Spread, "run", "--out", "json=" + l.res.SamplesFile, "--summary-export", l.res.SummaryFile}
	env := os.Environ()
	keys := make([]string, 0, len(l.res.Targets))
	for k := range l.res.Targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		argv = append(argv, "-e", k+"="+l.res.Targets[k])
		env = append(env, k+"="+l.res.Targets[k])
	}
	userKeys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		userKeys = append(userKeys, k)
	}
	sort.Strings(userKeys)
	for _, k := range userKeys {
		argv = append(argv, "-e", k+"="+cfg.Env[k])
		env = append(env, k+"="+cfg.Env[k])
	}
	if l.liveEvents != nil {
		env = append(env, LiveEventsEnv+"="+l.liveEvents.Name())
	}
	argv = append(argv, cfg.RunArgs...)
	argv = append(argv, cfg.Script)
	what := cfg.Script
	switch {
	case cfg.Up:
		return l.runUp(ctx)
	case cfg.ClientCmd != "":
		line, err := l.clientLine()
		if err != nil {
			return err
		}
		argv, what = []string{"sh", "-c", line}, line
	}
	argv = l.svc.wrapScript(argv)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("lab: start script: %w", err)
	}
	l.scriptPgid = cmd.Process.Pid
	l.res.Start = time.Now()
	l.record("script-started", "", what)

	tlCtx, stopTimeline := context.WithCancel(ctx)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		l.playTimeline(tlCtx)
	}()
	go func() {
		defer l.wg.Done()
		l.sampleLoop(tlCtx, cfg.SampleEvery)
	}()
	l.startHPA(tlCtx)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		// k6 habit: SIGINT lets the script run teardown and write its summary.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case waitErr = <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			waitErr = <-done
		}
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // leftovers of its group
	stopTimeline()
	l.res.ExitCode = exitCode(waitErr)
	if ps := cmd.ProcessState; ps != nil {
		v := (ps.UserTime() + ps.SystemTime()).Seconds()
		l.res.ClientCPUSeconds = &v
	}
	l.record("script-exited", "", fmt.Sprintf("exit code %d", l.res.ExitCode))
	if ctx.Err() != nil {
		return fmt.Errorf("lab: interrupted: %w", ctx.Err())
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		return fmt.Errorf("lab: script: %w", waitErr)
	}
	return nil
}

// startHPA runs the autoscaler while the timeline plays, if one is set.
func (l *lab) startHPA(ctx context.Context) {
	if l.cfg.HPA == nil {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.hpaLoop(ctx)
	}()
}

// clientLine renders --client-cmd with the targets.
func (l *lab) clientLine() (string, error) {
	t, err := template.New("client").Option("missingkey=error").Parse(l.cfg.ClientCmd)
	if err != nil {
		return "", fmt.Errorf("lab: --client-cmd: %w", err)
	}
	var b strings.Builder
	err = t.Execute(&b, map[string]string{
		"TargetHTTP": l.res.Targets["TARGET_HTTP"], "TargetHTTPS": l.res.Targets["TARGET_HTTPS"],
		"TargetH3": l.res.Targets["TARGET_H3"], "CACert": l.res.Targets["CA_CERT"],
	})
	if err != nil {
		return "", fmt.Errorf("lab: --client-cmd: %w", err)
	}
	return b.String(), nil
}

// runUp keeps the lab up until ctx ends (Ctrl-C), playing the timeline
// from now, after telling how to reach it.
func (l *lab) runUp(ctx context.Context) error {
	keys := make([]string, 0, len(l.res.Targets))
	for k := range l.res.Targets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("lab: up; targets:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s=%s\n", k, l.res.Targets[k])
	}
	fmt.Fprintf(&b, "lab: enter the client's side with:\n  %s\n", strings.Join(l.svc.wrapScript([]string{"sh"}), " "))
	b.WriteString("lab: Ctrl-C tears everything down\n")
	fmt.Fprint(l.cfg.Stdout, b.String())
	l.res.Start = time.Now()
	l.record("up", "", "")
	tlCtx, stop := context.WithCancel(ctx)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		l.playTimeline(tlCtx)
	}()
	go func() {
		defer l.wg.Done()
		l.sampleLoop(tlCtx, l.cfg.SampleEvery)
	}()
	l.startHPA(tlCtx)
	<-ctx.Done()
	stop()
	l.record("down", "", "interrupted")
	return nil
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// writeEvents writes events.json: the Result without the file names.
func (l *lab) writeEvents() error {
	b, err := json.MarshalIndent(l.res, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: events: %w", err)
	}
	if err := os.WriteFile(l.res.EventsFile, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("lab: events: %w", err)
	}
	return nil
}

// LiveEventsEnv is the variable that names, for the script's process, the
// file of the lab's events as JSON lines (time, kind, pod, detail); the web
// dashboard reads it to mark the events on its charts.
const LiveEventsEnv = "SPREAD_LAB_EVENTS"

// lab is the state of one run; its goroutines are owned by wg.
type lab struct {
	cfg Config
	res *Result
	svc service

	cg         *cgroup.Lab      // nil without cgroups
	l7         *l7Tier          // nil without --l7-proxy
	flowOffset map[string]int64 // flows made by the lab itself (RTT measurement), by pod

	caFile, certFile, keyFile, quicKeys string
	echoServer                          string
	scriptPgid                          int

	wg         sync.WaitGroup
	progressMu sync.Mutex // one progress line at a time

	// liveEvents gets each event as a JSON line while the script runs, so
	// the script's web dashboard can mark it (LiveEventsEnv names it).
	liveEvents *os.File

	mu         sync.Mutex
	events     []RecordedEvent
	podList    []*podState
	podsByName map[string]*podState
	nextPod    int
	closing    bool

	applyMu          sync.Mutex           // serialises Service updates
	applied          map[string]pods.Spec // endpoints currently programmed
	usingTerminating bool                 // only terminating endpoints are programmed

	dns *clusterDNS // the cluster DNS (clusterdns.go)
}

// record notes an event and prints a progress line.
func (l *lab) record(kind, pod, detail string) {
	now := time.Now()
	l.mu.Lock()
	l.events = append(l.events, RecordedEvent{Time: now, Kind: kind, Pod: pod, Detail: detail})
	start := l.res.Start
	if l.liveEvents != nil {
		if b, err := json.Marshal(RecordedEvent{Time: now, Kind: kind, Pod: pod, Detail: detail}); err == nil {
			_, _ = l.liveEvents.Write(append(b, '\n')) // one write per line: a reader never sees half of one
		}
	}
	l.mu.Unlock()
	at := "   -   "
	if !start.IsZero() {
		at = fmt.Sprintf("%7.2fs", now.Sub(start).Seconds())
	}
	line := "lab: t=" + at + " " + kind
	if pod != "" {
		line += " " + pod
	}
	if detail != "" {
		line += " (" + detail + ")"
	}
	l.progressMu.Lock()
	fmt.Fprintln(l.cfg.Progress, line)
	l.progressMu.Unlock()
}

// finish copies events and pods into the Result with times relative to Start.
func (l *lab) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := l.res.Start
	if start.IsZero() {
		start = time.Now()
		l.res.Start = start
	}
	l.res.Events = l.res.Events[:0]
	for _, e := range l.events {
		e.At = e.Time.Sub(start)
		e.AtSeconds = e.At.Seconds()
		l.res.Events = append(l.res.Events, e)
	}
	l.res.Pods = l.res.Pods[:0]
	l.res.PodStats = map[string]PodStats{}
	for _, p := range l.podList {
		l.res.Pods = append(l.res.Pods, p.info)
		st := p.stats
		if st.OverTime == nil {
			st.OverTime = []PodSample{}
		}
		l.res.PodStats[p.info.Name] = st
	}
}

// setupCgroups makes the lab's parent cgroup when it can (root and a
// hierarchy with cpu and memory), and insists when limits were asked for.
func (l *lab) setupCgroups() error {
	limited := l.cfg.PodLimits != (cgroup.Limits{})
	version, why := cgroup.Version()
	if os.Geteuid() != 0 {
		version, why = "", "not root"
	}
	if version == "" {
		l.res.Cgroups = "none: " + why
		if limited {
			return fmt.Errorf("lab: --pod-cpu/--pod-memory need cgroups: %s", why)
		}
		return nil
	}
	cg, err := cgroup.NewLab(netns.NewName(""))
	if err != nil {
		if limited {
			return fmt.Errorf("lab: --pod-cpu/--pod-memory: %w", err)
		}
		l.res.Cgroups = "none: " + err.Error()
		return nil
	}
	l.cg = cg
	l.res.Cgroups = version
	return nil
}
