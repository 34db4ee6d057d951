// Package pods runs the lab's pods: one server process each (in its own
// process group, optionally in its own UTS namespace so `hostname` is the
// pod name), probes their readiness and scrapes their Prometheus counters.
package pods

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"
)

// Spec is what a pod is started with; the fields are the placeholders of a
// pod command template ({{.Name}}, {{.IP}}, {{.HTTPPort}}, ...).
type Spec struct {
	Name                                     string
	IP                                       string
	HTTPPort, HTTPSPort, H3Port, MetricsPort int
	GRPCPort                                 int // cleartext gRPC (h2c); 0 = off
	CertFile, KeyFile, CAFile, QUICKeysFile  string
}

// EchoServerArgs is the echo-server command line of a pod (extra flags last,
// so they override the lab's defaults).
func EchoServerArgs(bin string, s Spec, extra []string) []string {
	args := []string{bin,
		"--pod-name", s.Name,
		"--insecure-bind", hostPort(s.IP, s.HTTPPort),
		"--bind", hostPort(s.IP, s.HTTPSPort),
		"--quic-bind", hostPort(s.IP, s.H3Port),
		"--metrics-bind", hostPort(s.IP, s.MetricsPort),
		"--grpc-bind", "",
	}
	if s.GRPCPort > 0 {
		args[len(args)-1] = hostPort(s.IP, s.GRPCPort)
	}
	if s.CertFile != "" {
		args = append(args, "--certfile", s.CertFile, "--keyfile", s.KeyFile)
	}
	if s.QUICKeysFile != "" {
		args = append(args, "--quic-keys", s.QUICKeysFile)
	}
	return append(args, extra...)
}

// TemplateArgs renders a pod command template and returns it as a shell
// command line (so templates may use quotes and pipes).
func TemplateArgs(tmpl string, s Spec) ([]string, error) {
	t, err := template.New("pod").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("pods: template: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("pods: template: %w", err)
	}
	return []string{"sh", "-c", "exec " + b.String()}, nil
}

// WithHostname wraps argv so it runs in a new UTS namespace whose host name
// is name (needs root).
func WithHostname(name string, argv []string) []string {
	return append([]string{"unshare", "--uts", "--", "sh", "-c", `hostname "$0" && exec "$@"`, name}, argv...)
}

func hostPort(ip string, port int) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(port)
	}
	return ip + ":" + strconv.Itoa(port)
}

// Pod is one pod's container process; Restart replaces the process in
// place (same namespace, same address), as kubelet restarts a container.
type Pod struct {
	Spec
	Started time.Time

	argv, env []string
	log       io.Writer

	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{} // closed when the current process is reaped
	restarting bool
	restarts   int

	done chan struct{} // closed when the pod is finished for good
	err  error
}

// Start launches argv as the pod, in its own process group, output to log.
func Start(s Spec, argv []string, env []string, log io.Writer) (*Pod, error) {
	if len(argv) == 0 {
		return nil, errors.New("pods: empty command")
	}
	p := &Pod{Spec: s, Started: time.Now(), argv: argv, env: env, log: log, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.launch(); err != nil {
		return nil, err
	}
	return p, nil
}

// launch starts a process (p.mu held).
func (p *Pod) launch() error {
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(append(os.Environ(), "POD_NAME="+p.Name, "POD_IP="+p.IP), p.env...)
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pods: start %s: %w", p.Name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		restarting := p.restarting
		if !restarting {
			p.err = err
		}
		p.mu.Unlock()
		close(exited)
		if !restarting {
			close(p.done)
		}
	}()
	return nil
}

// Restart stops the current process (SIGTERM, SIGKILL after grace) and
// starts the same command again; Done stays open. It fails when the pod
// has already finished.
func (p *Pod) Restart(grace time.Duration) error {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return fmt.Errorf("pods: restart %s: already exited", p.Name)
	default:
	}
	p.restarting = true
	pid, exited := p.cmd.Process.Pid, p.exited
	p.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // leftovers of its group
	p.mu.Lock()
	defer p.mu.Unlock()
	p.restarting = false
	p.restarts++
	if err := p.launch(); err != nil {
		p.err = err
		close(p.done)
		return err
	}
	return nil
}

// Restarts counts Restart calls that started a new process.
func (p *Pod) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Pid is the current process's id (also its process group id).
func (p *Pod) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// Done is closed when the pod has exited for good (not on a Restart).
func (p *Pod) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done.
func (p *Pod) Err() error { return p.err }

// Signal sends sig to the current process's whole group.
func (p *Pod) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.Pid(), sig)
}

// Stop sends SIGTERM, waits up to grace for the exit, then SIGKILLs the
// group. With hurry a second SIGTERM follows shortly, which cuts a server's
// drain short (echo-server's rule) when no client is left to drain for.
func (p *Pod) Stop(grace time.Duration, hurry bool) {
	select {
	case <-p.done:
		p.Signal(syscall.SIGKILL) // reap anything the pod left in its group
		return
	default:
	}
	p.Signal(syscall.SIGTERM)
	if hurry {
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
			p.Signal(syscall.SIGTERM)
		}
	}
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// ProbeSpec is a kubelet HTTP probe: GET Path every Period, each attempt
// bounded by Timeout; Success consecutive passes make it pass, Failure
// consecutive failures make it fail; nothing is probed before InitialDelay.
type ProbeSpec struct {
	Path                          string
	Period, Timeout, InitialDelay time.Duration
	Success, Failure              int
}

// DefaultProbe is kubelet's defaults (periodSeconds 10, timeoutSeconds 1,
// successThreshold 1, failureThreshold 3) on path.
func DefaultProbe(path string) ProbeSpec {
	return ProbeSpec{Path: path, Period: 10 * time.Second, Timeout: time.Second, Success: 1, Failure: 3}
}

// ParseProbe reads 'path=/readyz,period=1s,timeout=1s,success=1,failure=3,
// initialDelay=0s' over base (fields left out keep base's values); "off"
// disables the probe (zero ProbeSpec).
func ParseProbe(s string, base ProbeSpec) (ProbeSpec, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "none" {
		return ProbeSpec{}, nil
	}
	p := base
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("pods: probe %q: %q is not key=value", s, kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch strings.ToLower(k) {
		case "path":
			if !strings.HasPrefix(v, "/") {
				return p, fmt.Errorf("pods: probe %q: path must start with /", s)
			}
			p.Path = v
		case "period":
			p.Period, err = probeDuration(v)
		case "timeout":
			p.Timeout, err = probeDuration(v)
		case "initialdelay":
			p.InitialDelay, err = probeDuration(v)
		case "success":
			p.Success, err = strconv.Atoi(v)
		case "failure":
			p.Failure, err = strconv.Atoi(v)
		default:
			return p, fmt.Errorf("pods: probe %q: unknown key %q (want path, period, timeout, success, failure, initialDelay)", s, k)
		}
		if err != nil {
			return p, fmt.Errorf("pods: probe %q: %s: %w", s, k, err)
		}
	}
	if p.Path == "" || p.Period <= 0 || p.Timeout <= 0 || p.Success < 1 || p.Failure < 1 || p.InitialDelay < 0 {
		return p, fmt.Errorf("pods: probe %q: want a path, period and timeout > 0, success and failure >= 1", s)
	}
	return p, nil
}

// probeDuration reads a Go duration; a bare number is seconds (kubelet's unit).
func probeDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}

// Probe does one HTTP check: GET url within the context's deadline,
// success on 200-399 (kubelet's rule).
func Probe(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("probe %s: status %d", url, resp.StatusCode)
	}
	return nil
}

// Counters are a pod's server-side totals from echo-server's /metrics.
type Counters struct {
	Requests    float64            // sum of echo_requests_total
	Connections map[string]float64 // echo_connections_opened_total by proto
}

// Scrape reads echo_requests_total and echo_connections_opened_total.
func Scrape(ctx context.Context, c *http.Client, url string) (Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Counters{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Counters{}, fmt.Errorf("pods: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Counters{}, fmt.Errorf("pods: scrape %s: status %d", url, resp.StatusCode)
	}
	return ParseCounters(resp.Body)
}

// ParseCounters reads the two counters from Prometheus text exposition.
func ParseCounters(r io.Reader) (Counters, error) {
	out := Counters{Connections: map[string]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := parseSample(line)
		if !ok {
			continue
		}
		switch name {
		case "echo_requests_total":
			out.Requests += value
		case "echo_connections_opened_total":
			out.Connections[labels["proto"]] += value
		}
	}
	return out, sc.Err()
}

// parseSample splits `name{a="b",c="d"} value [ts]`.
func parseSample(line string) (name string, labels map[string]string, value float64, ok bool) {
	labels = map[string]string{}
	rest := line
	if i := strings.IndexByte(line, '{'); i >= 0 {
		j := strings.LastIndexByte(line, '}')
		if j < i {
			return "", nil, 0, false
		}
		name = line[:i]
		for _, kv := range splitLabels(line[i+1 : j]) {
			k, v, found := strings.Cut(kv, "=")
			if found {
				labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
		rest = line[j+1:]
	} else {
		f := strings.Fields(line)
		if len(f) < 2 {
			return "", nil, 0, false
		}
		name, rest = f[0], strings.Join(f[1:], " ")
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, v, true
}

// splitLabels splits on commas outside quotes.
func splitLabels(s string) []string {
	var parts []string
	inQ, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			inQ = !inQ
		case ',':
			if !inQ {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		parts = append(parts, s[start:])
	}
	return parts
}
