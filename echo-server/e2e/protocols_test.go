package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curlResult runs curl and splits its dump of response headers from the body.
func curl(t *testing.T, args ...string) (status int, header http.Header, body string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed (Debian package curl)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args = append([]string{"-sS", "--max-time", "10", "-D", "-"}, args...)
	out, err := exec.CommandContext(ctx, "curl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("curl %v: %v\n%s", args, err, out)
	}
	head, body, ok := strings.Cut(strings.ReplaceAll(string(out), "\r\n", "\n"), "\n\n")
	if !ok {
		t.Fatalf("curl output has no header/body split:\n%s", out)
	}
	lines := strings.Split(head, "\n")
	fields := strings.Fields(lines[0]) // "HTTP/2 200" or "HTTP/1.1 200 OK"
	if len(fields) < 2 {
		t.Fatalf("bad status line %q", lines[0])
	}
	status, _ = strconv.Atoi(fields[1])
	header = http.Header{}
	for _, l := range lines[1:] {
		if k, v, ok := strings.Cut(l, ":"); ok {
			header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	return status, header, body
}

func TestProtocols(t *testing.T) {
	p := start(t, "pod-proto")
	ca := filepath.Join(certDir, "ca.pem")
	cs := clients(t)
	h3Port := p.h3[strings.LastIndex(p.h3, ":")+1:]

	type answer struct {
		status int
		header http.Header
		body   string
	}
	viaCurl := func(args ...string) func(t *testing.T) answer {
		return func(t *testing.T) answer {
			s, h, b := curl(t, args...)
			return answer{s, h, b}
		}
	}
	tests := []struct {
		name      string
		do        func(t *testing.T) answer
		wantProto string
		altSvc    bool
	}{
		{"h1 cleartext (curl)", viaCurl("--http1.1", p.url("h1", "/")), "HTTP/1.1", false},
		{"h1 over TLS (curl)", viaCurl("--http1.1", "--cacert", ca, p.url("h2", "/")), "HTTP/1.1", true},
		{"h2 (curl)", viaCurl("--http2", "--cacert", ca, p.url("h2", "/")), "HTTP/2.0", true},
		{"h3 (quic-go)", func(t *testing.T) answer {
			r, err := get(context.Background(), cs["h3"], p.url("h3", "/"))
			if err != nil {
				t.Fatalf("h3 GET: %v", err)
			}
			return answer{r.status, r.header, r.raw}
		}, "HTTP/3.0", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.do(t)
			if a.status != http.StatusOK {
				t.Fatalf("status %d, body %q", a.status, a.body)
			}
			if got := a.header.Get("X-Served-By"); got != p.pod {
				t.Errorf("X-Served-By = %q, want %q", got, p.pod)
			}
			wantAlt := `h3=":` + h3Port + `"; ma=86400`
			if got := a.header.Get("Alt-Svc"); tc.altSvc && got != wantAlt {
				t.Errorf("Alt-Svc = %q, want %q", got, wantAlt)
			} else if !tc.altSvc && got != "" {
				t.Errorf("Alt-Svc = %q on cleartext, want none", got)
			}
			if !strings.HasPrefix(a.body, `{"hostname":`) {
				t.Errorf("body does not start with hostname: %q", a.body)
			}
			var b echoBody
			if err := json.Unmarshal([]byte(a.body), &b); err != nil {
				t.Fatalf("body %q: %v", a.body, err)
			}
			if b.Hostname != p.pod || b.Proto != tc.wantProto || b.ConnRequests != 1 {
				t.Errorf("body = %+v, want hostname %q proto %q conn_requests 1", b, p.pod, tc.wantProto)
			}
			if host, _, err := net.SplitHostPort(b.RemoteAddr); err != nil || host != "127.0.0.1" {
				t.Errorf("remote_addr = %q, want 127.0.0.1:PORT", b.RemoteAddr)
			}
		})
	}

	t.Run("probes on every listener", func(t *testing.T) {
		for _, proto := range []string{"h1", "h2", "h3"} {
			for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
				r, err := get(context.Background(), cs[proto], p.url(proto, path))
				if err != nil || r.status != http.StatusOK || r.raw != want {
					t.Errorf("%s %s: %v status %d body %q", proto, path, err, r.status, r.raw)
				}
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for series, want := range map[string]float64{
			`echo_requests_total{code="200",proto="h1"}`: 2, // cleartext and TLS h1
			`echo_requests_total{code="200",proto="h2"}`: 1,
			`echo_requests_total{code="200",proto="h3"}`: 1,
			`echo_connections_opened_total{proto="h3"}`:  1, // the probes reused it
			`echo_draining`: 0,
		} {
			if got := p.metric(series); got != want {
				t.Errorf("%s = %v, want %v", series, got, want)
			}
		}
		if got := p.metric(`echo_connections_opened_total{proto="h2"}`); got < 2 {
			t.Errorf("h2 connections opened = %v, want >= 2 (curl, Go client)", got)
		}
	})
}

func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary, "keys", "--out", filepath.Join(dir, "k.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("keys: %v\n%s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "k.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", fi, err)
	}
	if out, err := exec.Command(binary, "keys").CombinedOutput(); err == nil {
		t.Errorf("keys without --out succeeded:\n%s", out)
	}
	// A server started with the file accepts it; a broken file is refused.
	start(t, "pod-keys", "--quic-keys", filepath.Join(dir, "k.json"))
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"token_key":"AAAA"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(binary, "--quic-keys", filepath.Join(dir, "bad.json"), "--metrics-bind", "", "--insecure-bind", "", "--grpc-bind", "").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "quickeys") {
		t.Errorf("bad keys file: err %v, output %q", err, out)
	}
	if out, err := exec.Command(binary, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "echo-server certs") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

// TestSelfSignedFallback: without --certfile/--keyfile the TLS listeners
// still start, with a warning, on a certificate no client can verify.
func TestSelfSignedFallback(t *testing.T) {
	p := start(t, "pod-selfsigned", "--certfile", "", "--keyfile", "")
	if out := p.Log(); !strings.Contains(out, "SELF-SIGNED") || !strings.Contains(out, "echo-server certs") {
		t.Errorf("no warning about the self-signed certificate:\n%s", out)
	}
	if _, err := get(context.Background(), clients(t)["h2"], p.url("h2", "/")); err == nil {
		t.Error("a client trusting the test CA accepted the self-signed certificate")
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true,
	}}
	r, err := get(context.Background(), insecure, p.url("h2", "/"))
	if err != nil || r.body.Proto != "HTTP/2.0" || r.body.Hostname != p.pod {
		t.Errorf("insecure h2 request: %v %+v", err, r.body)
	}
}
