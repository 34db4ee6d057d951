// Package echotest builds the workspace's echo-server and runs it as a real
// process for tests: HTTP/3 only, on free loopback ports, with its own CA.
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
)

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// Root returns the workspace root (the folder holding go.work).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the test's folder")
		}
		dir = parent
	}
}

// Build compiles echo-server from the workspace once per test binary.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := Root()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "xk6-http3-echotest-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(buildDir, "echo-server")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", buildPath, "./echo-server/cmd/echo-server")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build echo-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Cleanup removes the built binary; call it from TestMain after m.Run.
func Cleanup() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// PKI is the CA and server certificate written by `echo-server certs`.
type PKI struct {
	Dir, CA, Cert, Key string
}

// Certs makes a CA and a certificate for 127.0.0.1 and localhost.
func Certs(t testing.TB) *PKI {
	t.Helper()
	bin := Build(t)
	dir := t.TempDir()
	run(t, bin, "certs", "--dir", dir, "--hosts", "localhost,127.0.0.1")
	return &PKI{Dir: dir, CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "cert.crt"), Key: filepath.Join(dir, "cert.key")}
}

// Keys writes a --quic-keys file.
func Keys(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "quic-keys.json")
	run(t, Build(t), "keys", "--out", out)
	return out
}

func run(t testing.TB, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("echo-server %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Server is a running echo-server process.
type Server struct {
	Pod         string
	Addr        string // UDP 127.0.0.1:port of the HTTP/3 listener
	MetricsAddr string
	args        []string
	bin         string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  bytes.Buffer
}

// Config describes a server to start.
type Config struct {
	Pod   string   // --pod-name (default "pod-1")
	PKI   *PKI     // certificates (default: new ones)
	Addr  string   // UDP address (default: a free loopback port)
	Extra []string // more flags: --delay 0, --max-conn-requests 3, --quic-keys F ...
}

// Start runs echo-server until the test ends.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Pod == "" {
		cfg.Pod = "pod-1"
	}
	if cfg.PKI == nil {
		cfg.PKI = Certs(t)
	}
	if cfg.Addr == "" {
		cfg.Addr = FreeUDP(t)
	}
	s := &Server{Pod: cfg.Pod, Addr: cfg.Addr, MetricsAddr: freeTCP(t), bin: Build(t)}
	s.args = append([]string{"--insecure-bind", "", "--bind", "", "--quic-bind", s.Addr,
		"--metrics-bind", s.MetricsAddr, "--certfile", cfg.PKI.Cert, "--keyfile", cfg.PKI.Key,
		"--pod-name", cfg.Pod, "--access-log=false", "--drain", "0s"}, cfg.Extra...)
	s.start(t)
	t.Cleanup(s.Kill)
	return s
}

// URL is the https:// URL of GET / on the HTTP/3 listener.
func (s *Server) URL() string { return "https://" + s.Addr + "/" }

func (s *Server) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.bin, s.args...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatalf("start echo-server: %v", err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() { // owner of the pipe: ends when the process exits
		_ = cmd.Wait()
		_ = pw.Close()
		close(done)
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.HasSuffix(sc.Text(), "echo-server: ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("echo-server exited at start:\n%s", s.Log())
	case <-time.After(15 * time.Second):
		s.Kill()
		t.Fatalf("echo-server not ready after 15s:\n%s", s.Log())
	}
}

// Log returns what the process printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
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

// Restart kills the process and starts it again with the same flags
// (same port, same --quic-keys if any).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Kill()
	s.start(t)
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.eE+-]+|NaN|\+Inf|-Inf)`)

// Metric sums the samples of name whose labels contain every pair of want
// (e.g. `proto="h3"`), from the server's /metrics.
func (s *Server) Metric(t testing.TB, name string, want ...string) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.MetricsAddr+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape echo-server metrics: %v", err)
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != name {
			continue
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(m[2], w) {
				ok = false
			}
		}
		if ok {
			v, _ := strconv.ParseFloat(m[3], 64)
			sum += v
		}
	}
	return sum
}

// FreeUDP returns a free loopback UDP address.
func FreeUDP(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func freeTCP(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
