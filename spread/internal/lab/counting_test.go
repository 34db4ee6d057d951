package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogCounterCountsAccessLinesButProbes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pod.log")
	lines := `[2026-12-01 11:00:42 +0000] [7] [INFO] Running on http://10.244.0.2:5080 (CTRL + C to quit)
10.244.0.1:4242 - - [01/Dec/2026:11:00:43 +0000] "GET /readyz 1.1" 200 11 "-" "Go-http-client/1.1"
10.200.0.2:5000 - - [01/Dec/2026:11:00:43 +0000] "GET / 1.1" 200 25 "-" "python-requests"
127.0.0.1 - - [01/Dec/2026 11:00:44] "POST /items?x=1 HTTP/1.1" 201 -
`
	os.WriteFile(path, []byte(lines+`10.0.0.1 - - [x] "GET /partial`), 0o644)
	c := &logCounter{path: path, skip: map[string]bool{"/readyz": true}}
	if n := c.update(); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(` HTTP/1.1" 404 0` + "\n")
	f.Close()
	if n := c.update(); n != 3 {
		t.Errorf("after the partial line was completed: %d, want 3", n)
	}
}
