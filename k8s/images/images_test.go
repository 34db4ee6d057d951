package images

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBuiltImages builds the images as `make images` does and reads the
// tarballs back as images: tag, entrypoint, user, files, and a binary that
// is static and runs.
func TestBuiltImages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	wd, _ := os.Getwd()
	root := filepath.Dir(filepath.Dir(wd)) // k8s/images → repo root
	out := t.TempDir()
	specs := Specs("dev")
	paths, err := Build(ctx, Options{Root: root, Out: out}, specs)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(specs) {
		t.Fatalf("paths %v", paths)
	}
	for i, s := range specs {
		t.Run(s.Name, func(t *testing.T) {
			if filepath.Base(paths[i]) != s.Name+".tar" {
				t.Errorf("tarball %s", paths[i])
			}
			// docker-archive with the tag the overlays use, as `k3s ctr
			// images import` and `docker load` read it.
			m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(paths[i]) })
			if err != nil || len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != s.Tag {
				t.Errorf("manifest.json: %+v %v, want one image tagged %s", m, err, s.Tag)
			}
			tag, _ := name.NewTag(s.Tag)
			img, err := tarball.ImageFromPath(paths[i], &tag)
			if err != nil {
				t.Fatalf("%s does not load as %s: %v", paths[i], s.Tag, err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			bin := "/usr/local/bin/" + s.Name
			if strings.Join(cf.Config.Entrypoint, " ") != bin || cf.Config.User != "65532:65532" || cf.OS != "linux" {
				t.Errorf("config: entrypoint %v user %q os %s", cf.Config.Entrypoint, cf.Config.User, cf.OS)
			}
			files := map[string]*tar.Header{}
			data := map[string][]byte{}
			rc := mutate.Extract(img)
			defer rc.Close()
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				p := "/" + strings.TrimSuffix(h.Name, "/")
				files[p] = h
				if h.Typeflag == tar.TypeReg && (p == bin || strings.HasPrefix(p, "/etc/") || strings.HasPrefix(p, "/scripts/")) {
					data[p], _ = io.ReadAll(tr)
				}
			}
			if h := files[bin]; h == nil || h.Mode&0o111 == 0 {
				t.Fatalf("%s missing or not executable", bin)
			}
			if !strings.Contains(string(data["/etc/passwd"]), ":65532:65532:") {
				t.Errorf("/etc/passwd has no user 65532: %q", data["/etc/passwd"])
			}
			if h := files["/tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
				t.Errorf("/tmp missing or not world-writable (spread writes --summary-export there)")
			}
			if h := files["/home/nonroot"]; h == nil || h.Uid != 65532 {
				t.Errorf("/home/nonroot missing or not owned by 65532")
			}
			// Static: no ELF interpreter, so it runs on the empty base.
			f, err := elf.NewFile(bytes.NewReader(data[bin]))
			if err != nil {
				t.Fatalf("%s: %v", bin, err)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s is dynamically linked", bin)
				}
			}
			exe := filepath.Join(t.TempDir(), s.Name)
			_ = os.WriteFile(exe, data[bin], 0o755)
			if out, err := exec.CommandContext(ctx, exe, "--help").CombinedOutput(); err != nil && !strings.Contains(string(out), "Usage") {
				t.Errorf("%s --help: %v\n%s", s.Name, err, out)
			}
			if s.Name == "spread" {
				want, _ := filepath.Glob(filepath.Join(root, "scripts", "*.js"))
				lib, _ := filepath.Glob(filepath.Join(root, "scripts", "lib", "*.js"))
				want = append(want, lib...)
				if len(want) == 0 {
					t.Fatal("no scripts in the repository")
				}
				for _, w := range want {
					rel, _ := filepath.Rel(filepath.Join(root, "scripts"), w)
					p := "/scripts/" + filepath.ToSlash(rel)
					src, _ := os.ReadFile(w)
					if !bytes.Equal(data[p], src) {
						t.Errorf("%s missing or different from scripts/%s", p, rel)
					}
				}
			}
			var names []string
			for n := range files {
				names = append(names, n)
			}
			sort.Strings(names)
			t.Logf("%s: %d files, %v...", s.Tag, len(names), names[:min(8, len(names))])
		})
	}
}
