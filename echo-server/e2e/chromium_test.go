package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChromiumHTTP3 fetches / with headless Chromium forced onto QUIC: an
// HTTP/3 client none of us wrote, trusting the CA from `echo-server certs`
// through an NSS database.
func TestChromiumHTTP3(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed (Debian package chromium)")
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Skip("certutil not installed (Debian package libnss3-tools)")
	}
	p := start(t, "pod-chromium")
	home := t.TempDir()
	nssdb := filepath.Join(home, ".pki", "nssdb")
	if err := os.MkdirAll(nssdb, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, args := range [][]string{
		{"-d", "sql:" + nssdb, "-N", "--empty-password"},
		{"-d", "sql:" + nssdb, "-A", "-t", "C,,", "-n", "echo-test-ca", "-i", filepath.Join(certDir, "ca.pem")},
	} {
		if out, err := exec.CommandContext(ctx, certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	cmd := exec.CommandContext(ctx, chromium,
		"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(home, "profile"),
		"--enable-quic", "--origin-to-force-quic-on="+p.h3,
		"--dump-dom", "https://"+p.h3+"/")
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\nstdout: %s", err, out)
	}
	page := string(out)
	for _, want := range []string{`"hostname":"pod-chromium"`, `"proto":"HTTP/3.0"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	if got := p.metric(`echo_requests_total{code="200",proto="h3"}`); got < 1 {
		t.Errorf("server counted %v h3 requests, want >= 1", got)
	}
}
