package k6http

import (
	"bufio"
	"context"
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
	"testing"
	"time"
)

// Integration tests build the real binaries from the workspace (so they
// pass from a clean checkout) into one temporary folder shared by the
// package's tests.

var (
	binDir     string
	binOnce    = map[string]*sync.Once{"echo-server": {}, "spread": {}}
	binErr     = map[string]error{}
	binMu      sync.Mutex
	binPackage = map[string]string{
		"echo-server": "spread.dev/echo-server/cmd/echo-server",
		"spread":      "spread.dev/spread/cmd/spread",
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "k6http-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds name (echo-server or spread) once per test binary.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: not building %s", name)
	}
	out := filepath.Join(binDir, name)
	binOnce[name].Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, binPackage[name])
		cmd.Dir = workspaceRoot(t)
		if b, err := cmd.CombinedOutput(); err != nil {
			binMu.Lock()
			binErr[name] = fmt.Errorf("go build %s: %v\n%s", binPackage[name], err, b)
			binMu.Unlock()
		}
	})
	binMu.Lock()
	defer binMu.Unlock()
	if err := binErr[name]; err != nil {
		t.Fatal(err)
	}
	return out
}

// workspaceRoot is the folder of go.work (the three modules' parent).
func workspaceRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == "off" {
		t.Fatalf("no go.work found (go env GOWORK: %q, %v)", out, err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// echoServer is a running echo-server process.
type echoServer struct {
	HTTP, HTTPS, Metrics string // http://ip:port, https://ip:port, http://ip:port/metrics
	CA                   string // PEM of the CA that signed its certificate
	cmd                  *exec.Cmd
	done                 chan struct{}
}

var listenLine = regexp.MustCompile(`listening (h1|h1\+h2|metrics) (\S+)`)

// startEcho starts echo-server on loopback ports chosen by the kernel, with
// a certificate for 127.0.0.1 and localhost, and stops it at the end.
func startEcho(t *testing.T, pod string, args ...string) *echoServer {
	t.Helper()
	bin := buildBinary(t, "echo-server")
	certs := t.TempDir()
	if b, err := exec.Command(bin, "certs", "--dir", certs, "--hosts", "127.0.0.1,localhost").CombinedOutput(); err != nil {
		t.Fatalf("echo-server certs: %v\n%s", err, b)
	}
	base := []string{"--insecure-bind", "127.0.0.1:0", "--bind", "127.0.0.1:0", "--quic-bind", "",
		"--metrics-bind", "127.0.0.1:0", "--pod-name", pod, "--access-log=false", "--drain", "0s",
		"--certfile", filepath.Join(certs, "cert.crt"), "--keyfile", filepath.Join(certs, "cert.key")}
	cmd := exec.Command(bin, append(base, args...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	es := &echoServer{CA: filepath.Join(certs, "ca.pem"), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); pw.Close(); close(es.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-es.done
	})
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		var lines []string
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			if m := listenLine.FindStringSubmatch(line); m != nil {
				switch m[1] {
				case "h1":
					es.HTTP = m[2]
				case "h1+h2":
					es.HTTPS = m[2]
				case "metrics":
					es.Metrics = m[2]
				}
			}
			if strings.HasSuffix(line, "echo-server: ready") {
				ready <- nil
				_, _ = io.Copy(io.Discard, pr)
				return
			}
		}
		ready <- fmt.Errorf("echo-server exited before ready:\n%s", strings.Join(lines, "\n"))
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("echo-server not ready after 30s")
	}
	return es
}

// stop kills the server and waits for it to exit.
func (es *echoServer) stop() {
	_ = es.cmd.Process.Kill()
	<-es.done
}

// metric returns the value of one series of the server's /metrics, e.g.
// `echo_connections_opened_total{proto="h1"}` (0 when absent).
func (es *echoServer) metric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := http.Get(es.Metrics)
	if err != nil {
		t.Fatalf("scrape %s: %v", es.Metrics, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return v
		}
	}
	return 0
}
