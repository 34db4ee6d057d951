package bufwriter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"spread.dev/echo-server/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// smallDisk mounts a tmpfs of size bytes: a real file system that fills up.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: mounting a small tmpfs to fill needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestFullDiskKeepsWholeLines fills a 64 KiB file system: Stop reports
// ENOSPC and the file ends with a complete line.
func TestFullDiskKeepsWholeLines(t *testing.T) {
	dir := smallDisk(t, "64k")
	path := filepath.Join(dir, "out.txt")
	w := New(Config{Name: "t", Path: path, Encode: encodeValue})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		w.Add(samples(2000)) // ~1.7 MB in all, far over the disk
	}
	err := w.Stop()
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "complete lines") {
		t.Fatalf("Stop: %v, want no space left on device", err)
	}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("%d bytes, last %q: not ending with a whole line", len(data), data[max(0, len(data)-10):])
	}
}

const faultScript = `
import { Counter } from 'k6/metrics';
const c = new Counter('filler');
export const options = { iterations: 20000, vus: 2 };
export default function () { c.add(1, { pad: 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }); }
`

// TestRunExits103OnFullDiskOrUnwritableFile: `spread run` with a json or
// csv file on a full disk, or a file that cannot be created, exits 103
// with a message naming the file and the cause; a full disk leaves
// complete lines.
func TestRunExits103OnFullDiskOrUnwritableFile(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs spread")
	}
	spread := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	script := filepath.Join(t.TempDir(), "fill.js")
	if err := os.WriteFile(script, []byte(faultScript), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(notDir, nil, 0o644)
	for _, c := range []struct {
		name, out, file, want string
	}{
		{"json full disk", "json", "out.json", "no space left on device"},
		{"csv full disk", "csv", "out.csv", "no space left on device"},
		{"json unwritable", "json", filepath.Join(notDir, "out.json"), "not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !filepath.IsAbs(c.file) {
				c.file = filepath.Join(smallDisk(t, "128k"), c.file)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, spread, "run", "-q", "--no-summary", "--out", c.out+"="+c.file, script)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 103 {
				t.Fatalf("exit %v, want 103\n%s", err, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, c.file) {
				t.Errorf("message lacks %q or the file name:\n%s", c.want, msg)
			}
			if strings.Contains(c.name, "unwritable") {
				return
			}
			data, err := os.ReadFile(c.file)
			if err != nil || len(data) < 1000 {
				t.Fatalf("file: %v, %d bytes", err, len(data))
			}
			if data[len(data)-1] != '\n' {
				t.Fatalf("the file ends mid-line: %q", data[len(data)-40:])
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			lines := 0
			for sc.Scan() {
				lines++
				if c.out == "json" && !json.Valid(sc.Bytes()) {
					t.Fatalf("line %d is not whole JSON: %q", lines, sc.Text())
				}
				if c.out == "csv" && lines > 1 && strings.Count(sc.Text(), ",") < 3 {
					t.Fatalf("line %d is not a whole CSV row: %q", lines, sc.Text())
				}
			}
		})
	}
}
