// Package proxypod runs a real L7 proxy (HAProxy or Caddy) as a pod of the
// lab: it sits between the client and the echo-server pods and balances
// every request over its own keep-alive backend connections, which is the
// "active load balancing" fix of the write-up. Its backend list follows the
// lab's endpoints through the proxy's own runtime interface (HAProxy's
// runtime API, Caddy's admin API), so an endpoint change never restarts the
// proxy nor drops the client's connection to it.
//
// The proxies are the Debian packages (haproxy 2.6, caddy 2.6); this
// package only writes their configuration and speaks their admin
// protocols: no Go library drives either one.
package proxypod

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Kind names a proxy implementation.
type Kind string

// The proxies this package runs.
const (
	HAProxy Kind = "haproxy" // HTTP/1.1 in front, HTTP/1.1 keep-alive behind
	Caddy   Kind = "caddy"   // HTTP/3 (and h2, h1) over TLS in front, h1 or h2 behind
)

// Backend is one endpoint the proxy balances over.
type Backend struct {
	Name string // pod name, for logs
	Addr string // host:port of the pod's listener the proxy dials
}

// Config describes one proxy pod.
type Config struct {
	Kind Kind
	// Name is the proxy pod's name (used in its files and logs).
	Name string
	// Balance is the per-request policy: "roundrobin" (default) or
	// "leastconn" — HAProxy's names; Caddy's round_robin/least_conn are
	// mapped from them.
	Balance string
	// Listen is the proxy's client-facing address: HTTP/1.1 cleartext for
	// HAProxy; TLS TCP (h1, h2) and UDP (h3) on the same port for Caddy.
	Listen string
	// CertFile and KeyFile are Caddy's server certificate (required for Caddy).
	CertFile, KeyFile string
	// Upstream is how Caddy talks to the pods: "h1" (default, cleartext
	// HTTP/1.1 keep-alive) or "h2" (HTTP/2 over TLS, verified with CAFile).
	Upstream string
	CAFile   string
	// Slots bounds the number of backends at once (HAProxy's server slots;
	// default 32).
	Slots int
	// Dir holds the generated configuration, the admin socket and the log.
	Dir string
	// Wrap prefixes the proxy's command line (e.g. ip netns exec POD), as
	// the lab does for every pod.
	Wrap []string
	// DNSListen is where Caddy's upstream SRV records are served (UDP,
	// default 127.0.0.1:0); it must be reachable from the proxy's namespace.
	DNSListen string
	// Binary overrides the proxy executable ("" = haproxy or caddy on PATH).
	Binary string
}

// Proxy is a running proxy pod.
type Proxy struct {
	cfg  Config
	cmd  *exec.Cmd
	done chan struct{}
	werr error
	log  *os.File
	impl impl

	mu       sync.Mutex
	backends []Backend
}

// impl is what differs between HAProxy and Caddy.
type impl interface {
	// config writes the proxy's configuration and returns its argv.
	config(cfg Config) ([]string, error)
	// ready reports whether the admin interface answers.
	ready(ctx context.Context) error
	// set replaces the backend list.
	set(ctx context.Context, bs []Backend) error
	// close releases what the package itself runs for the proxy.
	close()
}

// Start writes the configuration, starts the proxy and waits until its
// admin interface answers. The proxy starts with no backend: call
// SetBackends with the ready endpoints.
func Start(ctx context.Context, cfg Config) (*Proxy, error) {
	if cfg.Dir == "" {
		return nil, errors.New("proxypod: Config.Dir is required")
	}
	if cfg.Listen == "" {
		return nil, errors.New("proxypod: Config.Listen is required")
	}
	if cfg.Name == "" {
		cfg.Name = string(cfg.Kind)
	}
	if cfg.DNSListen == "" {
		cfg.DNSListen = "127.0.0.1:0"
	}
	if cfg.Slots <= 0 {
		cfg.Slots = 32
	}
	switch cfg.Balance {
	case "", "roundrobin":
		cfg.Balance = "roundrobin"
	case "leastconn":
	default:
		return nil, fmt.Errorf("proxypod: balance %q: want roundrobin or leastconn", cfg.Balance)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("proxypod: %w", err)
	}
	var im impl
	switch cfg.Kind {
	case HAProxy:
		im = &haproxy{sock: filepath.Join(cfg.Dir, "admin.sock")}
	case Caddy:
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("proxypod: caddy needs CertFile and KeyFile (it terminates TLS and HTTP/3)")
		}
		switch cfg.Upstream {
		case "", "h1", "h2":
		default:
			return nil, fmt.Errorf("proxypod: upstream %q: want h1 or h2", cfg.Upstream)
		}
		if cfg.Upstream == "h2" && cfg.CAFile == "" {
			return nil, errors.New("proxypod: caddy with h2 upstreams needs CAFile to verify the pods")
		}
		im = &caddy{sock: filepath.Join(cfg.Dir, "admin.sock"), cfg: cfg}
	default:
		return nil, fmt.Errorf("proxypod: unknown kind %q (want haproxy or caddy)", cfg.Kind)
	}
	argv, err := im.config(cfg)
	if err != nil {
		im.close()
		return nil, fmt.Errorf("proxypod: %s config: %w", cfg.Kind, err)
	}
	started := false
	defer func() {
		if !started {
			im.close()
		}
	}()
	if cfg.Binary != "" {
		argv[0] = cfg.Binary
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("proxypod: %s not found (Debian package %q): %w", argv[0], cfg.Kind, err)
	}
	argv = append(append([]string{}, cfg.Wrap...), argv...)
	logf, err := os.Create(filepath.Join(cfg.Dir, cfg.Name+".log"))
	if err != nil {
		return nil, fmt.Errorf("proxypod: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = cfg.Dir
	// Caddy keeps its state (autosave.json, certificates) under these; keep
	// them in the pod's folder, not the user's home.
	cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(cfg.Dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(cfg.Dir, "config"), "HOME="+cfg.Dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("proxypod: start %s: %w", cfg.Kind, err)
	}
	started = true // from here, Stop releases im
	p := &Proxy{cfg: cfg, cmd: cmd, done: make(chan struct{}), log: logf, impl: im}
	go func() { p.werr = cmd.Wait(); close(p.done) }()

	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		if err := im.ready(rctx); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("proxypod: %s exited at start (%v): %s", cfg.Kind, p.werr, p.LogTail(2048))
		case <-rctx.Done():
			_ = p.Stop()
			return nil, fmt.Errorf("proxypod: %s admin interface did not answer within 10s: %s", cfg.Kind, p.LogTail(2048))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// SetBackends makes bs the proxy's backend list (the ready endpoints), in
// place: the proxy keeps running and keeps its client connections.
func (p *Proxy) SetBackends(ctx context.Context, bs []Backend) error {
	if len(bs) > p.cfg.Slots {
		return fmt.Errorf("proxypod: %d backends, %d slots", len(bs), p.cfg.Slots)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.impl.set(ctx, bs); err != nil {
		return fmt.Errorf("proxypod: %s set backends: %w", p.cfg.Kind, err)
	}
	p.backends = append(p.backends[:0], bs...)
	return nil
}

// Backends returns the backend list last set.
func (p *Proxy) Backends() []Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Backend(nil), p.backends...)
}

// PID is the proxy process's id (the lab puts it in a cgroup by PID).
func (p *Proxy) PID() int { return p.cmd.Process.Pid }

// CPUSeconds is the CPU time (user + system) the proxy process and its
// waited-for children used so far, from /proc: the proxy's cost per request.
func (p *Proxy) CPUSeconds() (float64, error) {
	return ProcessCPUSeconds(p.PID())
}

// LogTail returns at most n bytes of the end of the proxy's log.
func (p *Proxy) LogTail(n int64) string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}

// Stop ends the proxy: SIGTERM, then SIGKILL after 5 s.
func (p *Proxy) Stop() error {
	defer p.log.Close()
	defer p.impl.close()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	return nil
}

// ProcessCPUSeconds reads utime+stime (and the children's cutime+cstime)
// of pid from /proc/PID/stat.
func ProcessCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields start after ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc stat of %d: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// after ')': state(3) ... utime(14) stime(15) cutime(16) cstime(17)
	if len(f) < 15 {
		return 0, fmt.Errorf("proc stat of %d: %d fields", pid, len(f))
	}
	var ticks float64
	for _, k := range []int{11, 12, 13, 14} {
		v, err := strconv.ParseFloat(f[k], 64)
		if err != nil {
			return 0, fmt.Errorf("proc stat of %d: %w", pid, err)
		}
		ticks += v
	}
	return ticks / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on every Linux ABI Go supports.
const clockTicks = 100

// readAll reads a whole admin answer with a deadline.
func readAll(r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	return string(b), err
}
