package html

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

func TestHTMLOutputWritesReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "r.html")
	reg := ext.NewRegistry()
	start := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	o, err := output.New("html="+path, output.Params{Registry: reg, StartTime: start, ScriptPath: "scripts/baseline_h1.js"})
	if err != nil {
		t.Fatal(err)
	}
	if d := o.Description(); !strings.Contains(d, path) {
		t.Errorf("description %q", d)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		at := start.Add(time.Duration(i) * 50 * time.Millisecond)
		tags := ext.Tags{"pod": []string{"pod-a", "pod-b"}[i%2], "proto": "HTTP/1.1"}
		o.AddSamples([]ext.Sample{
			{Metric: reg.Get(ext.MetricHTTPReqs), Time: at, Tags: tags, Value: 1},
			{Metric: reg.Get(ext.MetricHTTPReqDuration), Time: at, Tags: tags, Value: 100},
			{Metric: reg.Get(ext.MetricHTTPReqFailed), Time: at, Tags: tags, Value: 0},
			{Metric: nil, Time: at}, // ignored, not a crash
		})
	}
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spread run: baseline_h1", `data-series="pod-a"`, `data-series="pod-b"`, `<td data-key="requests" data-value="100"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestHTMLOutputBadPath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := New(output.Params{Arg: filepath.Join(blocker, "r.html")})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err == nil {
		t.Error("Start under a regular file: no error")
	}
}
