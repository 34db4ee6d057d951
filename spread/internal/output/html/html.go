// Package html is the `--out html=FILE` output: at the end of any run it
// writes a self-contained HTML report (requests/s per pod, latency and
// errors over time, and a per-pod table) built by spread/internal/report.
package html

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
	"spread.dev/spread/internal/report"
)

func init() { output.Register("html", New) }

// Output aggregates samples in memory bounded by the run's length and pod
// count, and renders the page once, at Stop.
type Output struct {
	path   string
	script string
	start  time.Time

	mu sync.Mutex
	tl *report.Timeline
}

// New builds the output; the argument is the file to write (report.html
// when empty).
func New(p output.Params) (output.Output, error) {
	path := p.Arg
	if path == "" {
		path = "report.html"
	}
	return &Output{path: path, script: p.ScriptPath, start: p.StartTime, tl: report.NewTimeline(time.Second)}, nil
}

// Description names the output and its file.
func (o *Output) Description() string { return fmt.Sprintf("html (%s)", o.path) }

// Start checks early that the file can be written, so a bad path fails the
// run at its start rather than after it.
func (o *Output) Start() error {
	if dir := filepath.Dir(o.path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("html output: %w", err)
		}
	}
	f, err := os.OpenFile(o.path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("html output: %w", err)
	}
	return f.Close()
}

// AddSamples feeds the timeline; it only takes a lock and bumps counters.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range samples {
		if s.Metric == nil {
			continue
		}
		o.tl.Add(s.Metric.Name, s.Time, s.Value, s.Tags)
	}
}

// Stop renders the report to the file.
func (o *Output) Stop() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	name := strings.TrimSuffix(filepath.Base(o.script), filepath.Ext(o.script))
	if name == "" || name == "." {
		name = "run"
	}
	r := report.Report{
		Title:     "spread run: " + name,
		Command:   "spread run " + o.script,
		Generated: time.Now(),
		Runs:      []report.Run{{Summary: report.Summarize(name, o.tl), Series: o.tl.Series(o.start)}},
	}
	r.Runs[0].Summary.Script = o.script
	if err := report.WriteFile(o.path, r); err != nil {
		return fmt.Errorf("html output: %w", err)
	}
	return nil
}
