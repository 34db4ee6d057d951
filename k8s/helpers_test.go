package k8s

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the folder holding go.work, k8s/ and scripts/.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries builds spread and echo-server from the workspace once per test run.
func binaries(t testing.TB) (spread, echo string) {
	t.Helper()
	root := repoRoot(t)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "spread-k8s-bin-")
		if binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		defer cancel()
		for name, pkg := range map[string]string{"spread": "./spread/cmd/spread", "echo-server": "./echo-server/cmd/echo-server"} {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(binDir, name), pkg)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "spread"), filepath.Join(binDir, "echo-server")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if treeDir != "" {
		os.RemoveAll(treeDir)
	}
	os.Exit(code)
}

var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

// certHosts are the names the echo-server certificate must be valid for:
// the Services in namespace spread, and the NodePort on this host.
var certHosts = []string{"echo-server", "echo-server.spread", "echo-server.spread.svc", "echo-server.spread.svc.cluster.local", "echo-server-nodeport.spread.svc", "localhost", "127.0.0.1"}

// tree returns a copy of k8s/ and scripts/ with certificates and QUIC keys
// made by the real `echo-server certs` and `echo-server keys` (what `make
// certs` does), so the secretGenerators have their files.
func tree(t testing.TB) string {
	t.Helper()
	_, echo := binaries(t)
	root := repoRoot(t)
	treeOnce.Do(func() {
		treeDir, treeErr = os.MkdirTemp("", "spread-k8s-tree-")
		if treeErr != nil {
			return
		}
		for _, d := range []string{"k8s", "scripts"} {
			if treeErr = copyTree(filepath.Join(root, d), filepath.Join(treeDir, d)); treeErr != nil {
				return
			}
		}
		certs := filepath.Join(treeDir, "k8s", "base", "certs")
		_ = os.RemoveAll(certs) // fresh, whatever a developer has locally
		for _, args := range [][]string{
			{"certs", "--dir", certs, "--hosts", strings.Join(certHosts, ",")},
			{"keys", "--out", filepath.Join(certs, "quic.keys")},
		} {
			if err := os.MkdirAll(certs, 0o755); err != nil {
				treeErr = err
				return
			}
			if out, err := exec.Command(echo, args...).CombinedOutput(); err != nil {
				treeErr = fmt.Errorf("echo-server %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if treeErr != nil {
		t.Fatal(treeErr)
	}
	return treeDir
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() || strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startProcess starts a process that lives until the test ends.
func startProcess(ctx context.Context, t testing.TB, name, bin string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func waitHTTP(ctx context.Context, t testing.TB, u string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 30s", u)
}
