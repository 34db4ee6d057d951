// Package testbin builds the workspace's commands with `go build`, once per
// process, so tests and benchmarks run the real binaries from a clean checkout.
package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildTimeout bounds one `go build`; a cold cache on 2 cores takes about a minute.
const buildTimeout = 4 * time.Minute

var (
	mu     sync.Mutex
	dir    string                // temporary folder of every binary built by this process
	builds = map[string]*build{} // by package and flags
)

// build is one binary, built at most once even when tests ask concurrently.
type build struct {
	once sync.Once
	n    int // subfolder number
	path string
	err  error
}

// Root returns the workspace root: the folder holding go.work, found from the
// working directory upwards (tests run in their package folder), else from
// `go env GOWORK`.
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("testbin: working directory: %w", err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if gw := strings.TrimSpace(string(out)); err == nil && gw != "" && gw != "off" {
		return filepath.Dir(gw), nil
	}
	return "", fmt.Errorf("testbin: no go.work above %s", wd)
}

// Build compiles the command pkg (an import path such as
// "spread.dev/spread/cmd/spread") with extra go build flags (e.g. "-race")
// and returns the binary's path; later calls with the same arguments reuse it.
func Build(pkg string, flags ...string) (string, error) {
	key := strings.Join(append([]string{pkg}, flags...), " ")
	mu.Lock()
	b := builds[key]
	if b == nil {
		b = &build{n: len(builds)}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() { b.path, b.err = goBuild(pkg, flags, b.n) })
	return b.path, b.err
}

// MustBuild is Build for tests: it fails t when the build fails.
func MustBuild(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	bin, err := Build(pkg, flags...)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// Cleanup removes every binary built so far; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	dir = ""
	builds = map[string]*build{}
}

func goBuild(pkg string, flags []string, n int) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	out, err := tempDir()
	if err != nil {
		return "", err
	}
	// One subfolder per build keeps the command's own name (it shows in
	// logs and ps) while -race and plain builds of it coexist.
	bin := filepath.Join(out, fmt.Sprint(n), path.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	args := append(append([]string{"build", "-o", bin}, flags...), pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testbin: go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return bin, nil
}

func tempDir() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if dir == "" {
		d, err := os.MkdirTemp("", "testbin-")
		if err != nil {
			return "", fmt.Errorf("testbin: %w", err)
		}
		dir = d
	}
	return dir, nil
}
