package k6http

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestFastAPIHostnamePod runs the write-up's server stack (FastAPI under
// Hypercorn, Debian packages python3-fastapi and python3-hypercorn), whose
// app only answers {"hostname": ...}: the pod must come from that body.
func TestFastAPIHostnamePod(t *testing.T) {
	hypercorn, err := exec.LookPath("hypercorn")
	if err != nil {
		t.Skip("hypercorn not installed (apt-get install -y python3-hypercorn python3-fastapi)")
	}
	dir := t.TempDir()
	app := "from fastapi import FastAPI\napp = FastAPI()\n\n@app.get('/')\nasync def root():\n    return {'hostname': 'fastapi-pod'}\n"
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hypercorn, "--bind", addr, "app:app")
	cmd.Dir = dir
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hypercorn did not listen on %s:\n%s", addr, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	vu := newVU(t, nil)
	r := jsObj(t, vu, fmt.Sprintf(`(function(){ var a = http.get('http://%s/'), b = http.get('http://%s/', {responseType: 'none'});
		return {s: a.status, pod: a.pod, podNone: b.pod, served: a.headers['X-Served-By'] || ''}; })()`, addr, addr))
	if r["s"] != 200.0 || r["pod"] != "fastapi-pod" || r["podNone"] != "fastapi-pod" || r["served"] != "" {
		t.Fatalf("fastapi: %v\n%s", r, out.String())
	}
	for _, tags := range tagsOf(vu, "http_reqs") {
		if tags["pod"] != "fastapi-pod" {
			t.Fatalf("pod tag %q", tags["pod"])
		}
	}
}
