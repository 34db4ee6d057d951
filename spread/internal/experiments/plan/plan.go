// Package plan reads and checks the experiment plan (scripts/experiments.yaml):
// which scripts to run in the lab, with which pods, timeline and expected
// outcome.
package plan

import (
	"spread.dev/spread/internal/lab/cgroup"
	"spread.dev/spread/internal/lab/link"

	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Plan is a list of experiments with shared defaults.
type Plan struct {
	Defaults    Defaults     `yaml:"defaults"`
	Experiments []Experiment `yaml:"experiments"`

	// Dir is the folder scripts are relative to (the plan file's folder).
	Dir string `yaml:"-"`
}

// Defaults apply to every experiment that does not set the field.
type Defaults struct {
	Proxy    string            `yaml:"proxy"`
	VUs      int               `yaml:"vus"`
	Duration Duration          `yaml:"duration"`
	Settle   Duration          `yaml:"settle"`
	PodArgs  []string          `yaml:"pod_args"`
	Env      map[string]string `yaml:"env"`
	RunArgs  []string          `yaml:"run_args"`
}

// Experiment is one lab run and what it should show.
type Experiment struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Script      string `yaml:"script"`
	Protocol    string `yaml:"protocol"` // h1, h2, h3, grpc, ws
	// Fix names the remedy the row measures (Fixes lists them; "none" for
	// the client behaviours that show the problem).
	Fix string `yaml:"fix"`
	// Baseline is the row whose latency this one's overhead is measured
	// against: the keep-alive baseline at the same load and link.
	Baseline string            `yaml:"baseline"`
	Mode     string            `yaml:"mode"` // keep-alive, close, single-connection, per-request-fresh, ...
	Env      map[string]string `yaml:"env"`
	VUs      int               `yaml:"vus"`
	Duration Duration          `yaml:"duration"`
	Settle   Duration          `yaml:"settle"`
	Replicas int               `yaml:"replicas"`
	Scale    string            `yaml:"scale"` // shorthand "M@T": one scale event
	Events   []Event           `yaml:"events"`
	PodArgs  []string          `yaml:"pod_args"` // appended to the defaults (later flags win)
	// SharedQUICKeys gives every pod the same --quic-keys file.
	SharedQUICKeys bool     `yaml:"shared_quic_keys"`
	Proxy          string   `yaml:"proxy"` // "" = the CLI's --proxy, else the plan's default
	RunArgs        []string `yaml:"run_args"`
	// ConntrackUDPTimeout and ConntrackUDPStreamTimeout: 0 = kernel default.
	ConntrackUDPTimeout       Duration `yaml:"conntrack_udp_timeout"`
	ConntrackUDPStreamTimeout Duration `yaml:"conntrack_udp_stream_timeout"`
	Expect                    Expect   `yaml:"expect"`
	// L7Proxy puts proxy pods in front of the pods (the lab's --l7-proxy:
	// haproxy, haproxy-leastconn, caddy), L7ProxyReplicas of them behind
	// the Service, talking L7Upstream (h1, h2) to the pods.
	L7Proxy         string `yaml:"l7_proxy"`
	L7ProxyReplicas int    `yaml:"l7_proxy_replicas"`
	L7Upstream      string `yaml:"l7_upstream"`
	// Link is the client's emulated link (the lab's --link, e.g. "rtt=20ms").
	Link string `yaml:"link"`
	// PodCPU is every pod's CPU limit (the lab's --pod-cpu, e.g. 500m).
	PodCPU string `yaml:"pod_cpu"`
	// Full rows run only with `spread experiments --full` (or --only):
	// sweeps that would take the default plan past 10 minutes.
	Full bool `yaml:"full"`
	// ClientCmd runs a foreign client instead of Script (the lab's
	// --client-cmd, e.g. Locust; the plan's folder is its working
	// directory). Its requests are counted on the server side only
	// (the pods' counters), so latency columns stay empty.
	ClientCmd string `yaml:"client_cmd"`
}

// L7Proxies are the values of an experiment's l7_proxy.
var L7Proxies = []string{"haproxy", "haproxy-leastconn", "caddy"}

// Event is one timeline entry: scale to Replicas, kill Pod, rolling restart.
type Event struct {
	At       Duration `yaml:"at"`
	Kind     string   `yaml:"kind"`
	Replicas int      `yaml:"replicas"`
	Pod      string   `yaml:"pod"`
}

// Expect is the outcome DESIGN.md section 1 predicts for an experiment.
type Expect string

// The outcomes an experiment can expect (see Verdict for the tolerances).
const (
	ExpectNone      Expect = ""
	ExpectZero      Expect = "zero"      // the added pods get ~no requests
	ExpectFair      Expect = "fair"      // the added pods get ~their fair share
	ExpectPinned    Expect = "pinned"    // one pod serves (nearly) everything
	ExpectConverges Expect = "converges" // the added pods approach the fair share by the end
	ExpectBalanced  Expect = "balanced"  // no scaling; every pod gets a fair part
	ExpectStall     Expect = "stall"     // after a scale-down, requests hang ~an idle timeout
	ExpectRecovers  Expect = "recovers"  // after a scale-down, clients fail over at once
	ExpectNoErrors  Expect = "no-errors" // not a single failed request
)

var expectations = map[Expect]bool{ExpectNone: true, ExpectZero: true, ExpectFair: true, ExpectPinned: true,
	ExpectConverges: true, ExpectBalanced: true, ExpectStall: true, ExpectRecovers: true, ExpectNoErrors: true}

// Fixes are the values of an experiment's fix (summary.json "fix",
// DESIGN.md section 4).
var Fixes = []string{"none", "close", "per-request-fresh", "per-request-0rtt", "server-max-age",
	"client-rotation", "l7-proxy-haproxy", "l7-proxy-caddy-h3", "client-lb-dns", "grpc-round-robin",
	"drain", "shared-quic-keys"}

var eventKinds = map[string]bool{"scale": true, "kill": true, "rolling-restart": true}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings ("1m30s") and plain seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: duration: %w", n.Line, err)
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads and validates the plan at path.
func Load(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", path, err)
	}
	p.Dir = filepath.Dir(path)
	return p, nil
}

// Parse decodes a plan, applies the defaults and validates it.
func Parse(data []byte) (*Plan, error) {
	var p Plan
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	p.applyDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func (p *Plan) applyDefaults() {
	d := p.Defaults
	if d.Proxy == "" {
		d.Proxy = "auto"
	}
	if d.VUs == 0 {
		d.VUs = 50
	}
	if d.Duration == 0 {
		d.Duration = Duration(30 * time.Second)
	}
	if d.Settle == 0 {
		d.Settle = Duration(2 * time.Second)
	}
	p.Defaults = d
	for i := range p.Experiments {
		e := &p.Experiments[i]
		if e.VUs == 0 {
			e.VUs = d.VUs
		}
		if e.Duration == 0 {
			e.Duration = d.Duration
		}
		if e.Settle == 0 {
			e.Settle = d.Settle
		}
		if e.Replicas == 0 {
			e.Replicas = 1
		}
		if e.Fix == "" {
			e.Fix = "none"
		}
		e.PodArgs = append(append([]string{}, d.PodArgs...), e.PodArgs...)
		e.RunArgs = append(append([]string{}, d.RunArgs...), e.RunArgs...)
		env := map[string]string{}
		for k, v := range d.Env {
			env[k] = v
		}
		for k, v := range e.Env {
			env[k] = v
		}
		e.Env = env
	}
}

// Validate reports every problem of the plan at once.
func (p *Plan) Validate() error {
	var errs []error
	switch p.Defaults.Proxy {
	case "", "auto", "iptables", "nftables", "userspace":
	default:
		errs = append(errs, fmt.Errorf("defaults: proxy %q: want auto, iptables, nftables or userspace", p.Defaults.Proxy))
	}
	if len(p.Experiments) == 0 {
		errs = append(errs, errors.New("no experiments"))
	}
	seen, names := map[string]bool{}, map[string]bool{}
	for _, e := range p.Experiments {
		names[e.Name] = true
	}
	for i, e := range p.Experiments {
		where := fmt.Sprintf("experiment %d (%s)", i+1, e.Name)
		bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(where+": "+format, a...)) }
		if !validName.MatchString(e.Name) {
			bad("name must be lower-case letters, digits and dashes")
		}
		if seen[e.Name] {
			bad("duplicate name")
		}
		seen[e.Name] = true
		if (e.Script == "") == (e.ClientCmd == "") {
			bad("want one of script or client_cmd")
		}
		switch e.Proxy {
		case "", "auto", "iptables", "nftables", "userspace":
		default:
			bad("proxy %q: want auto, iptables, nftables or userspace", e.Proxy)
		}
		if e.VUs < 1 {
			bad("vus must be at least 1")
		}
		if e.Duration.D() < time.Second {
			bad("duration must be at least 1s")
		}
		if e.Replicas < 1 {
			bad("replicas must be at least 1")
		}
		if e.Fix != "" && !slicesContains(Fixes, e.Fix) {
			bad("fix %q: want one of %s", e.Fix, strings.Join(Fixes, ", "))
		}
		if e.Baseline != "" && !names[e.Baseline] {
			bad("baseline %q is not an experiment of the plan", e.Baseline)
		}
		if e.Baseline == e.Name && e.Name != "" {
			bad("baseline is the experiment itself")
		}
		if e.L7Proxy != "" && !slicesContains(L7Proxies, e.L7Proxy) {
			bad("l7_proxy %q: want one of %s", e.L7Proxy, strings.Join(L7Proxies, ", "))
		}
		if e.L7Proxy == "" && (e.L7ProxyReplicas != 0 || e.L7Upstream != "") {
			bad("l7_proxy_replicas/l7_upstream need l7_proxy")
		}
		if e.L7ProxyReplicas < 0 || e.L7ProxyReplicas > 8 {
			bad("l7_proxy_replicas %d: want 1..8", e.L7ProxyReplicas)
		}
		switch e.L7Upstream {
		case "", "h1":
		case "h2":
			if e.L7Proxy != "caddy" {
				bad("l7_upstream h2 needs l7_proxy caddy")
			}
		default:
			bad("l7_upstream %q: want h1 or h2", e.L7Upstream)
		}
		if e.Link != "" {
			if _, err := link.Parse(e.Link); err != nil {
				bad("link: %v", err)
			}
		}
		if e.PodCPU != "" {
			if _, err := cgroup.ParseCPU(e.PodCPU); err != nil {
				bad("pod_cpu: %v", err)
			}
		}
		if !expectations[e.Expect] {
			bad("expect %q: want one of %s", e.Expect, expectList())
		}
		events, err := e.Timeline()
		if err != nil {
			bad("%v", err)
		}
		for _, ev := range events {
			if ev.At.D() >= e.Duration.D() {
				bad("event %s at %s is not before the end (%s)", ev.Kind, ev.At.D(), e.Duration.D())
			}
		}
		scaled := e.ReplicasAfter() != e.Replicas
		switch e.Expect {
		case ExpectZero, ExpectFair, ExpectConverges:
			if e.ReplicasAfter() <= e.Replicas {
				bad("expect %s needs a scale-up", e.Expect)
			}
		case ExpectStall, ExpectRecovers:
			if e.ReplicasAfter() >= e.Replicas {
				bad("expect %s needs a scale-down", e.Expect)
			}
		case ExpectBalanced:
			if scaled || e.Replicas < 2 {
				bad("expect balanced needs 2+ replicas and no scaling")
			}
		}
	}
	return errors.Join(errs...)
}

func expectList() string {
	var out []string
	for k := range expectations {
		if k != "" {
			out = append(out, string(k))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Timeline returns the experiment's events in time order, the "M@T" scale
// shorthand included.
func (e Experiment) Timeline() ([]Event, error) {
	events := append([]Event{}, e.Events...)
	if e.Scale != "" {
		ev, err := ParseScale(e.Scale)
		if err != nil {
			return nil, err
		}
		events = append(events, ev)
	}
	for _, ev := range events {
		if !eventKinds[ev.Kind] {
			return nil, fmt.Errorf("event kind %q: want scale, kill or rolling-restart", ev.Kind)
		}
		if ev.Kind == "scale" && ev.Replicas < 0 {
			return nil, fmt.Errorf("scale to %d replicas", ev.Replicas)
		}
		if ev.At < 0 {
			return nil, fmt.Errorf("event %s at a negative time", ev.Kind)
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At < events[j].At })
	return events, nil
}

// ParseScale parses the "M@T" shorthand (scale to M replicas at T).
func ParseScale(s string) (Event, error) {
	m, t, ok := strings.Cut(s, "@")
	if !ok {
		return Event{}, fmt.Errorf("scale %q: want REPLICAS@TIME, e.g. 2@10s", s)
	}
	n, err := strconv.Atoi(strings.TrimSpace(m))
	if err != nil || n < 0 {
		return Event{}, fmt.Errorf("scale %q: bad replica count", s)
	}
	at, err := time.ParseDuration(strings.TrimSpace(t))
	if err != nil {
		return Event{}, fmt.Errorf("scale %q: %w", s, err)
	}
	return Event{At: Duration(at), Kind: "scale", Replicas: n}, nil
}

// ScaleEvent returns the first scale event, if any.
func (e Experiment) ScaleEvent() (Event, bool) {
	events, _ := e.Timeline()
	for _, ev := range events {
		if ev.Kind == "scale" {
			return ev, true
		}
	}
	return Event{}, false
}

// ReplicasAfter is the replica count after the last scale event.
func (e Experiment) ReplicasAfter() int {
	n := e.Replicas
	events, _ := e.Timeline()
	for _, ev := range events {
		if ev.Kind == "scale" {
			n = ev.Replicas
		}
	}
	return n
}

// ProxyFor is the proxy an experiment runs with: its own setting, else
// the command line's (cli, "" when not given), else the plan's default.
func (p *Plan) ProxyFor(e Experiment, cli string) string {
	switch {
	case e.Proxy != "":
		return e.Proxy
	case cli != "":
		return cli
	}
	return p.Defaults.Proxy
}

// Select keeps the experiments named in only (all when empty); it fails on
// an unknown name.
func (p *Plan) Select(only []string) ([]Experiment, error) {
	return p.SelectFull(only, true)
}

// SelectFull is Select where, without only, rows marked full are left
// out unless full is set (the default plan of `make experiments`).
func (p *Plan) SelectFull(only []string, full bool) ([]Experiment, error) {
	if len(only) == 0 {
		var out []Experiment
		for _, e := range p.Experiments {
			if full || !e.Full {
				out = append(out, e)
			}
		}
		return out, nil
	}
	byName := map[string]Experiment{}
	for _, e := range p.Experiments {
		byName[e.Name] = e
	}
	var out []Experiment
	for _, n := range only {
		e, ok := byName[strings.TrimSpace(n)]
		if !ok {
			names := make([]string, 0, len(p.Experiments))
			for _, e := range p.Experiments {
				names = append(names, e.Name)
			}
			return nil, fmt.Errorf("plan: no experiment %q (the plan has: %s)", n, strings.Join(names, ", "))
		}
		out = append(out, e)
	}
	return out, nil
}

// Quick shortens an experiment for smoke runs: times halved, VUs halved
// (at least 5).
func Quick(e Experiment) Experiment {
	half := func(d Duration) Duration { return Duration(d.D() / 2) }
	e.Duration = half(e.Duration)
	e.VUs = max(5, e.VUs/2)
	events, _ := e.Timeline()
	for i := range events {
		events[i].At = half(events[i].At)
	}
	e.Events, e.Scale = events, ""
	return e
}

func slicesContains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ExpectedTime is how long running exps takes: their durations plus the
// lab's start and teardown. That overhead was measured at about 2 s an
// experiment on this 2-core machine (17 rows: 455 s of wall time for 421 s
// of runs); 4 s leaves room for a slower pod start. Printed before a run
// so `--full` says what it commits to.
func ExpectedTime(exps []Experiment) time.Duration {
	var d time.Duration
	for _, e := range exps {
		d += e.Duration.D() + 4*time.Second
	}
	return d
}
