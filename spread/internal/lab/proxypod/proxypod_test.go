package proxypod

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/echotest"
)

// needPeer skips when the Debian package is missing, except in CI
// (SPREAD_REQUIRE_PEERS=1, set by .ci/run), where a skip would hide it.
func needPeer(t *testing.T, bin, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		if os.Getenv("SPREAD_REQUIRE_PEERS") != "" {
			t.Fatalf("%s not installed (Debian package %s); .ci/run installs it", bin, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s)", bin, pkg)
	}
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Caddy binds TCP and UDP on the same port: check TCP too.
		l, err := net.Listen("tcp", c.LocalAddr().String())
		if err != nil {
			t.Skipf("port clash: %v", err)
		}
		l.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// pods starts two echo-servers sharing one PKI.
func pods(t *testing.T) (*echotest.PKI, []*echotest.Server) {
	t.Helper()
	pki := echotest.Certs(t)
	var out []*echotest.Server
	for _, name := range []string{"pod-1", "pod-2"} {
		out = append(out, echotest.Start(t, echotest.Config{Pod: name, PKI: pki, H3: echotest.Off,
			Metrics: echotest.Off, Args: []string{"--delay", "0"}}))
	}
	return pki, out
}

// served GETs url n times through c and counts X-Served-By, and the new
// connections the client opened.
func served(t *testing.T, c *http.Client, url string, n int) (map[string]int, int) {
	t.Helper()
	counts := map[string]int{}
	var dials atomic.Int32
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
			if !ci.Reused {
				dials.Add(1)
			}
		}})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %s", i, resp.Status)
		}
		counts[resp.Header.Get("X-Served-By")]++
	}
	return counts, int(dials.Load())
}

func TestHAProxyBalancesEveryRequestOfOneConnection(t *testing.T) {
	needPeer(t, "haproxy", "haproxy")
	_, ps := pods(t)
	for _, balance := range []string{"roundrobin", "leastconn"} {
		t.Run(balance, func(t *testing.T) {
			ctx := context.Background()
			p, err := Start(ctx, Config{Kind: HAProxy, Balance: balance, Listen: freePort(t, "tcp"), Dir: t.TempDir(), Slots: 4})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			if err := p.SetBackends(ctx, []Backend{{"pod-1", ps[0].H1}}); err != nil {
				t.Fatal(err)
			}
			// One keep-alive connection, as one k6 VU has.
			c := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
			url := "http://" + p.cfg.Listen + "/"
			got, dials := served(t, c, url, 10)
			if got["pod-1"] != 10 {
				t.Fatalf("one backend: %v", got)
			}
			// Scale-up: the same client connection now reaches both pods.
			if err := p.SetBackends(ctx, []Backend{{"pod-1", ps[0].H1}, {"pod-2", ps[1].H1}}); err != nil {
				t.Fatal(err)
			}
			got, more := served(t, c, url, 40)
			dials += more
			if got["pod-1"] < 10 || got["pod-2"] < 10 {
				t.Fatalf("two backends, per-request balancing expected: %v", got)
			}
			if dials != 1 {
				t.Fatalf("client opened %d connections, want 1 (keep-alive to the proxy)", dials)
			}
			// Scale-down: pod-1 leaves; nothing more goes there.
			if err := p.SetBackends(ctx, []Backend{{"pod-2", ps[1].H1}}); err != nil {
				t.Fatal(err)
			}
			if got, _ := served(t, c, url, 10); got["pod-2"] != 10 {
				t.Fatalf("after removing pod-1: %v", got)
			}
			if cpu, err := p.CPUSeconds(); err != nil || cpu < 0 {
				t.Fatalf("cpu: %v %v", cpu, err)
			}
		})
	}
}

func TestCaddyTerminatesHTTP3AndBalancesPerRequest(t *testing.T) {
	needPeer(t, "caddy", "caddy")
	pki, ps := pods(t)
	for _, up := range []string{"h1", "h2"} {
		t.Run(up, func(t *testing.T) {
			ctx := context.Background()
			addr := freePort(t, "udp")
			p, err := Start(ctx, Config{Kind: Caddy, Listen: addr, Dir: t.TempDir(), CertFile: pki.Cert,
				KeyFile: pki.Key, CAFile: pki.CA, Upstream: up})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			backend := func(s *echotest.Server) Backend {
				if up == "h2" {
					return Backend{s.Pod, s.TLS}
				}
				return Backend{s.Pod, s.H1}
			}
			if err := p.SetBackends(ctx, []Backend{backend(ps[0])}); err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pem, _ := os.ReadFile(pki.CA)
			pool.AppendCertsFromPEM(pem)
			var quicDials atomic.Int32
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
				Dial: func(ctx context.Context, a string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
					quicDials.Add(1)
					return quic.DialAddrEarly(ctx, a, tc, qc)
				}}
			defer tr.Close()
			c := &http.Client{Transport: tr}
			url := "https://" + addr + "/"
			got, _ := served(t, c, url, 10)
			if got["pod-1"] != 10 {
				t.Fatalf("one backend: %v", got)
			}
			if err := p.SetBackends(ctx, []Backend{backend(ps[0]), backend(ps[1])}); err != nil {
				t.Fatal(err)
			}
			got, _ = served(t, c, url, 40)
			if got["pod-1"] < 10 || got["pod-2"] < 10 {
				t.Fatalf("two backends, per-request balancing expected: %v", got)
			}
			// The backend change did not cost the client its QUIC connection.
			if n := quicDials.Load(); n != 1 {
				t.Fatalf("client dialled %d QUIC connections, want 1 across the backend change", n)
			}
		})
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]Config{
		"no dir":        {Kind: HAProxy, Listen: "127.0.0.1:1"},
		"no listen":     {Kind: HAProxy, Dir: dir},
		"kind":          {Kind: "nginx", Listen: "127.0.0.1:1", Dir: dir},
		"balance":       {Kind: HAProxy, Listen: "127.0.0.1:1", Dir: dir, Balance: "source"},
		"caddy no cert": {Kind: Caddy, Listen: "127.0.0.1:1", Dir: dir},
		"caddy h2 ca":   {Kind: Caddy, Listen: "127.0.0.1:1", Dir: dir, CertFile: "c", KeyFile: "k", Upstream: "h2"},
	} {
		if _, err := Start(context.Background(), cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestProcessCPUSeconds(t *testing.T) {
	// Burn 200ms of CPU (as getrusage counts it: the machine may be busy)
	// and see /proc count about as much.
	rusage := func() float64 {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	before, err := ProcessCPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	start, deadline := rusage(), time.Now().Add(10*time.Second)
	x := 0
	for rusage()-start < 0.2 && time.Now().Before(deadline) {
		x++
	}
	after, err := ProcessCPUSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 0.15 {
		t.Fatalf("/proc counted %.3fs of CPU while getrusage counted %.3fs (x=%d)", d, rusage()-start, x)
	}
}
