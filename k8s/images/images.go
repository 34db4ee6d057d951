// Package images builds spread's container images without Docker: static
// Go binaries put on an empty base (the equivalent of FROM scratch) with
// go-containerregistry, written as docker-archive tarballs that
// `k3s ctr images import`, `docker load` and `podman load` accept.
package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// UID is the non-root user and group the images run as (distroless' nonroot).
const UID = 65532

// Spec describes one image.
type Spec struct {
	Name    string // image and binary name: "echo-server", "spread"
	Package string // Go package of the binary, relative to the workspace root
	Tag     string // e.g. docker.io/spread/echo-server:dev
	// Dirs are extra directories copied into the image: workspace-relative
	// source → absolute destination (spread's scripts/ → /scripts).
	Dirs map[string]string
}

// Specs are the project's images, tagged as the k8s overlays expect.
func Specs(tag string) []Spec {
	return []Spec{
		{Name: "echo-server", Package: "./echo-server/cmd/echo-server", Tag: "docker.io/spread/echo-server:" + tag},
		{Name: "spread", Package: "./spread/cmd/spread", Tag: "docker.io/spread/spread:" + tag, Dirs: map[string]string{"scripts": "/scripts"}},
	}
}

// Options are the build settings.
type Options struct {
	Root string // the Go workspace root (holds go.work)
	Out  string // directory for NAME.tar
	Arch string // GOARCH ("" = this machine's)
	Log  io.Writer
}

// Build builds every spec and returns the tarball paths.
func Build(ctx context.Context, o Options, specs []Spec) ([]string, error) {
	if o.Arch == "" {
		o.Arch = runtime.GOARCH
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	tmp, err := os.MkdirTemp("", "spread-images-")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer os.RemoveAll(tmp)
	var out []string
	for _, s := range specs {
		bin := filepath.Join(tmp, s.Name)
		if err := goBuild(ctx, o, s.Package, bin); err != nil {
			return nil, err
		}
		img, err := Image(o, s, bin)
		if err != nil {
			return nil, err
		}
		tag, err := name.NewTag(s.Tag)
		if err != nil {
			return nil, fmt.Errorf("images: tag %q: %w", s.Tag, err)
		}
		path := filepath.Join(o.Out, s.Name+".tar")
		if err := tarball.WriteToFile(path, tag, img); err != nil {
			return nil, fmt.Errorf("images: write %s: %w", path, err)
		}
		fmt.Fprintf(o.Log, "images: %s -> %s\n", s.Tag, path)
		out = append(out, path)
	}
	return out, nil
}

// goBuild builds a static binary (no cgo, so it runs on an empty base).
func goBuild(ctx context.Context, o Options, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.Arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("images: go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// Image assembles one image from a built binary: /etc/passwd and
// /etc/group naming the non-root user, a writable /tmp, the CA bundle of
// this machine when it has one, the binary in /usr/local/bin, and the
// spec's extra directories.
func Image(o Options, s Spec, bin string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	dir := func(path string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, ModTime: mtime})
	}
	file := func(path string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID)
	steps := []func() error{
		func() error { return dir("etc", 0o755) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("tmp", 0o1777) },
		func() error { return dir("home", 0o755) },
		func() error {
			// HOME, owned by the user so it can write there.
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "home/nonroot/", Mode: 0o700, Uid: UID, Gid: UID, ModTime: mtime})
		},
		func() error { return dir("usr", 0o755) },
		func() error { return dir("usr/local", 0o755) },
		func() error { return dir("usr/local/bin", 0o755) },
		func() error { return file("usr/local/bin/"+s.Name, 0o755, binData) },
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		// For --out prometheus-rw=https://... and TLS targets with public CAs.
		steps = append(steps,
			func() error { return dir("etc/ssl", 0o755) },
			func() error { return dir("etc/ssl/certs", 0o755) },
			func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, ca) })
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("images: layer: %w", err)
		}
	}
	srcs := make([]string, 0, len(s.Dirs))
	for src := range s.Dirs {
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	for _, src := range srcs {
		if err := copyDir(tw, filepath.Join(o.Root, src), strings.TrimPrefix(s.Dirs[src], "/"), mtime); err != nil {
			return nil, fmt.Errorf("images: copy %s: %w", src, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: layer: %w", err)
	}
	layerData := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerData)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("images: layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	if o.Arch == "" {
		cf.Architecture = runtime.GOARCH
	}
	cf.Created = v1.Time{Time: mtime}
	cf.Config.Entrypoint = []string{"/usr/local/bin/" + s.Name}
	cf.Config.User = fmt.Sprintf("%d:%d", UID, UID)
	cf.Config.WorkingDir = "/home/nonroot"
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/nonroot"}
	cf.Config.Labels = map[string]string{"org.opencontainers.image.title": s.Name, "org.opencontainers.image.source": "spread"}
	return mutate.ConfigFile(img, cf)
}

// copyDir adds the regular files under src to the tar at dst, world-readable.
func copyDir(tw *tar.Writer, src, dst string, mtime time.Time) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dst + "/", Mode: 0o755, ModTime: mtime}); err != nil {
		return err
	}
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if rel == "." {
			return nil
		}
		target := dst + "/" + filepath.ToSlash(rel)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: target + "/", Mode: 0o755, ModTime: mtime})
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: target, Mode: 0o644, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
}
