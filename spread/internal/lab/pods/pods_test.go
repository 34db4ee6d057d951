package pods

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseCounters(t *testing.T) {
	text := `# HELP echo_requests_total Requests.
# TYPE echo_requests_total counter
echo_requests_total{code="200",proto="h1"} 10
echo_requests_total{code="503",proto="h2"} 2.5
echo_requests_total_other 99
echo_connections_opened_total{proto="h1"} 3
echo_connections_opened_total{proto="h3"} 1e+02
echo_open_connections{proto="h1"} 7
garbage line
`
	got, err := ParseCounters(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Requests: 12.5, Connections: map[string]float64{"h1": 3, "h3": 100}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestTemplateArgs(t *testing.T) {
	s := Spec{Name: "p1", IP: "10.0.0.2", HTTPPort: 5080, CertFile: "/c"}
	got, err := TemplateArgs("srv --name {{.Name}} --bind {{.IP}}:{{.HTTPPort}} --cert '{{.CertFile}}'", s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sh", "-c", "exec srv --name p1 --bind 10.0.0.2:5080 --cert '/c'"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q", got)
	}
	for _, bad := range []string{"srv {{.Nope}}", "srv {{.Name"} {
		if _, err := TemplateArgs(bad, s); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEchoServerArgs(t *testing.T) {
	s := Spec{Name: "p", IP: "127.0.0.1", HTTPPort: 1, HTTPSPort: 2, H3Port: 2, MetricsPort: 3, GRPCPort: 4, CertFile: "c", KeyFile: "k", QUICKeysFile: "q"}
	got := strings.Join(EchoServerArgs("es", s, []string{"--delay=0"}), " ")
	want := "es --pod-name p --insecure-bind 127.0.0.1:1 --bind 127.0.0.1:2 --quic-bind 127.0.0.1:2 --metrics-bind 127.0.0.1:3 --grpc-bind 127.0.0.1:4 --certfile c --keyfile k --quic-keys q --delay=0"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	// Without a gRPC port the listener is off (not echo-server's shared default 0.0.0.0:5090).
	s.GRPCPort = 0
	if args := EchoServerArgs("es", s, nil); !strings.Contains(strings.Join(args, "|"), "|--grpc-bind||") {
		t.Errorf("GRPCPort 0: %q", args)
	}
}

func TestProbe(t *testing.T) {
	code := 200
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
	defer srv.Close()
	for _, tt := range []struct {
		code int
		ok   bool
	}{{200, true}, {302, true}, {404, false}, {503, false}} {
		code = tt.code
		err := Probe(context.Background(), srv.Client(), srv.URL)
		if (err == nil) != tt.ok {
			t.Errorf("status %d: %v", tt.code, err)
		}
	}
}

// TestStopKillsGroup: a pod that ignores SIGTERM and has a child is killed
// with its whole process group after the grace period.
func TestStopKillsGroup(t *testing.T) {
	log, _ := os.Create(filepath.Join(t.TempDir(), "log"))
	defer log.Close()
	p, err := Start(Spec{Name: "stubborn"}, []string{"sh", "-c", "trap '' TERM; sleep 30 & echo $!; wait"}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	p.Stop(300*time.Millisecond, false)
	if d := time.Since(began); d > 3*time.Second {
		t.Errorf("stop took %s", d)
	}
	raw, _ := os.ReadFile(log.Name())
	child, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || child == 0 {
		t.Fatalf("child pid from %q: %v", raw, err)
	}
	time.Sleep(100 * time.Millisecond)
	if syscall.Kill(child, 0) == nil {
		st, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(raw)) + "/stat")
		if !strings.Contains(string(st), ") Z ") {
			t.Errorf("child %d of the pod survived", child)
		}
	}
}

func TestParseProbe(t *testing.T) {
	got, err := ParseProbe("path=/readyz,period=1s,timeout=1s,success=1,failure=3,initialDelay=0s", DefaultProbe("/"))
	want := ProbeSpec{Path: "/readyz", Period: time.Second, Timeout: time.Second, Success: 1, Failure: 3}
	if err != nil || got != want {
		t.Errorf("got %+v, %v", got, err)
	}
	got, err = ParseProbe("period=2,initialDelay=500ms", DefaultProbe("/healthz"))
	want = ProbeSpec{Path: "/healthz", Period: 2 * time.Second, Timeout: time.Second, Success: 1, Failure: 3, InitialDelay: 500 * time.Millisecond}
	if err != nil || got != want {
		t.Errorf("got %+v, %v", got, err)
	}
	if got, err := ParseProbe("off", DefaultProbe("/")); err != nil || got.Path != "" {
		t.Errorf("off: %+v %v", got, err)
	}
	for _, bad := range []string{"path=readyz", "period=soon", "failure=0", "colour=red", "period"} {
		if _, err := ParseProbe(bad, DefaultProbe("/")); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Restart replaces the process (new pid) without ending the pod.
func TestRestartKeepsPod(t *testing.T) {
	p, err := Start(Spec{Name: "p"}, []string{"sh", "-c", "sleep 30"}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(time.Second, false)
	first := p.Pid()
	if err := p.Restart(time.Second); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("Done closed by a restart")
	case <-time.After(100 * time.Millisecond):
	}
	if p.Pid() == first || p.Restarts() != 1 {
		t.Errorf("pid %d -> %d, restarts %d", first, p.Pid(), p.Restarts())
	}
	p.Stop(time.Second, false)
	if err := p.Restart(time.Second); err == nil {
		t.Error("restart after exit accepted")
	}
}
