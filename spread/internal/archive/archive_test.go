package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRoundTripAndExtract(t *testing.T) {
	a := &Archive{Script: "/src/t/test.js", Options: map[string]json.RawMessage{"vus": json.RawMessage("2")},
		Env:    map[string]string{"A": "b"},
		Files:  map[string][]byte{"/src/t/test.js": []byte("export default function () {}"), "/src/t/lib/x.js": []byte("x")},
		Remote: map[string][]byte{"https://h/m.js": []byte("m")}}
	var buf bytes.Buffer
	if err := Write(&buf, a); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if !IsArchive(p) {
		t.Fatal("not recognised as an archive")
	}
	b, err := Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Options["vus"]) != "2" || b.Env["A"] != "b" || string(b.Remote["https://h/m.js"]) != "m" || len(b.Files) != 2 {
		t.Fatalf("round trip: %+v", b)
	}
	root := t.TempDir()
	script, err := b.Extract(root)
	if err != nil || script != filepath.Join(root, "src/t/test.js") {
		t.Fatalf("extract: %s %v", script, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "src/t/lib/x.js")); string(got) != "x" {
		t.Fatalf("extracted lib: %q", got)
	}
}

// TestReadRejects: bad archives are errors, never files outside the tree.
func TestReadRejects(t *testing.T) {
	mk := func(entries map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for n, c := range entries {
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(c))
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	meta := `{"type":"spread-archive","version":1,"script":"/s.js"}`
	for name, tc := range map[string]struct {
		entries map[string]string
		want    string
	}{
		"no metadata":    {map[string]string{"files/s.js": "x"}, "not a spread archive"},
		"version":        {map[string]string{"metadata.json": strings.Replace(meta, `"version":1`, `"version":9`, 1)}, "version 9"},
		"no script":      {map[string]string{"metadata.json": meta}, "script /s.js is missing"},
		"traversal":      {map[string]string{"metadata.json": meta, "files/s.js": "x", "files/../../etc/x": "y"}, ""},
		"missing remote": {map[string]string{"metadata.json": strings.Replace(meta, `}`, `,"remote":{"https://a":"remote/0"}}`, 1), "files/s.js": "x"}, "remote module https://a"},
	} {
		a, err := Read(bytes.NewReader(mk(tc.entries)))
		if tc.want == "" {
			// path.Clean keeps the entry inside files/ or drops it: never a path with "..".
			if err == nil {
				for p := range a.Files {
					if strings.Contains(p, "..") {
						t.Errorf("%s: kept %s", name, p)
					}
				}
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", name, err, tc.want)
		}
	}
	if _, err := Read(bytes.NewReader([]byte("not a tar at all, just text"))); err == nil {
		t.Error("garbage read as an archive")
	}
}
