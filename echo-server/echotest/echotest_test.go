package echotest

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"spread.dev/echo-server/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

const exposition = `# TYPE echo_requests_total counter
echo_requests_total{code="200",proto="h1"} 3
echo_requests_total{code="200",proto="h3"} 4
echo_requests_total{code="503",proto="h3"} 1
echo_draining 0
echo_request_duration_seconds_sum 1.5e-3
`

func TestSeriesValue(t *testing.T) {
	for _, tc := range []struct {
		series string
		want   float64
	}{
		{`echo_requests_total{code="200",proto="h3"}`, 4},
		{`echo_draining`, 0},
		{`echo_request_duration_seconds_sum`, 0.0015},
		{`echo_requests_total{code="404",proto="h3"}`, 0}, // absent
		{`echo_requests_total`, 0},                        // no unlabelled sample
	} {
		got, err := SeriesValue(exposition, tc.series)
		if err != nil || got != tc.want {
			t.Errorf("SeriesValue(%s) = %v, %v; want %v", tc.series, got, err, tc.want)
		}
	}
	if _, err := SeriesValue("x{a=\"b\"} notanumber\n", `x{a="b"}`); err == nil {
		t.Error("SeriesValue of a bad value: no error")
	}
}

func TestSumValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"echo_requests_total", nil, 8},
		{"echo_requests_total", []string{`proto="h3"`}, 5},
		{"echo_requests_total", []string{`proto="h3"`, `code="200"`}, 4},
		{"echo_requests_total", []string{`proto="h2"`}, 0},
		{"echo_request_duration_seconds", nil, 0}, // only _sum exists
	} {
		if got := SumValues(exposition, tc.name, tc.labels...); got != tc.want {
			t.Errorf("SumValues(%s, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

// TestServerLifecycle runs the real binary: ports from its startup lines,
// counters from /metrics, a restart on the same ports, and its exit.
func TestServerLifecycle(t *testing.T) {
	s := Start(t, Config{Pod: "pod-lc", Args: []string{"--delay", "0"}, TLS: Off})
	if s.H1 == "" || s.H3 == "" || s.Metrics == "" || s.TLS != "" {
		t.Fatalf("listeners h1=%q tls=%q h3=%q metrics=%q, want all but tls", s.H1, s.TLS, s.H3, s.Metrics)
	}
	get := func() {
		t.Helper()
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(s.HTTPURL() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Served-By") != "pod-lc" {
			t.Fatalf("GET / = %d %q, served by %q", resp.StatusCode, b, resp.Header.Get("X-Served-By"))
		}
	}
	get()
	get()
	if got := s.Series(t, `echo_requests_total{code="200",proto="h1"}`); got != 2 {
		t.Errorf("h1 requests = %v, want 2", got)
	}
	if got := s.Sum(t, "echo_connections_opened_total", `proto="h1"`); got != 1 {
		t.Errorf("h1 connections = %v, want 1 (keep-alive)", got)
	}
	h1, metrics := s.H1, s.Metrics
	s.Restart(t)
	if s.H1 != h1 || s.Metrics != metrics {
		t.Errorf("restart moved listeners: h1 %s -> %s, metrics %s -> %s", h1, s.H1, metrics, s.Metrics)
	}
	if got := s.Sum(t, "echo_requests_total"); got != 0 {
		t.Errorf("requests after restart = %v, want 0 (new process)", got)
	}
	get()
	if err := s.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("no exit 10s after SIGTERM")
	}
	if err := s.ExitErr(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	if log := s.Log(); !strings.Contains(log, "echo-server: ready") || !strings.Contains(log, "listening h1") {
		t.Errorf("log misses startup lines:\n%s", log)
	}
}

func TestRunFailsOnBadFlag(t *testing.T) {
	bin := Binary(t)
	s, err := Run(Config{Bin: bin, Args: []string{"--no-such-flag"}})
	if err == nil {
		s.Kill()
		t.Fatal("Run with a bad flag: no error")
	}
	if !strings.Contains(err.Error(), "exited before ready") {
		t.Errorf("error %q, want 'exited before ready'", err)
	}
}
