// Package e2e tests the echo-server binary as a process, with real clients:
// curl, quic-go's HTTP/3 client and headless Chromium.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/quic-go/quic-go/http3"
)

var (
	binary  string // the echo-server built by TestMain
	certDir string // ca.pem, cert.crt, cert.key made by `echo-server certs`
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "echo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "echo-server")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"build", "-o", binary}
	if os.Getenv("ECHO_E2E_RACE") != "" {
		args = append(args, "-race") // the server under the race detector
	}
	build := exec.CommandContext(ctx, "go", append(args, "spread.dev/echo-server/cmd/echo-server")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build echo-server:", err)
		return 1
	}
	certDir = filepath.Join(dir, "certs")
	out, err := exec.CommandContext(ctx, binary, "certs", "--dir", certDir, "--hosts", "localhost,127.0.0.1").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo-server certs: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// proc is a running echo-server.
type proc struct {
	t       *testing.T
	cmd     *exec.Cmd
	pod     string
	h1      string // host:port of the cleartext listener
	tls     string // host:port of the TLS listener
	h3      string // host:port of the QUIC listener
	metrics string // host:port of the metrics listener
	out     *lockedBuffer
	done    chan struct{} // closed when the process has exited
	exitErr error
}

// lockedBuffer collects the process output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listenLine = regexp.MustCompile(`^echo-server: listening (\S+) \w+://([^/ ]+)`)

// start runs echo-server on 127.0.0.1 with kernel-chosen ports; extra
// flags come after the defaults so they override them.
func start(t *testing.T, pod string, extra ...string) *proc {
	t.Helper()
	args := []string{
		"--insecure-bind", "127.0.0.1:0", "--bind", "127.0.0.1:0",
		"--quic-bind", "127.0.0.1:0", "--metrics-bind", "127.0.0.1:0",
		"--certfile", filepath.Join(certDir, "cert.crt"), "--keyfile", filepath.Join(certDir, "cert.key"),
		"--pod-name", pod, "--delay", "0", "--drain", "200ms", "--shutdown-timeout", "3s",
	}
	p := &proc{t: t, pod: pod, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(binary, append(args, extra...)...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start echo-server: %v", err)
	}
	ready := make(chan struct{})
	go func() { // reads the output until the process exits
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.out, line)
			if m := listenLine.FindStringSubmatch(line); m != nil && !signalled {
				switch m[1] {
				case "h1":
					p.h1 = m[2]
				case "h1+h2":
					p.tls = m[2]
				case "h3":
					p.h3 = m[2]
				case "metrics":
					p.metrics = m[2]
				}
			}
			if line == "echo-server: ready" && !signalled {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("echo-server exited before ready: %v\n%s", p.exitErr, p.out)
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Fatalf("echo-server not ready after 10s:\n%s", p.out)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("echo-server %s: data race (ECHO_E2E_RACE build)", pod)
		}
		if t.Failed() {
			t.Logf("echo-server %s output:\n%s", pod, tail(p.out.String(), 60))
		}
	})
	return p
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal: %v", err)
	}
}

// metric returns the value of the sample named exactly series (name plus
// labels in exposition order), 0 if absent.
func (p *proc) metric(series string) float64 {
	p.t.Helper()
	text := p.scrape()
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				p.t.Fatalf("metric %s: %v", series, err)
			}
			return v
		}
	}
	return 0
}

func (p *proc) scrape() string {
	p.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		p.t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// echoBody is GET /'s JSON.
type echoBody struct {
	Hostname     string `json:"hostname"`
	Proto        string `json:"proto"`
	RemoteAddr   string `json:"remote_addr"`
	ConnRequests int    `json:"conn_requests"`
	ConnAgeMS    int64  `json:"conn_age_ms"`
}

// result is one request's outcome.
type result struct {
	status int
	header http.Header
	body   echoBody
	raw    string
}

func caPool(t testing.TB) *x509.CertPool {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca.pem holds no certificate")
	}
	return pool
}

// clients returns an HTTP client per protocol: "h1" (cleartext, keep-alive),
// "h2" (TLS) and "h3" (quic-go).
func clients(t *testing.T) map[string]*http.Client {
	t.Helper()
	pool := caPool(t)
	h1 := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	h2t := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 100}
	h3t := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(func() {
		h1.CloseIdleConnections()
		h2t.CloseIdleConnections()
		_ = h3t.Close()
	})
	return map[string]*http.Client{
		"h1": h1,
		"h2": {Timeout: 20 * time.Second, Transport: h2t},
		"h3": {Timeout: 20 * time.Second, Transport: h3t},
	}
}

// url returns the URL of path on the listener serving proto.
func (p *proc) url(proto, path string) string {
	switch proto {
	case "h1":
		return "http://" + p.h1 + path
	case "h2":
		return "https://" + p.tls + path
	default:
		return "https://" + p.h3 + path
	}
}

// get does one GET and decodes the echo body when there is one.
func get(ctx context.Context, c *http.Client, url string) (result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return result{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, fmt.Errorf("read body: %w", err)
	}
	r := result{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.body); err != nil {
			return r, fmt.Errorf("decode %q: %w", b, err)
		}
	}
	return r, nil
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
