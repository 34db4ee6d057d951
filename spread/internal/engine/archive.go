package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"spread.dev/spread/internal/archive"
	"spread.dev/spread/internal/js"
)

// openArchive extracts the archive at path, when it is one, to a
// temporary folder and returns the script's path there; otherwise path
// itself. cleanup removes the folder.
func openArchive(path string) (script string, a *archive.Archive, cleanup func(), err error) {
	if !archive.IsArchive(path) {
		return path, nil, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	a, err = archive.Read(f)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	dir, err := os.MkdirTemp("", "spread-archive-")
	if err != nil {
		return "", nil, nil, err
	}
	root := filepath.Join(dir, "root")
	script, err = a.Extract(root)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return script, a, func() { os.RemoveAll(dir) }, nil
}

// newFiles is open()'s file cache: relative to the script, and for an
// archive rooted where it was extracted.
func newFiles(progPath, script string, a *archive.Archive) *js.Files {
	f := js.NewFiles(filepath.Dir(progPath))
	if a != nil {
		// script = root + a.Script
		f.Root = filepath.Clean(script[:len(script)-len(filepath.FromSlash(a.Script))])
	}
	return f
}

// Archive writes cfg's test as one archive to out (see package archive):
// the script is prepared as for a run (compiled, its init code run once
// to read options and open() files), then everything it used is saved.
func Archive(ctx context.Context, cfg *Config, out string) error {
	p, err := Prepare(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	a := &archive.Archive{Script: p.Program.Path, Options: p.Layer, Env: p.ScriptEnv,
		Files: map[string][]byte{}, Remote: p.Remote.Fetched()}
	paths := append(append([]string{}, p.Program.Inputs...), p.Shared.Files.Paths()...)
	for _, path := range paths {
		if _, ok := a.Files[path]; ok {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return exitErr(ExitGenericEngineErr, fmt.Errorf("archive: %w", err))
		}
		a.Files[path] = b
	}
	if _, ok := a.Files[a.Script]; !ok {
		b, err := os.ReadFile(a.Script)
		if err != nil {
			return exitErr(ExitGenericEngineErr, fmt.Errorf("archive: %w", err))
		}
		a.Files[a.Script] = b
	}
	var buf bytes.Buffer
	if err := archive.Write(&buf, a); err != nil {
		return exitErr(ExitGenericEngineErr, err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		return exitErr(ExitGenericEngineErr, fmt.Errorf("archive: %w", err))
	}
	return nil
}
