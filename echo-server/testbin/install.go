package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// installTimeout bounds one `go install pkg@version`: with a cold module
// cache it downloads the module's dependencies (minutes on 2 busy cores).
const installTimeout = 10 * time.Minute

// Install builds an independent tool from the Go module proxy (outside the
// workspace: its own go.mod decides its dependencies), e.g.
// "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4", once per process,
// and returns the binary's path. Tests use it for clients none of us wrote
// that Debian does not package, since CI has them nowhere else.
func Install(pkgAtVersion string) (string, error) {
	key := "install " + pkgAtVersion
	mu.Lock()
	b := builds[key]
	if b == nil {
		b = &build{n: len(builds)}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		out, err := tempDir()
		if err != nil {
			b.err = err
			return
		}
		gobin := filepath.Join(out, fmt.Sprint(b.n))
		ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "install", pkgAtVersion)
		// GOWORK=off: the tool builds with its own module graph, not ours;
		// GOFLAGS cleared so a -mod setting of the caller does not apply.
		cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
		cmd.Dir = out
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("testbin: go install %s: %v\n%s", pkgAtVersion, err, o)
			return
		}
		name, _, _ := strings.Cut(path.Base(pkgAtVersion), "@")
		b.path = filepath.Join(gobin, name)
	})
	return b.path, b.err
}
