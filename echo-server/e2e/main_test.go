// Package e2e tests the echo-server binary as a process, with real clients:
// curl, quic-go's HTTP/3 client and headless Chromium.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

var (
	binary  string // the echo-server under test (built with -race when ECHO_E2E_RACE is set)
	certDir string // ca.pem, cert.crt, cert.key made by `echo-server certs`
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	defer testbin.Cleanup()
	var flags []string
	if os.Getenv("ECHO_E2E_RACE") != "" {
		flags = append(flags, "-race") // the server under the race detector
	}
	var err error
	if binary, err = testbin.Build(echotest.Package, flags...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "echo-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	certDir = filepath.Join(dir, "certs")
	if _, err := echotest.MakeCerts(binary, certDir, "localhost", "127.0.0.1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// proc is a running echo-server.
type proc struct {
	*echotest.Server
	t       *testing.T
	pod     string
	h1      string // host:port of the cleartext listener
	tls     string // host:port of the TLS listener
	h3      string // host:port of the QUIC listener
	metrics string // host:port of the metrics listener
}

// start runs echo-server on 127.0.0.1 with kernel-chosen ports; extra
// flags come after the defaults so they override them.
func start(t *testing.T, pod string, extra ...string) *proc {
	t.Helper()
	args := append([]string{"--delay", "0", "--drain", "200ms", "--shutdown-timeout", "3s", "--access-log=true"}, extra...)
	s, err := echotest.Run(echotest.Config{
		Bin: binary, Pod: pod, Args: args, ReadyTimeout: 10 * time.Second,
		PKI: &echotest.PKI{Cert: filepath.Join(certDir, "cert.crt"), Key: filepath.Join(certDir, "cert.key")},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		if strings.Contains(s.Log(), "WARNING: DATA RACE") {
			t.Errorf("echo-server %s: data race (ECHO_E2E_RACE build)", pod)
		}
		if t.Failed() {
			t.Logf("echo-server %s output:\n%s", pod, tail(s.Log(), 60))
		}
	})
	return &proc{Server: s, t: t, pod: pod, h1: s.H1, tls: s.TLS, h3: s.H3, metrics: s.Metrics}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
}

// metric returns the value of the sample named exactly series (name plus
// labels in exposition order), 0 if absent.
func (p *proc) metric(series string) float64 {
	p.t.Helper()
	return p.Series(p.t, series)
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
