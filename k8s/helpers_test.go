package k8s

import (
	"spread.dev/echo-server/testbin"

	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
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

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
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

// binaries builds spread and echo-server from the workspace once per test run.
func binaries(t testing.TB) (spread, echo string) {
	t.Helper()
	return testbin.MustBuild(t, "spread.dev/spread/cmd/spread"), testbin.MustBuild(t, "spread.dev/echo-server/cmd/echo-server")
}
