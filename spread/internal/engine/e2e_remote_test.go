package engine_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// npmFile returns one file of an npm package, fetched with npm at test
// time (the npm registry is reachable here); the test skips, saying why,
// when npm or the registry is not available.
func npmFile(t *testing.T, pkg, file string) []byte {
	t.Helper()
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skipf("npm is not installed: cannot fetch the real %s", pkg)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "pack", "--silent", pkg)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("npm pack %s failed (no registry?): %v", pkg, err)
	}
	tgz := filepath.Join(dir, strings.TrimSpace(string(out)))
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "package/"+file {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("%s has no %s", pkg, file)
	return nil
}

// remoteServer serves modules over HTTPS on loopback and writes its CA
// certificate to a PEM file for SPREAD_CA_CERT.
func remoteServer(t *testing.T, files map[string]string) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved.js" {
			http.Redirect(w, r, "/lib/main.js", http.StatusFound)
			return
		}
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/javascript")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}

// spreadEnv runs the binary in dir with extra environment.
func spreadEnv(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("spread %v: timed out\nstderr:\n%s", args, errb.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("spread %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// TestE2ERemoteModules: import from https:// fetches the module (real
// papaparse and chai from npm, served by a local HTTPS server), with its
// own relative and root-relative imports and a redirect; a second run
// with the server gone works from the cache; 404, an untrusted
// certificate and no server are clear errors naming the importing line.
func TestE2ERemoteModules(t *testing.T) {
	t.Parallel()
	papa := npmFile(t, "papaparse@5.4.1", "papaparse.min.js")
	chai := npmFile(t, "chai@4.3.10", "chai.js")
	srv, ca := remoteServer(t, map[string]string{
		"/lib/main.js":              "import { twice } from './sub/math.js';\nimport Papa from '/papaparse/5.4.1/index.js';\nexport const rows = (csv) => Papa.parse(csv, { header: true }).data;\nexport { twice };\n",
		"/lib/sub/math.js":          "import { check } from 'k6';\nexport function twice(x) { check(x, { 'remote uses k6': () => true }); return x * 2; }\n",
		"/papaparse/5.4.1/index.js": string(papa),
		"/chai/4.3.10/chai.js":      string(chai),
	})
	dir := t.TempDir()
	script := `import { check } from 'k6';
import { rows, twice } from '` + srv.URL + `/moved.js';
import chai from '` + srv.URL + `/chai/4.3.10/chai.js';
export const options = { iterations: 1, thresholds: { checks: ['rate==1'] } };
export default function () {
  const r = rows('a,b\n1,2\n3,4');
  chai.expect(r).to.have.length(2);
  check(null, {
    'papaparse': () => r[1].b === '4',
    'relative import': () => twice(21) === 42,
    'chai': () => { try { chai.expect(1).to.equal(2); return false; } catch (e) { return /expected 1 to equal 2/.test(e.message); } },
  });
}
`
	if err := os.WriteFile(filepath.Join(dir, "remote.js"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(t.TempDir(), "cache")
	env := []string{"SPREAD_CA_CERT=" + ca, "SPREAD_CACHE_DIR=" + cache}

	r := spreadEnv(t, dir, env, "run", "--no-color", "remote.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ papaparse") || !strings.Contains(r.stdout, "✓ chai") {
		t.Fatalf("first run:\n%s\n%s", r.stdout, r.stderr)
	}

	// 404 and TLS: clear errors with the importing file:line.
	bad := "import x from '" + srv.URL + "/missing.js';\nexport default function () {}\n"
	if err := os.WriteFile(filepath.Join(dir, "missing.js"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r = spreadEnv(t, dir, env, "run", "missing.js")
	expectCode(t, r, 107)
	for _, w := range []string{"missing.js:1:15", "404"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("404 run: stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	r = spreadEnv(t, dir, []string{"SPREAD_CA_CERT=", "SPREAD_CACHE_DIR=" + cache}, "run", "remote.js")
	expectCode(t, r, 107)
	for _, w := range []string{"remote.js:2:", "TLS", "SPREAD_CA_CERT"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("TLS run: stderr lacks %q:\n%s", w, r.stderr)
		}
	}

	// The server gone: the cache serves the same URLs.
	srv.Close()
	r = spreadEnv(t, dir, env, "run", "--no-color", "remote.js")
	expectCode(t, r, 0)
	if !strings.Contains(r.stderr, "using the cached copy") || !strings.Contains(r.stdout, "✓ papaparse") {
		t.Fatalf("offline run:\n%s\n%s", r.stdout, r.stderr)
	}
	// ... but not for a URL never fetched.
	r = spreadEnv(t, dir, env, "run", "missing.js")
	expectCode(t, r, 107)
	if !strings.Contains(r.stderr, "cannot reach the server") || !strings.Contains(r.stderr, "no cached copy") {
		t.Errorf("offline, uncached: %s", r.stderr)
	}
}

// TestE2EArchive: `spread archive` packs the script, its local and
// remote modules, the files it open()s and the options resolved with
// the flags given then; `spread run archive.tar` runs it with the source
// tree deleted, the server gone and an empty module cache.
func TestE2EArchive(t *testing.T) {
	t.Parallel()
	srv, ca := remoteServer(t, map[string]string{
		"/lib/main.js":     "import { twice } from './sub/math.js';\nexport { twice };\n",
		"/lib/sub/math.js": "export function twice(x) { return x * 2; }\n",
	})
	src := t.TempDir()
	files := map[string]string{
		"test.js": `import { check } from 'k6';
import exec from 'k6/execution';
import { twice } from '` + srv.URL + `/lib/main.js';
import { word } from './lib/local.js';
const data = JSON.parse(open('./data/users.json'));
const abs = open(__ENV.ABS_FILE);
await Promise.resolve();
export const options = { thresholds: { checks: ['rate==1'] } };
export default function () {
  check(null, {
    'remote': () => twice(2) === 4,
    'local': () => word === 'local',
    'open relative': () => data.users.length === 2,
    'open absolute': () => abs === 'absolute',
    'env from archive time': () => __ENV.ABS_FILE !== undefined,
    'options from archive time': () => exec.test.options.iterations === 3,
  });
}
`,
		"lib/local.js":    "export const word = 'local';\n",
		"data/users.json": `{"users": ["a", "b"]}`,
	}
	for p, c := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	absFile := filepath.Join(t.TempDir(), "abs.txt")
	if err := os.WriteFile(absFile, []byte("absolute"), 0o644); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "test.tar")
	env := []string{"SPREAD_CA_CERT=" + ca, "SPREAD_CACHE_DIR=" + filepath.Join(t.TempDir(), "c1")}
	r := spreadEnv(t, src, env, "archive", "--iterations", "3", "-e", "ABS_FILE="+absFile, "-O", tarPath, "test.js")
	expectCode(t, r, 0)

	srv.Close()
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(absFile); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	env = []string{"SPREAD_CA_CERT=", "SPREAD_CACHE_DIR=" + filepath.Join(t.TempDir(), "c2")}
	r = spreadEnv(t, elsewhere, env, "run", "--no-color", tarPath)
	expectCode(t, r, 0)
	if !strings.Contains(r.stdout, "✓ 18 ✗ 0") && !strings.Contains(r.stdout, "18 out of 18") {
		t.Fatalf("archive run:\n%s\n%s", r.stdout, r.stderr)
	}
	// a damaged archive is a clear error, not a panic.
	bad := filepath.Join(elsewhere, "bad.tar")
	b, _ := os.ReadFile(tarPath)
	if err := os.WriteFile(bad, b[:1024], 0o644); err != nil {
		t.Fatal(err)
	}
	r = spreadEnv(t, elsewhere, env, "run", bad)
	expectCode(t, r, 104)
	if !strings.Contains(r.stderr, "bad.tar") {
		t.Errorf("damaged archive: %s", r.stderr)
	}
}
