// Package echotest runs the workspace's echo-server as a real process for
// tests and benchmarks: built once per process, on loopback ports the kernel
// chooses, with its own CA, its /metrics counters and its output at hand.
package echotest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"spread.dev/echo-server/testbin"
)

// Package is the import path of the echo-server command.
const Package = "spread.dev/echo-server/cmd/echo-server"

// Off as a listen address disables that listener (echo-server's "").
const Off = "off"

// Binary builds echo-server (with extra go build flags such as "-race") once
// per process and returns its path, failing t when the build fails.
func Binary(t testing.TB, flags ...string) string {
	t.Helper()
	return testbin.MustBuild(t, Package, flags...)
}

// PKI is the CA and server certificate written by `echo-server certs`.
type PKI struct {
	Dir, CA, Cert, Key string
}

// MakeCerts runs `bin certs` to write a CA and a certificate for hosts in dir.
func MakeCerts(bin, dir string, hosts ...string) (*PKI, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "certs", "--dir", dir, "--hosts", strings.Join(hosts, ",")).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("echo-server certs: %v\n%s", err, out)
	}
	return &PKI{Dir: dir, CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.crt"), Key: filepath.Join(dir, "cert.key")}, nil
}

// Certs makes a CA and a certificate for localhost and 127.0.0.1 in a
// folder removed at the end of the test.
func Certs(t testing.TB) *PKI {
	t.Helper()
	pki, err := MakeCerts(Binary(t), t.TempDir(), "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return pki
}

// Keys writes a --quic-keys file in a folder removed at the end of the test.
func Keys(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "quic-keys.json")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b, err := exec.CommandContext(ctx, Binary(t), "keys", "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("echo-server keys: %v\n%s", err, b)
	}
	return out
}

// Config describes a server to start; zero values give every listener on a
// kernel-chosen 127.0.0.1 port.
type Config struct {
	Bin  string // echo-server binary ("" = build it from the workspace)
	Pod  string // --pod-name (default "pod-1")
	PKI  *PKI   // certificates; nil: Start makes new ones, Run uses none (self-signed)
	Env  []string
	Args []string // more flags, after the defaults so they override them: --delay 0, --quic-keys F ...

	// Listen addresses of the cleartext HTTP/1.1, TLS, QUIC and metrics
	// listeners: "" = 127.0.0.1:0, Off = disabled.
	H1, TLS, H3, Metrics string
	// GRPC is the cleartext gRPC (h2c) listener: "" = 127.0.0.1:0, Off = disabled.
	GRPC string

	// Out also receives the process output (nil: kept in Log only).
	Out io.Writer
	// ReadyTimeout bounds the wait for "echo-server: ready" (default 15s).
	ReadyTimeout time.Duration
}

// Server is a running echo-server process.
type Server struct {
	Pod string
	PKI *PKI // its certificates (nil: self-signed)
	// host:port of each listener as the process reported it ("" when off).
	H1, TLS, H3, Metrics string
	GRPC                 string // the cleartext gRPC listener

	cfg  Config
	args []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	log     bytes.Buffer
}

// Start runs echo-server until the test ends, failing t when it does not
// get ready.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Bin == "" {
		cfg.Bin = Binary(t)
	}
	if cfg.PKI == nil {
		cfg.PKI = Certs(t)
	}
	s, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Kill)
	return s
}

// Run starts echo-server and waits until it is ready; the caller must Kill it.
func Run(cfg Config) (*Server, error) {
	if cfg.Bin == "" {
		bin, err := testbin.Build(Package)
		if err != nil {
			return nil, err
		}
		cfg.Bin = bin
	}
	if cfg.Pod == "" {
		cfg.Pod = "pod-1"
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 15 * time.Second
	}
	s := &Server{Pod: cfg.Pod, PKI: cfg.PKI, cfg: cfg}
	s.args = []string{"--pod-name", cfg.Pod, "--access-log=false", "--drain", "0s"}
	if cfg.PKI != nil {
		s.args = append(s.args, "--certfile", cfg.PKI.Cert, "--keyfile", cfg.PKI.Key)
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// binds returns the listener flags: the configured addresses at first start,
// the ports the process got once it has run, so a restart keeps them.
func (s *Server) binds() []string {
	pick := func(flag, want, got string) []string {
		switch {
		case want == Off:
			return []string{flag, ""}
		case got != "":
			return []string{flag, got}
		case want == "":
			return []string{flag, "127.0.0.1:0"}
		}
		return []string{flag, want}
	}
	var b []string
	b = append(b, pick("--insecure-bind", s.cfg.H1, s.H1)...)
	b = append(b, pick("--bind", s.cfg.TLS, s.TLS)...)
	b = append(b, pick("--quic-bind", s.cfg.H3, s.H3)...)
	b = append(b, pick("--grpc-bind", s.cfg.GRPC, s.GRPC)...)
	return append(b, pick("--metrics-bind", s.cfg.Metrics, s.Metrics)...)
}

// listenLine is echo-server's startup line for one listener, e.g.
// "echo-server: listening h3 https://127.0.0.1:4433 (udp)".
var listenLine = regexp.MustCompile(`^echo-server: listening (\S+) \w+://([^/ ]+)`)

func (s *Server) start() error {
	cmd := exec.Command(s.cfg.Bin, append(append(s.binds(), s.args...), s.cfg.Args...)...)
	cmd.Env = append(os.Environ(), s.cfg.Env...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start echo-server: %w", err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.exitErr = cmd, done, nil
	s.mu.Unlock()
	addrs := map[string]string{}
	ready := make(chan struct{})
	go func() { // owner of the pipe's writer: ends when the process exits
		err := cmd.Wait()
		_ = pw.Close()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(done)
	}()
	go func() { // reads the output until the writer closes
		sc := bufio.NewScanner(pr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			if !signalled {
				if m := listenLine.FindStringSubmatch(line); m != nil {
					addrs[m[1]] = m[2]
				}
			}
			s.mu.Unlock()
			if s.cfg.Out != nil {
				fmt.Fprintln(s.cfg.Out, line)
			}
			if !signalled && line == "echo-server: ready" {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case <-done:
		return fmt.Errorf("echo-server exited before ready: %v\n%s", s.ExitErr(), s.Log())
	case <-time.After(s.cfg.ReadyTimeout):
		s.Kill()
		return fmt.Errorf("echo-server not ready after %v:\n%s", s.cfg.ReadyTimeout, s.Log())
	}
	s.mu.Lock()
	s.H1, s.TLS, s.H3, s.Metrics = addrs["h1"], addrs["h1+h2"], addrs["h3"], addrs["metrics"]
	s.GRPC = addrs["grpc"]
	s.mu.Unlock()
	return nil
}

// HTTPURL is the base URL of the cleartext HTTP/1.1 listener.
func (s *Server) HTTPURL() string { return "http://" + s.H1 }

// HTTPSURL is the base URL of the TLS (HTTP/2 and HTTP/1.1) listener.
func (s *Server) HTTPSURL() string { return "https://" + s.TLS }

// H3URL is the URL of GET / on the HTTP/3 listener.
func (s *Server) H3URL() string { return "https://" + s.H3 + "/" }

// MetricsURL is the URL of the Prometheus metrics.
func (s *Server) MetricsURL() string { return "http://" + s.Metrics + "/metrics" }

// Pid is the process id of the current process (for CPU accounting).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Log returns what the process printed on stdout and stderr.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Done is closed when the current process has exited.
func (s *Server) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// ExitErr is the process's exit error once Done is closed (nil: status 0).
func (s *Server) ExitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Signal sends sig to the process.
func (s *Server) Signal(sig os.Signal) error {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal echo-server %s: %w", s.Pod, err)
	}
	return nil
}

// Kill kills the process (SIGKILL: no GOAWAY, no close) and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart kills the process and starts it again with the same flags and the
// same ports (same --quic-keys if any), failing t when it does not get ready.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
}

// Scrape returns the text of the server's /metrics.
func (s *Server) Scrape() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.MetricsURL(), nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("scrape echo-server metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("scrape echo-server metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("scrape echo-server metrics: %s", resp.Status)
	}
	return string(b), nil
}

// Series returns the value of the sample named exactly series (name plus
// labels in exposition order, e.g. `echo_requests_total{code="200",proto="h1"}`),
// 0 when absent.
func (s *Server) Series(t testing.TB, series string) float64 {
	t.Helper()
	text, err := s.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	v, err := SeriesValue(text, series)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Sum adds up the samples of name whose labels contain every one of labels
// (e.g. `proto="h3"`).
func (s *Server) Sum(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	text, err := s.Scrape()
	if err != nil {
		t.Fatal(err)
	}
	return SumValues(text, name, labels...)
}

// SeriesValue finds series in a Prometheus text exposition (0 when absent).
func SeriesValue(text, series string) (float64, error) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return 0, fmt.Errorf("metric %s: %w", series, err)
			}
			return v, nil
		}
	}
	return 0, nil
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN|\+Inf|-Inf)`)

// SumValues adds up the samples of name in a Prometheus text exposition whose
// labels contain every one of labels.
func SumValues(text, name string, labels ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || m[1] != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[2], l)
		}
		if v, err := strconv.ParseFloat(m[3], 64); ok && err == nil {
			sum += v
		}
	}
	return sum
}

// FreeUDP returns a loopback UDP address nothing listens on.
func FreeUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
