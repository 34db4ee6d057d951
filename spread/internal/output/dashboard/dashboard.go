// Package dashboard is the live web dashboard (`--out web-dashboard`,
// K6_WEB_DASHBOARD=true, with k6's K6_WEB_DASHBOARD_* settings) and the
// HTML report of a run (`--out html=FILE`, K6_WEB_DASHBOARD_EXPORT).
//
// One page serves both: page.html, style.css and app.js are embedded in the
// binary and inlined into every page this package writes or serves. Live,
// the page receives the run's data over Server-Sent Events (/events: a
// snapshot on connect, then one update per period); exported, the same
// page finds the final data embedded in a <script type="application/json">
// tag and draws it once, so a report opened later looks like the live page
// frozen at the end. Nothing is loaded from the network.
//
// Charts are the project's own SVG, drawn by app.js (about 250 lines), not
// a chart library bundled from npm: the charts are lines, stacked areas and
// vertical event markers over one time axis, which plain SVG does in little
// code; a bundled library would add a build step (esbuild at go generate
// time and a committed bundle of a few hundred KiB that nobody reviews)
// for features the page does not use, and a clean clone builds offline
// with nothing but `go build`.
//
// Pages: overview (pods seen so far with their share, VUs, requests/s,
// failures, data, iterations), timings (http_req_duration p50/p90/p95/p99,
// and the p95 of the phases blocked, connecting, TLS, waiting) and pods
// (requests/s per pod stacked, each pod's share, latency per pod,
// connections opened per pod, first/last seen). Under `spread lab` and
// `spread experiments` the lab's events (scale, pod ready/added/draining/
// removed/killed) are markers on every chart: the lab appends them to the
// file named by SPREAD_LAB_EVENTS, which the dashboard reads each period.
// A protocol and mode filter (the proto and mode tags) applies to every
// request chart.
//
// Cost: BenchmarkRequest puts the dashboard at about 0.4 µs of CPU per
// HTTP request (the 13 samples of one k6/http request), against about
// 20 µs of client CPU per request for spread itself (docs/bench/k6http.md):
// about 2%. The k6http bench's "spread + web dashboard" row measures it end
// to end (on 2026-12-01, on a machine with load average ~20, the client
// CPU per request was 19.9 µs off and 20.0 µs on; throughput per round
// varied by 2x either way, so those rounds cannot resolve 3%).
package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// LabEventsEnv names the file of lab events (JSON lines: time, kind, pod,
// detail) that `spread lab` appends to while the script runs.
const LabEventsEnv = "SPREAD_LAB_EVENTS"

// Output is the dashboard: an aggregator fed by AddSamples, a ticker that
// pushes each period to the connected pages, and the export at Stop.
type Output struct {
	cfg    Config
	title  string
	script string
	stdout io.Writer
	stderr io.Writer
	url    string

	mu      sync.Mutex
	agg     *aggregator
	markers []wireMarker
	labFile string
	labOff  int64
	lost    int64 // updates dropped for a page that did not keep up

	hub    *hub
	srv    *http.Server
	ln     net.Listener
	stopCh chan struct{}
	loopWG sync.WaitGroup
}

// New builds `--out web-dashboard[=k=v&...]`.
func New(p output.Params) (output.Output, error) {
	cfg, err := parseConfig(p.Env, p.Arg)
	if err != nil {
		return nil, err
	}
	return newOutput(cfg, p), nil
}

// NewHTML builds `--out html[=FILE]`: the dashboard's report with no
// server, written at the end (report.html when no file is given).
func NewHTML(p output.Params) (output.Output, error) {
	cfg := defaultConfig()
	cfg.Port = -1
	cfg.Export = p.Arg
	if cfg.Export == "" {
		cfg.Export = "report.html"
	}
	return newOutput(cfg, p), nil
}

func newOutput(cfg Config, p output.Params) *Output {
	name := strings.TrimSuffix(filepath.Base(p.ScriptPath), filepath.Ext(p.ScriptPath))
	if name == "" || name == "." {
		name = "run"
	}
	start := p.StartTime
	if start.IsZero() {
		start = time.Now()
	}
	stdout, stderr := p.Stdout, p.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return &Output{cfg: cfg, title: "spread run: " + name, script: p.ScriptPath, stdout: stdout, stderr: stderr,
		agg: newAggregator(start, cfg.Period), labFile: p.Env[LabEventsEnv], hub: newHub(), stopCh: make(chan struct{})}
}

// Description names the output and where it is.
func (o *Output) Description() string {
	var parts []string
	if o.url != "" {
		parts = append(parts, o.url)
	}
	if o.cfg.Export != "" {
		parts = append(parts, "export "+o.cfg.Export)
	}
	name := "web-dashboard"
	if o.cfg.Port < 0 && o.url == "" {
		name = "html"
		parts = []string{o.cfg.Export}
	}
	return fmt.Sprintf("%s (%s)", name, strings.Join(parts, ", "))
}

// URL is the live page's address ("" without a server).
func (o *Output) URL() string { return o.url }

// Start checks the export file can be written (a bad path fails the run at
// its start, not after it), starts the server and prints its address.
func (o *Output) Start() error {
	if o.cfg.Export != "" {
		if dir := filepath.Dir(o.cfg.Export); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
		f, err := os.OpenFile(o.cfg.Export, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		f.Close()
	}
	if o.cfg.Port >= 0 {
		ln, err := net.Listen("tcp", net.JoinHostPort(o.cfg.Host, strconv.Itoa(o.cfg.Port)))
		if err != nil {
			return fmt.Errorf("web dashboard: %w", err)
		}
		o.ln = ln
		host := o.cfg.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		o.url = "http://" + net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		o.srv = &http.Server{Handler: o.routes(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = o.srv.Serve(ln) }()
		// k6 prints the address in its banner; the banner is also quiet
		// under -q, so say it on stderr too (port 0 is only known now).
		fmt.Fprintf(o.stderr, "web dashboard: %s\n", o.url)
		if o.cfg.Open {
			o.openBrowser()
		}
	}
	o.loopWG.Add(1)
	go o.loop()
	return nil
}

func (o *Output) openBrowser() {
	for _, name := range []string{"xdg-open", "open", "sensible-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			cmd := exec.Command(p, o.url)
			if cmd.Start() == nil {
				go func() { _ = cmd.Wait() }()
				return
			}
		}
	}
	fmt.Fprintf(o.stderr, "web dashboard: no browser opener found (xdg-open); open %s yourself\n", o.url)
}

// AddSamples feeds the aggregator; it only takes a lock and bumps counters.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.mu.Lock()
	for _, s := range samples {
		if s.Metric != nil {
			o.agg.add(s)
		}
	}
	o.mu.Unlock()
}

// loop pushes an update every period until Stop.
func (o *Output) loop() {
	defer o.loopWG.Done()
	t := time.NewTicker(o.cfg.Period)
	defer t.Stop()
	for {
		select {
		case <-o.stopCh:
			return
		case <-t.C:
			o.push(false)
		}
	}
}

// message is one SSE payload: the run's meta and the periods it carries
// (all of them in a snapshot, the changed ones in an update).
type message struct {
	Meta   wireMeta    `json:"meta"`
	Points []wirePoint `json:"points"`
}

func (o *Output) snapshot(done bool) message {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.readLabEvents()
	return message{Meta: o.metaLocked(done), Points: o.agg.all()}
}

func (o *Output) metaLocked(done bool) wireMeta {
	m := o.agg.meta(time.Now())
	m.Title, m.Script, m.Done, m.Markers, m.Lost = o.title, o.script, done, append([]wireMarker{}, o.markers...), o.lost
	return m
}

// push sends the periods changed since the last push to every page.
func (o *Output) push(done bool) {
	if o.srv == nil {
		return
	}
	o.mu.Lock()
	o.readLabEvents()
	msg := message{Meta: o.metaLocked(done), Points: o.agg.takeDirty()}
	o.mu.Unlock()
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	if n := o.hub.broadcast("update", b); n > 0 {
		o.mu.Lock()
		o.lost += int64(n)
		o.mu.Unlock()
	}
}

// Stop pushes the last update, writes the export and stops the server.
func (o *Output) Stop() error {
	close(o.stopCh)
	o.loopWG.Wait()
	o.push(true)
	var errs []error
	if o.cfg.Export != "" {
		if err := o.export(o.cfg.Export); err != nil {
			errs = append(errs, fmt.Errorf("export: %w", err))
		} else if o.srv != nil {
			fmt.Fprintf(o.stderr, "web dashboard: report written to %s\n", o.cfg.Export)
		}
	}
	if o.srv != nil {
		o.hub.close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := o.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// export writes the page with the final data embedded.
func (o *Output) export(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := o.writePage(w, true); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writePage writes the page; embedded pages carry the data, live ones
// fetch it from /events.
func (o *Output) writePage(w io.Writer, embed bool) error {
	data := []byte("null")
	if embed {
		var err error
		if data, err = json.Marshal(o.snapshot(true)); err != nil {
			return err
		}
	}
	return renderPage(w, o.title, data)
}

// readLabEvents appends the lab's new events to the markers. The lab
// writes whole lines; a line still being written stays for next time.
func (o *Output) readLabEvents() {
	if o.labFile == "" {
		return
	}
	f, err := os.Open(o.labFile)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(o.labOff, io.SeekStart); err != nil {
		return
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return
	}
	for {
		i := strings.IndexByte(string(data), '\n')
		if i < 0 {
			break
		}
		line := data[:i]
		data = data[i+1:]
		o.labOff += int64(i + 1)
		var ev struct {
			Time   time.Time `json:"time"`
			Kind   string    `json:"kind"`
			Pod    string    `json:"pod"`
			Detail string    `json:"detail"`
		}
		if json.Unmarshal(line, &ev) != nil || !markedKinds[ev.Kind] {
			continue
		}
		o.markers = append(o.markers, wireMarker{T: ev.Time.Sub(o.agg.start).Seconds(), Kind: ev.Kind, Pod: ev.Pod, Label: markerLabel(ev.Kind, ev.Pod, ev.Detail)})
	}
}

// markedKinds are the lab events drawn on the charts.
var markedKinds = map[string]bool{"scale": true, "pod-started": true, "pod-ready": true, "pod-added": true,
	"pod-removed": true, "pod-killed": true, "pod-draining": true, "pod-stopped": true, "rolling-restart": true}

func markerLabel(kind, pod, detail string) string {
	switch kind {
	case "scale":
		if detail != "" {
			return "scale " + detail
		}
		return "scale"
	case "pod-added":
		return "+" + pod
	case "pod-removed":
		return "-" + pod
	}
	if pod != "" {
		return kind + " " + pod
	}
	return kind
}
