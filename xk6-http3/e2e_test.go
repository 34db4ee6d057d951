package http3

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

// buildSpread compiles the workspace's spread command (which links this
// module, as an xk6 build would) once per test binary.
func buildSpread(t *testing.T) string {
	t.Helper()
	return testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
}

const e2eScript = `
import http3 from 'k6/x/http3';
import { check, sleep } from 'k6';

const opts = JSON.parse(__ENV.OPTS);
opts.caCerts = __ENV.CA;
const client = new http3.Client(opts);

export default function () {
  const res = client.get(__ENV.URL);
  check(res, { 'status 200': (r) => r.status === 200, 'HTTP/3': (r) => r.proto === 'HTTP/3.0' });
  if (__ENV.SLEEP) sleep(parseFloat(__ENV.SLEEP));
}
`

// runResult is what a `spread run` produced.
type runResult struct {
	exit     int
	stderr   string
	metrics  map[string]map[string]float64
	pods     map[string]struct{ Requests float64 }
	codes    map[string]int // error_code tag of http_reqs points
	openedBy map[string]int // http3_connections_opened points by "mode,resumed,zero_rtt"
}

func spreadRun(t *testing.T, url, ca, opts string, args ...string) *runResult {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script.js")
	if err := os.WriteFile(script, []byte(e2eScript), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, out := filepath.Join(dir, "summary.json"), filepath.Join(dir, "samples.json")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	argv := append([]string{"run", "-q", "--no-color", "--summary-export", sum, "-o", "json=" + out,
		"-e", "URL=" + url, "-e", "CA=" + ca, "-e", "OPTS=" + opts}, args...)
	cmd := exec.CommandContext(ctx, buildSpread(t), append(argv, script)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := &runResult{stderr: stderr.String(), codes: map[string]int{}, openedBy: map[string]int{}}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("spread run: %v", err)
	}
	var doc struct {
		Metrics map[string]map[string]float64
		Pods    map[string]struct{ Requests float64 }
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		t.Fatalf("no summary export (exit %d): %v\n%s", r.exit, err, r.stderr)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("summary export: %v", err)
	}
	r.metrics, r.pods = doc.Metrics, doc.Pods
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var p struct {
			Type, Metric string
			Data         struct{ Tags map[string]string }
		}
		if json.Unmarshal(sc.Bytes(), &p) != nil || p.Type != "Point" {
			continue
		}
		switch p.Metric {
		case "http_reqs":
			r.codes[p.Data.Tags["error_code"]]++
		case "http3_connections_opened":
			r.openedBy[p.Data.Tags["mode"]+","+p.Data.Tags["resumed"]+","+p.Data.Tags["zero_rtt"]]++
		}
	}
	return r
}

// TestSpreadRun runs real `spread run` processes against real echo-server
// processes and compares what both sides counted.
func TestSpreadRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs spread and echo-server")
	}
	pki := echotest.Certs(t)
	cases := []struct {
		name     string
		opts     string
		vus      string
		extra    []string
		conns    func(reqs float64) (lo, hi float64) // server-side h3 connections
		openedAs string
	}{
		{"single-connection", `{"mode":"single-connection"}`, "3", []string{"--delay", "5ms"},
			func(float64) (float64, float64) { return 3, 3 }, "single-connection,false,false"},
		{"per-request fresh", `{"mode":"per-request"}`, "2", []string{"--delay", "0"},
			func(n float64) (float64, float64) { return n, n }, "per-request,false,false"},
		{"per-request 0-RTT", `{"mode":"per-request","zeroRTT":true}`, "2", []string{"--delay", "0"},
			func(n float64) (float64, float64) { return n, n }, "per-request,true,true"},
		{"multiplexed", `{"mode":"multiplexed"}`, "4", []string{"--delay", "5ms"},
			func(float64) (float64, float64) { return 1, 1 }, "multiplexed,false,false"},
		{"server recycling", `{"mode":"single-connection"}`, "2", []string{"--delay", "0", "--max-conn-requests", "20"},
			func(n float64) (float64, float64) { return n / 20, n/20 + 2 }, "single-connection,false,false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Pod: "pod-e2e", Args: tc.extra})
			r := spreadRun(t, srv.H3URL(), pki.CA, tc.opts, "-u", tc.vus, "-d", "2s")
			if r.exit != 0 {
				t.Fatalf("exit %d\n%s", r.exit, r.stderr)
			}
			reqs := r.metrics["http_reqs"]["count"]
			served := srv.Sum(t, "echo_requests_total", `proto="h3"`)
			if reqs < 10 || reqs != served {
				t.Errorf("spread counted %v requests, echo-server %v", reqs, served)
			}
			if got := r.pods["pod-e2e"].Requests; got != served {
				t.Errorf("summary pods: %v requests on pod-e2e, server %v", got, served)
			}
			if r.metrics["http_req_failed"]["passes"] != 0 && r.metrics["http_req_failed"]["value"] != 0 {
				t.Errorf("failed requests: %v", r.metrics["http_req_failed"])
			}
			if len(r.codes) != 1 || r.codes[""] == 0 {
				t.Errorf("error codes seen: %v", r.codes)
			}
			conns := srv.Sum(t, "echo_connections_opened_total", `proto="h3"`)
			lo, hi := tc.conns(served)
			if conns < lo || conns > hi {
				t.Errorf("echo-server saw %v connections for %v requests, want %v..%v", conns, served, lo, hi)
			}
			opened := 0
			for k, n := range r.openedBy {
				opened += n
				if k != tc.openedAs && !(strings.HasPrefix(tc.name, "per-request 0-RTT") && k == "per-request,false,false") {
					t.Errorf("http3_connections_opened tags %s x%d, want %s", k, n, tc.openedAs)
				}
			}
			if float64(opened) != conns {
				t.Errorf("http3_connections_opened = %d, echo-server saw %v", opened, conns)
			}
		})
	}

	t.Run("stateless reset mid-run", func(t *testing.T) {
		keys := echotest.Keys(t)
		srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "10ms", "--quic-keys", keys}})
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			// restart once the run is under way (spread takes a moment to start)
			deadline := time.Now().Add(30 * time.Second)
			for srv.Sum(t, "echo_requests_total", `proto="h3"`) < 30 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			srv.Restart(t)
			t.Logf("restarted at %s", time.Since(start))
		}()
		// VUs idle between requests send their next request on the dead
		// connection (stateless reset at once); a request in flight at the
		// kill has nothing to send and waits for the 1s idle timeout.
		r := spreadRun(t, srv.H3URL(), pki.CA, `{"mode":"single-connection","idleTimeout":"1s","keepAlivePeriod":"300ms"}`,
			"-u", "4", "-d", "4s", "-e", "SLEEP=0.1")
		<-done
		t.Logf("codes %v in %s\n%s", r.codes, time.Since(start), r.stderr)
		if r.exit != 0 {
			t.Fatalf("exit %d\n%s", r.exit, r.stderr)
		}
		if r.codes["1803"] == 0 {
			t.Errorf("no stateless reset seen: %v", r.codes)
		}
		for code := range r.codes {
			if code != "" && code != "1803" && code != "1802" {
				t.Errorf("unexpected error code %s: %v", code, r.codes)
			}
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("a 4s run took %s", d)
		}
		if r.codes[""] < 50 {
			t.Errorf("run did not continue after the restart: %v", r.codes)
		}
		// after the restart the server counted only post-restart requests
		if served := srv.Sum(t, "echo_requests_total", `proto="h3"`); served < 20 {
			t.Errorf("only %v requests after the restart", served)
		}
	})
}
