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

// Pod is one running pod process.
type Pod struct {
	Spec
	Started time.Time
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

// Start launches argv as the pod, in its own process group, output to log.
func Start(s Spec, argv []string, env []string, log io.Writer) (*Pod, error) {
	if len(argv) == 0 {
		return nil, errors.New("pods: empty command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(append(os.Environ(), "POD_NAME="+s.Name, "POD_IP="+s.IP), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pods: start %s: %w", s.Name, err)
	}
	p := &Pod{Spec: s, Started: time.Now(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the pod's process id (also its process group id).
func (p *Pod) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the pod process has exited.
func (p *Pod) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done.
func (p *Pod) Err() error { return p.err }

// Signal sends sig to the pod's whole process group.
func (p *Pod) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
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

// Probe does one readiness check: GET url, success on 200-399 (kubelet's rule).
func Probe(ctx context.Context, c *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
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
