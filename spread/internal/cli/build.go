package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// `spread build` is the xk6 workflow for spread: a main package importing
// spread's command (spread.dev/spread/command) and extension modules, built
// with the Go toolchain in a temporary module. Written here rather than
// taken from xk6 (AGPL, and not served here); it only drives `go mod` and
// `go build`.

// The modules of spread's repository. They are not published under their
// import paths (spread.dev is not a module host), so a build replaces
// them with the checkout's folders.
var spreadModules = map[string]string{
	"spread.dev/spread":      "spread",
	"spread.dev/xk6-http3":   "xk6-http3",
	"spread.dev/echo-server": "echo-server",
}

// builtinExtensions are the extension modules spread ships and every
// build links (as bin/spread does).
var builtinExtensions = []string{"spread.dev/xk6-http3"}

type buildFlags struct {
	with   []string
	output string
	source string
	keep   bool
}

func newBuildCommand() *cobra.Command {
	f := &buildFlags{}
	cmd := &cobra.Command{
		Use:   "build [--with PATH|MODULE[@VERSION]]... [--output FILE]",
		Short: "Build a spread binary with extra extension modules (like xk6 build)",
		Long: `Build a spread binary that links extension modules (Go modules that call
ext.Register("k6/x/NAME", ...) from init) besides spread's own: it writes a
main package importing spread.dev/spread/command and each module, and builds
it with the Go toolchain (go on PATH) in a temporary module.

--with PATH is a local module folder (its go.mod names the module; it is
used through a replace). --with MODULE[@VERSION] is fetched with go get from
GOPROXY (or found in the module cache; GOFLAGS=-mod=mod works offline).
spread's own modules come from the checkout given with --spread (default:
the checkout holding the current folder).`,
		Example: `  spread build --with ./xk6-mine --output ./spread-mine
  spread build --with github.com/me/xk6-thing@v0.3.1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBuild(cmd.Context(), f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&f.with, "with", nil, "extension module to link: a local folder (PATH) or MODULE[@VERSION] (repeatable)")
	fs.StringVarP(&f.output, "output", "o", "spread", "the binary to write")
	fs.StringVar(&f.source, "spread", "", "spread's checkout (the folder with spread/, xk6-http3/, echo-server/); default: found from the current folder")
	fs.BoolVar(&f.keep, "keep", false, "keep the temporary build folder and print its path (to debug a build)")
	return cmd
}

// extension is one --with: a module path and either a local folder or a
// version to fetch.
type extension struct {
	module, dir, version string
}

func runBuild(ctx context.Context, f *buildFlags, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		return errors.New("spread build needs the Go toolchain: go is not on PATH")
	}
	src, err := spreadCheckout(f.source)
	if err != nil {
		return err
	}
	var exts []extension
	for _, w := range f.with {
		e, err := parseWith(w)
		if err != nil {
			return err
		}
		exts = append(exts, e)
	}
	out, err := filepath.Abs(f.output)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "spread-build-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintln(stderr, "spread build: folder", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	b := &builder{ctx: ctx, gobin: gobin, dir: dir, stderr: stderr}
	if err := b.module(src, exts); err != nil {
		return err
	}
	if err := b.mainPackage(exts); err != nil {
		return err
	}
	if err := b.run("build", "-trimpath", "-o", out, "."); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "spread build: wrote %s\n", out)
	return nil
}

// parseWith reads one --with: an existing folder is a local module,
// anything else MODULE[@VERSION].
func parseWith(w string) (extension, error) {
	if st, err := os.Stat(w); err == nil && st.IsDir() {
		dir, err := filepath.Abs(w)
		if err != nil {
			return extension{}, err
		}
		mod, err := modulePath(filepath.Join(dir, "go.mod"))
		if err != nil {
			return extension{}, fmt.Errorf("--with %s: %w", w, err)
		}
		return extension{module: mod, dir: dir}, nil
	}
	if strings.HasPrefix(w, ".") || strings.HasPrefix(w, "/") {
		return extension{}, fmt.Errorf("--with %s: no such folder", w)
	}
	mod, ver, _ := strings.Cut(w, "@")
	if mod == "" || strings.ContainsAny(mod, " \t") {
		return extension{}, fmt.Errorf("--with %q: want a folder or MODULE[@VERSION]", w)
	}
	if ver == "" {
		ver = "latest"
	}
	return extension{module: mod, version: ver}, nil
}

// modulePath reads the module line of a go.mod.
func modulePath(gomod string) (string, error) {
	fh, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("not a Go module: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			p := strings.TrimSpace(rest)
			if uq, err := strconv.Unquote(p); err == nil {
				p = uq
			}
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: no module line", gomod)
}

// spreadCheckout returns the checkout holding spread's modules: dir, or
// the first parent of the current folder with spread/go.mod of module
// spread.dev/spread.
func spreadCheckout(dir string) (string, error) {
	check := func(d string) bool {
		m, err := modulePath(filepath.Join(d, "spread", "go.mod"))
		return err == nil && m == "spread.dev/spread"
	}
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		if !check(abs) {
			return "", fmt.Errorf("--spread %s: not spread's checkout (no spread/go.mod of module spread.dev/spread)", dir)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if check(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("spread's checkout not found above the current folder: give --spread DIR (spread.dev modules are not published, a build uses the source)")
		}
	}
}

// builder runs the go commands in the build folder.
type builder struct {
	ctx    context.Context
	gobin  string
	dir    string
	stderr io.Writer
}

// run runs `go args...` in the build folder, outside any workspace, with
// -mod=mod so that go.mod is completed from the module cache or GOPROXY.
func (b *builder) run(args ...string) error {
	cmd := exec.CommandContext(b.ctx, b.gobin, args...)
	cmd.Dir = b.dir
	flags := strings.TrimSpace(os.Getenv("GOFLAGS") + " -mod=mod")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+flags)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// module writes go.mod (spread's modules and the local extensions
// replaced by folders) and go.sum (spread's, so no checksum is fetched
// for what the checkout already pins), then adds the fetched extensions.
func (b *builder) module(src string, exts []extension) error {
	if err := b.run("mod", "init", "spread.dev/spread-build"); err != nil {
		return err
	}
	edit := []string{"mod", "edit"}
	names := make([]string, 0, len(spreadModules))
	for m := range spreadModules {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		edit = append(edit, "-require="+m+"@v0.0.0", "-replace="+m+"="+filepath.Join(src, spreadModules[m]))
	}
	for _, e := range exts {
		if e.dir != "" {
			edit = append(edit, "-require="+e.module+"@v0.0.0", "-replace="+e.module+"="+e.dir)
		}
	}
	if err := b.run(edit...); err != nil {
		return err
	}
	var sum []byte
	for _, f := range []string{filepath.Join(src, "spread", "go.sum"), filepath.Join(src, "xk6-http3", "go.sum")} {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		sum = append(sum, data...)
	}
	for _, e := range exts {
		if e.dir != "" {
			if data, err := os.ReadFile(filepath.Join(e.dir, "go.sum")); err == nil {
				sum = append(sum, data...)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(b.dir, "go.sum"), sum, 0o644); err != nil {
		return err
	}
	for _, e := range exts {
		if e.dir == "" {
			if err := b.run("get", e.module+"@"+e.version); err != nil {
				return err
			}
		}
	}
	return nil
}

// mainPackage writes main.go: spread's command with every extension.
func (b *builder) mainPackage(exts []extension) error {
	mods := append([]string(nil), builtinExtensions...)
	for _, e := range exts {
		mods = append(mods, e.module)
	}
	var imports, quoted strings.Builder
	for i, m := range mods {
		fmt.Fprintf(&imports, "\t_ %q\n", m)
		if i > 0 {
			quoted.WriteString(", ")
		}
		quoted.WriteString(strconv.Quote(m))
	}
	src := "// Code generated by spread build; DO NOT EDIT.\n\npackage main\n\nimport (\n\t\"spread.dev/spread/command\"\n\n" +
		imports.String() + ")\n\nfunc main() { command.Main(" + quoted.String() + ") }\n"
	return os.WriteFile(filepath.Join(b.dir, "main.go"), []byte(src), 0o644)
}
