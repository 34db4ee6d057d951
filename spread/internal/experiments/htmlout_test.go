package experiments

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunOutHTML runs `spread run --out html=FILE` on a real script against
// a real echo-server and checks the page shows that pod's traffic.
func TestRunOutHTML(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs spread and echo-server")
	}
	bins := buildBinaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := exec.CommandContext(ctx, filepath.Join(bins, "echo-server"), "--insecure-bind", addr, "--bind", "", "--quic-bind", "", "--grpc-bind", "",
		"--metrics-bind", "", "--delay", "20ms", "--pod-name", "html-pod", "--access-log=false")
	srv.Stdout, srv.Stderr = os.Stderr, os.Stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("echo-server not up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	page := filepath.Join(t.TempDir(), "run.html")
	script, _ := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "baseline_h1.js"))
	run := exec.CommandContext(ctx, filepath.Join(bins, "spread"), "run", "-q", "--no-summary", "-e", "TARGET_HTTP=http://"+addr,
		"-e", "VUS=3", "-e", "DURATION=2s", "--out", "html="+page, script)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("spread run: %v\n%s", err, out)
	}
	data, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	// The page is the web dashboard's report: its data is embedded as JSON
	// (the dashboard package's browser tests check what Chromium draws).
	for _, want := range []string{"<title>spread run: baseline_h1</title>", `id="spread-data"`, `"html-pod":{"reqs":`, `"done":true`} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(s, `"html-pod":{"reqs":0`) {
		t.Error("page shows no requests")
	}
}
