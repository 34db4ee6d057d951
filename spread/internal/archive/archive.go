// Package archive is spread's test archive (`spread archive`, and
// `spread run archive.tar`), the counterpart of `k6 archive`: one tar
// holding the script, every local module it imports, every file its init
// code open()s, every remote module, and the resolved options, so the
// test runs elsewhere with no source tree and no network.
//
// Layout (a plain tar, readable with tar(1)):
//
//	metadata.json         {"type":"spread-archive","version":1,"script":...,"options":{...},"env":{...},"remote":{URL: entry}}
//	files/<absolute path> each local file, under its path on the machine that wrote the archive
//	remote/<n>            each remote module; metadata's "remote" maps URLs to these
package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Type is metadata.json's "type".
const Type = "spread-archive"

// Archive is a test in one file.
type Archive struct {
	// Script is the script's absolute path where the archive was written.
	Script string
	// Options are the resolved options (script, K6_* environment and
	// flags at archive time), as JSON per option key.
	Options map[string]json.RawMessage
	// Env is the -e environment given at archive time.
	Env map[string]string
	// Files are the local files by absolute path.
	Files map[string][]byte
	// Remote are the remote modules by URL.
	Remote map[string][]byte
}

type metadata struct {
	Type    string                     `json:"type"`
	Version int                        `json:"version"`
	Script  string                     `json:"script"`
	Options map[string]json.RawMessage `json:"options"`
	Env     map[string]string          `json:"env,omitempty"`
	Remote  map[string]string          `json:"remote,omitempty"`
}

// Write writes a as a tar to w.
func Write(w io.Writer, a *Archive) error {
	tw := tar.NewWriter(w)
	now := time.Now().Truncate(time.Second)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	meta := metadata{Type: Type, Version: 1, Script: filepath.ToSlash(a.Script), Options: a.Options, Env: a.Env, Remote: map[string]string{}}
	urls := sortedKeys(a.Remote)
	for i, u := range urls {
		meta.Remote[u] = fmt.Sprintf("remote/%d", i)
	}
	mb, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if err := put("metadata.json", mb); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	for _, p := range sortedKeys(a.Files) {
		if err := put("files/"+strings.TrimPrefix(filepath.ToSlash(p), "/"), a.Files[p]); err != nil {
			return fmt.Errorf("archive %s: %w", p, err)
		}
	}
	for _, u := range urls {
		if err := put(meta.Remote[u], a.Remote[u]); err != nil {
			return fmt.Errorf("archive %s: %w", u, err)
		}
	}
	return tw.Close()
}

// maxEntry bounds one file read from an archive (a damaged or hostile
// header must not make us allocate without limit).
const maxEntry = 1 << 30

// Read parses an archive.
func Read(r io.Reader) (*Archive, error) {
	tr := tar.NewReader(r)
	a := &Archive{Files: map[string][]byte{}, Remote: map[string][]byte{}}
	entries := map[string][]byte{}
	var meta *metadata
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxEntry {
			return nil, fmt.Errorf("archive: %s is %d bytes, more than the %d an entry may hold", h.Name, h.Size, maxEntry)
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxEntry))
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", h.Name, err)
		}
		name := path.Clean(h.Name)
		switch {
		case name == "metadata.json":
			meta = &metadata{}
			if err := json.Unmarshal(b, meta); err != nil {
				return nil, fmt.Errorf("archive metadata.json: %w", err)
			}
		case strings.HasPrefix(name, "files/"):
			p := "/" + strings.TrimPrefix(name, "files/")
			if strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
				return nil, fmt.Errorf("archive: %s leaves the archive's tree", h.Name)
			}
			a.Files[p] = b
		default:
			entries[name] = b
		}
	}
	if meta == nil || meta.Type != Type {
		return nil, errors.New("archive: no spread metadata.json (not a spread archive)")
	}
	if meta.Version != 1 {
		return nil, fmt.Errorf("archive: version %d; this spread reads version 1", meta.Version)
	}
	a.Script, a.Options, a.Env = meta.Script, meta.Options, meta.Env
	for u, e := range meta.Remote {
		b, ok := entries[e]
		if !ok {
			return nil, fmt.Errorf("archive: remote module %s (%s) is missing", u, e)
		}
		a.Remote[u] = b
	}
	if _, ok := a.Files[a.Script]; !ok {
		return nil, fmt.Errorf("archive: the script %s is missing", a.Script)
	}
	return a, nil
}

// IsArchive says whether the file at p is a tar (by its header's magic,
// not its name).
func IsArchive(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [512]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	return bytes.HasPrefix(hdr[257:], []byte("ustar"))
}

// Extract writes the archive's files under root, each at root+its
// original path, and returns the script's path there.
func (a *Archive) Extract(root string) (string, error) {
	for p, b := range a.Files {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", fmt.Errorf("archive: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", fmt.Errorf("archive: %w", err)
		}
	}
	return filepath.Join(root, filepath.FromSlash(a.Script)), nil
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
