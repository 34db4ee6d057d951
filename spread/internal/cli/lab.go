package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"spread.dev/spread/internal/engine"
	"spread.dev/spread/internal/lab"
	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/hpa"
	"spread.dev/spread/internal/lab/link"
	"spread.dev/spread/internal/lab/netns"
	"spread.dev/spread/internal/lab/pods"
)

// labExitError carries the script's exit code out of `spread lab`.
type labExitError struct {
	code int
	msg  string
}

func (e *labExitError) Error() string { return e.msg }
func (e *labExitError) ExitCode() int { return e.code }

// labFlags are spread lab's flags: the raw values as given, and the lab
// configuration they fill in.
type labFlags struct {
	cfg                      lab.Config
	scales, kills, restarts  []string
	envs                     []string
	cleanup, cleanupAll      bool
	udpTimeout, streamTimout time.Duration
	podCPU, podMemory        string
	readiness, liveness      string
	clientLink, podLink      string
	hpaSpec                  string
}

func newLabCommand() *cobra.Command {
	lf := &labFlags{}
	var run func(cmd *cobra.Command, args []string, up bool) error
	cmd := &cobra.Command{
		Use:   "lab [flags] SCRIPT [-- spread-run-flags] | lab --client-cmd CMD | lab up",
		Short: "Run a script against pods behind an emulated Kubernetes Service (kube-proxy iptables rules or a Go L4 proxy)",
		Long: `Starts --replicas pods (echo-server, or --pod-cmd) behind an emulated Service,
runs SCRIPT with 'spread run' against it, and plays a timeline of scale, kill
and rolling-restart events while the script runs.

--proxy iptables (root) programs kube-proxy's nat chains (KUBE-SERVICES,
KUBE-SVC-*, KUBE-SEP-*) in a network namespace of its own (the node), the
Service on 10.96.0.10:80 (tcp) and :443 (tcp+udp); each pod runs in a
namespace of its own on a veth pair into the node's bridge (as a CNI bridge
wires a node), with its own address (10.244.0.N) and host name; a pod that
is gone takes its address with it (packets to it time out). --proxy nftables
(root) loads kube-proxy's nftables ruleset (table kube-proxy, service-ips
map, numgen random vmaps) with the real nft instead, replacing the whole
table in one transaction on every endpoint change. --nodeport puts the
script in a client namespace reaching NodePorts 30080/30443 over a veth
pair. --proxy userspace (any user) puts a Go L4 proxy with the same
per-flow semantics on 127.0.0.1. --proxy auto picks iptables when it can
and says why.

The script gets TARGET_HTTP, TARGET_HTTPS, TARGET_H3, TARGET_GRPC (host:port
of the Service's cleartext gRPC port 5090), TARGET_DNS and CA_CERT in its env
(and as -e flags). The lab serves a cluster DNS: echo-server.spread.svc.cluster.local
is the ClusterIP, echo-server-headless.spread.svc.cluster.local the ready pods'
IPs (updated on every endpoint change, --dns-ttl); in the kernel modes it is
the script's default resolver (a resolv.conf with a pod's search path) and
TARGET_GRPC_HEADLESS is dns:///echo-server-headless.spread.svc.cluster.local:5090.
Flags after '--' go to 'spread run'. Events, pod logs, certificates and the run's samples land in --out-dir. spread lab exits with
the script's exit code. Everything the lab creates is removed on exit, also
on SIGINT/SIGTERM; 'spread lab --cleanup' removes leftovers of a lab that was
killed with SIGKILL.

Examples:
  spread lab --replicas 1 --scale 2@2m scripts/baseline_h1.js -- -u 100 -d 4m
  spread lab --proxy userspace --replicas 2 --scale 1@30s --pod-arg=--delay=100ms s.js
  spread lab --pod-cmd 'python3 -m http.server -b {{.IP}} {{.HTTPPort}}' --readiness-path / s.js`,
		// Arbitrary: with the "up" subcommand cobra would otherwise read a
		// script name as an unknown subcommand.
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return run(cmd, args, false) },
	}
	run = func(cmd *cobra.Command, args []string, up bool) error {
		if lf.cleanup || lf.cleanupAll {
			return labCleanup(cmd, lf.cleanupAll)
		}
		if err := lf.configure(cmd, args, up); err != nil {
			return err
		}
		return runLab(cmd, lf.cfg)
	}
	upCmd := &cobra.Command{
		Use:   "up [flags]",
		Short: "Start the pods and the Service, print the targets and how to enter the client's namespace, play the timeline, tear down on Ctrl-C",
		Args:  cobra.NoArgs,
		RunE:  func(c *cobra.Command, args []string) error { return run(c, args, true) },
	}
	cmd.AddCommand(upCmd)
	lf.register(cmd.PersistentFlags())
	return cmd
}

// register adds the lab's flags (shared by lab and lab up).
func (lf *labFlags) register(f *pflag.FlagSet) {
	f.StringVar(&lf.cfg.Proxy, "proxy", "auto", "Service emulation: auto, iptables (root: kube-proxy's iptables rules), nftables (root: kube-proxy's nftables rules, real nft) or userspace (Go L4 proxy)")
	f.StringVar(&lf.cfg.ClientCmd, "client-cmd", "", "run any command as the client instead of a script (shell line; templates {{.TargetHTTP}} {{.TargetHTTPS}} {{.TargetH3}} {{.CACert}}, also as env TARGET_HTTP...; runs in the client namespace; the lab exits with its exit code)")
	f.StringVar(&lf.cfg.Scheduler, "scheduler", "random", "endpoint choice per new flow with --proxy userspace: random (as iptables/nftables), rr or lc (IPVS's round-robin and least-connection, emulated: no ip_vs in this kernel)")
	f.IntVar(&lf.cfg.Replicas, "replicas", 1, "pods at start")
	f.StringArrayVar(&lf.scales, "scale", nil, "scale to M replicas at time T: M@T (e.g. 2@2m; repeatable; M below the current count scales down)")
	f.StringArrayVar(&lf.kills, "kill", nil, "SIGKILL a pod at time T: POD@T (e.g. echo-server-1@1m; repeatable). Pods are echo-server-N, numbered in start order; a pod that cannot exist is refused up front. The killed pod is removed, not restarted (no kubelet restart / ReplicaSet replacement)")
	f.StringArrayVar(&lf.restarts, "rolling-restart", nil, "replace every pod one at a time (surge 1, SIGTERM + drain) at time T: @T (repeatable)")
	f.StringVar(&lf.cfg.PodCommand, "pod-cmd", "", "pod command template instead of echo-server ({{.Name}} {{.IP}} {{.HTTPPort}} {{.HTTPSPort}} {{.H3Port}} {{.MetricsPort}} {{.CertFile}} {{.KeyFile}} {{.CAFile}})")
	f.StringArrayVar(&lf.cfg.PodArgs, "pod-arg", nil, "extra echo-server flag for every pod (repeatable, e.g. --pod-arg=--max-inflight=100)")
	f.BoolVar(&lf.cfg.SharedQUICKeys, "shared-quic-keys", true, "give all pods the same QUIC stateless-reset/token/session-ticket keys")
	f.DurationVar(&lf.udpTimeout, "conntrack-udp-timeout", 0, "UDP flow idle timeout (nf_conntrack_udp_timeout; 0 = 30s kernel default)")
	f.DurationVar(&lf.streamTimout, "conntrack-udp-stream-timeout", 0, "UDP flow idle timeout once replied (nf_conntrack_udp_timeout_stream; 0 = 120s)")
	f.StringVar(&lf.cfg.OutDir, "out-dir", "lab-out", "directory for run.json, summary-export.json, events.json, pods/*.log, certs/")
	f.StringVar(&lf.cfg.EchoServer, "echo-server", "", "echo-server binary (default: next to spread, then PATH)")
	f.StringVar(&lf.cfg.Spread, "spread", "", "spread binary running the script (default: this one)")
	f.BoolVar(&lf.cfg.NodePort, "nodeport", false, "run the script in a client namespace reaching NodePorts 30080/30443 over a veth (iptables and nftables)")
	f.StringVar(&lf.cfg.ReadinessPath, "readiness-path", "/readyz", "readiness probe path on the pod's HTTP port")
	f.DurationVar(&lf.cfg.StopGrace, "stop-grace", 30*time.Second, "termination grace period of a stopping pod before SIGKILL")
	f.DurationVar(&lf.cfg.DNSTTL, "dns-ttl", 5*time.Second, "TTL of the lab's cluster DNS answers (echo-server[-headless].spread.svc.cluster.local; CoreDNS caches 5s)")
	f.StringArrayVarP(&lf.envs, "env", "e", nil, "extra env for the script: KEY=VALUE (repeatable)")
	f.StringVar(&lf.readiness, "readiness-probe", "", "kubelet readiness probe: 'path=/readyz,period=1s,timeout=1s,success=1,failure=3,initialDelay=0s' (fields left out: --readiness-path, period 250ms, timeout 1s, success 1, failure 3)")
	f.StringVar(&lf.liveness, "liveness-probe", "", "kubelet liveness probe, same fields (path default /healthz): after failure consecutive failures the pod's process is restarted in place; default none")
	f.StringVar(&lf.clientLink, "link", "", "emulate the client's link to the node: 'delay=2ms,jitter=0.2ms,loss=0.1%' (delay one-way, each direction) or 'rtt=2ms'; every packet crosses it (kernel modes; the client gets its own namespace)")
	f.StringVar(&lf.podLink, "pod-link", "", "emulate each pod's link to the node, same syntax as --link (the client-to-pod RTT is the sum of both)")
	f.StringVar(&lf.cfg.LinkEmulator, "link-emulator", "auto", "how links are emulated: auto (netem where the kernel has sch_netem, else userspace), netem, or userspace (TUN devices and a relay in the lab)")
	f.StringVar(&lf.hpaSpec, "hpa", "", "Horizontal Pod Autoscaler on pod CPU: 'min=1,max=5,cpu=50%' (optional sync=15s, tolerance=0.1, stabilization=300s; needs --pod-cpu as the request)")
	f.StringVar(&lf.podCPU, "pod-cpu", "", "each pod's CPU limit as in resources.limits.cpu (e.g. 250m): a CFS quota in the pod's cgroup (root)")
	f.StringVar(&lf.podMemory, "pod-memory", "", "each pod's memory limit as in resources.limits.memory (e.g. 256Mi): the pod's cgroup memory limit, OOM-killed above it (root)")
	f.StringVar(&lf.cfg.L7Proxy, "l7-proxy", "", "put L7 proxy pods between the client and the pods: haproxy (roundrobin), haproxy-leastconn or caddy (h1/h2/h3 over TLS in front); the Service's endpoints are the proxies, the pods their backends, updated on every endpoint change (kernel modes; Debian's haproxy / caddy)")
	f.IntVar(&lf.cfg.L7ProxyReplicas, "l7-proxy-replicas", 0, "proxy pods behind the Service (default 1 with --l7-proxy)")
	f.StringVar(&lf.cfg.L7Upstream, "l7-upstream", "", "how the proxy talks to the pods: h1 (keep-alive, default) or h2 (Caddy only, over TLS)")
	f.BoolVar(&lf.cleanup, "cleanup", false, "remove leftover spread-lab-* namespaces and cgroups of labs that are no longer running, then exit")
	f.BoolVar(&lf.cleanupAll, "cleanup-all", false, "remove every spread-lab-* namespace and cgroup, even of running labs, then exit")
}

// labCleanup removes what labs killed with SIGKILL left behind.
func labCleanup(cmd *cobra.Command, all bool) error {
	removed, err := netns.Sweep(all)
	for _, n := range removed {
		fmt.Fprintln(cmd.ErrOrStderr(), "lab: removed namespace", n)
	}
	groups, cerr := cgroup.Sweep(all)
	for _, g := range groups {
		fmt.Fprintln(cmd.ErrOrStderr(), "lab: removed cgroup", g)
	}
	if len(removed)+len(groups) == 0 && err == nil && cerr == nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "lab: nothing to clean up")
	}
	return errors.Join(err, cerr)
}

// configure turns the raw flag values (probes, links, HPA, limits, the
// timeline, env) and the arguments into lf.cfg.
func (lf *labFlags) configure(cmd *cobra.Command, args []string, up bool) error {
	// Probe fields left out: kubelet's timeout and thresholds, the
	// lab's 250ms period (kubelet's 10s is long for a short run).
	labProbe := pods.ProbeSpec{Path: lf.cfg.ReadinessPath, Period: 250 * time.Millisecond, Timeout: time.Second, Success: 1, Failure: 3}
	if lf.readiness != "" {
		p, err := pods.ParseProbe(lf.readiness, labProbe)
		if err != nil || p.Path == "" {
			return fmt.Errorf("lab: --readiness-probe: %v", errOr(err, "a pod needs a readiness probe"))
		}
		lf.cfg.Readiness = p
	}
	if lf.liveness != "" {
		base := labProbe
		base.Path = "/healthz"
		p, err := pods.ParseProbe(lf.liveness, base)
		if err != nil {
			return fmt.Errorf("lab: --liveness-probe: %w", err)
		}
		lf.cfg.Liveness = p
	}
	for _, l := range []struct {
		flag, val string
		dst       *link.Spec
	}{{"--link", lf.clientLink, &lf.cfg.ClientLink}, {"--pod-link", lf.podLink, &lf.cfg.PodLink}} {
		if l.val == "" {
			continue
		}
		sp, err := link.Parse(l.val)
		if err != nil {
			return fmt.Errorf("lab: %s: %w", l.flag, err)
		}
		*l.dst = sp
	}
	if lf.hpaSpec != "" {
		sp, err := hpa.Parse(lf.hpaSpec)
		if err != nil {
			return fmt.Errorf("lab: --hpa: %w", err)
		}
		lf.cfg.HPA = &sp
	}
	if lf.podCPU != "" {
		m, err := cgroup.ParseCPU(lf.podCPU)
		if err != nil {
			return fmt.Errorf("lab: --pod-cpu: %w", err)
		}
		lf.cfg.PodLimits.MilliCPU = m
	}
	if lf.podMemory != "" {
		b, err := cgroup.ParseMemory(lf.podMemory)
		if err != nil {
			return fmt.Errorf("lab: --pod-memory: %w", err)
		}
		lf.cfg.PodLimits.MemoryBytes = b
	}
	lf.cfg.Up = up
	if !up && lf.cfg.ClientCmd == "" {
		script, runArgs, err := splitLabArgs(cmd, args)
		if err != nil {
			return err
		}
		lf.cfg.Script, lf.cfg.RunArgs = script, runArgs
	} else if len(args) > 0 {
		return fmt.Errorf("lab: no SCRIPT with --client-cmd or up, got %q", args)
	}
	lf.cfg.ConntrackUDPTimeout, lf.cfg.ConntrackUDPStreamTimeout = lf.udpTimeout, lf.streamTimout
	events, err := lf.timeline()
	if err != nil {
		return err
	}
	lf.cfg.Events = append(lf.cfg.Events, events...)
	if err := lab.CheckKillTargets(lf.cfg.Replicas, lf.cfg.Events, lf.cfg.HPA != nil); err != nil {
		// a usage error, as k6's invalid options: exit 104
		return &engine.ExitError{Code: engine.ExitInvalidConfig, Err: err}
	}
	if len(lf.envs) > 0 {
		lf.cfg.Env = map[string]string{}
		for _, kv := range lf.envs {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return fmt.Errorf("lab: --env %q: want KEY=VALUE", kv)
			}
			lf.cfg.Env[k] = v
		}
	}
	return nil
}

// timeline parses --scale, --kill and --rolling-restart into lab events.
func (lf *labFlags) timeline() ([]lab.Event, error) {
	var events []lab.Event
	for _, s := range lf.scales {
		ev, err := lab.ParseScale(s)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	for _, s := range lf.kills {
		ev, err := lab.ParseKill(s)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	for _, s := range lf.restarts {
		ev, err := lab.ParseRollingRestart(s)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

// runLab runs the lab until the script (or client command, or Ctrl-C for
// lab up) ends, and turns its outcome into spread's exit codes.
func runLab(cmd *cobra.Command, cfg lab.Config) error {
	cfg.Stdout, cfg.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := lab.Run(ctx, cfg)
	if res != nil && res.EventsFile != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "lab: proxy %s; events in %s\n", res.Proxy, res.EventsFile)
	}
	if err != nil {
		if ctx.Err() != nil {
			return &labExitError{code: 105, msg: err.Error()} // k6's "interrupted"
		}
		return err
	}
	if res.ExitCode != 0 {
		return &labExitError{code: res.ExitCode, msg: fmt.Sprintf("lab: script exited with code %d", res.ExitCode)}
	}
	return nil
}

func errOr(err error, msg string) string {
	if err != nil {
		return err.Error()
	}
	return msg
}

// splitLabArgs separates SCRIPT from the flags after "--".
func splitLabArgs(cmd *cobra.Command, args []string) (script string, runArgs []string, err error) {
	before := args
	if dash := cmd.ArgsLenAtDash(); dash >= 0 {
		before, runArgs = args[:dash], args[dash:]
	}
	if len(before) != 1 {
		return "", nil, fmt.Errorf("lab: want exactly one SCRIPT before '--', got %d arguments", len(before))
	}
	return before[0], runArgs, nil
}
