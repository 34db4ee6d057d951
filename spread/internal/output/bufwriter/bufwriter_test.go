package bufwriter

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

func samples(n int) []ext.Sample {
	m := &ext.Metric{Name: "m"}
	out := make([]ext.Sample, n)
	for i := range out {
		out[i] = ext.Sample{Metric: m, Value: float64(i)}
	}
	return out
}

func encodeValue(buf *bytes.Buffer, s *ext.Sample) {
	buf.WriteString(strconv.FormatFloat(s.Value, 'f', -1, 64) + "\n")
}

func TestWriter(t *testing.T) {
	want := "h\n0\n1\n2\n"
	for _, tc := range []struct {
		name     string
		file     string // "" = stdout
		interval time.Duration
	}{
		{"stdout, on arrival", "", 0},
		{"file, on arrival", "out.txt", 0},
		{"file, every 10ms", "out.txt", 10 * time.Millisecond},
		{"gzip file", "out.txt.gz", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout bytes.Buffer
			path := "-"
			if tc.file != "" {
				path = filepath.Join(t.TempDir(), tc.file)
			}
			w := New(Config{Name: "t", Path: path, Stdout: &stdout, Interval: tc.interval,
				Header: func(b *bytes.Buffer) { b.WriteString("h\n") }, Encode: encodeValue})
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			w.Add(samples(3))
			if err := w.Stop(); err != nil {
				t.Fatal(err)
			}
			w.Add(samples(1)) // after Stop: dropped
			if err := w.Stop(); err != nil {
				t.Errorf("second Stop: %v", err)
			}
			got := stdout.String()
			if tc.file != "" {
				f, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var r io.Reader = f
				if strings.HasSuffix(path, ".gz") {
					if r, err = gzip.NewReader(f); err != nil {
						t.Fatal(err)
					}
				}
				b, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				got = string(b)
			}
			if got != want {
				t.Errorf("wrote %q, want %q", got, want)
			}
		})
	}
}

// TestWriterWritesWhileRunning: with Interval 0 samples reach the file
// before Stop, in batches of whole lines.
func TestWriterWritesWhileRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	w := New(Config{Name: "t", Path: path, Encode: encodeValue})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	w.Add(samples(2))
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == "0\n1\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file holds %q 5s after Add, want the two lines", b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterErrors(t *testing.T) {
	if err := New(Config{Name: "t", Path: filepath.Join(t.TempDir(), "no", "such", "dir"), Encode: encodeValue}).Start(); err == nil || !strings.HasPrefix(err.Error(), "t output: ") {
		t.Errorf("Start in a missing folder: %v, want a 't output:' error", err)
	}
	w := New(Config{Name: "t", Path: "-", Stdout: failWriter{}, Encode: encodeValue})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	w.Add(samples(1))
	if err := w.Stop(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Stop after a failed write: %v, want the write error", err)
	}
	if err := New(Config{Name: "t", Path: "-", Encode: encodeValue}).Stop(); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
}
