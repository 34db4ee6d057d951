// Package csv is the `--out csv=FILE` output in k6's CSV format: one row per
// sample with k6's system-tag columns, other tags (including spread's `pod`)
// in extra_tags as k=v&k=v. FILE "-" is stdout; a ".gz" suffix gzips.
//
// Settings as k6's (from the environment or -e): K6_CSV_TIME_FORMAT (unix,
// unix_milli, unix_micro, unix_nano, rfc3339, rfc3339_nano; default unix)
// and K6_CSV_SAVE_INTERVAL (how often rows are written; default 1s).
package csv

import (
	"bytes"
	"compress/gzip"
	stdcsv "encoding/csv"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

func init() { output.Register("csv", New) }

// Columns is k6's CSV header: metric, time, value, the system tags, then
// every other tag and the sample metadata.
var Columns = []string{"metric_name", "timestamp", "metric_value",
	"check", "error", "error_code", "expected_response", "group", "method", "name", "proto",
	"scenario", "service", "status", "subproto", "tls_version", "url", "extra_tags", "metadata"}

// systemTags are the tag columns, in header order.
var systemTags = Columns[3 : len(Columns)-2]

var isSystemTag = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range systemTags {
		m[t] = true
	}
	return m
}()

// Output writes samples as CSV rows from a goroutine of its own.
type Output struct {
	path       string
	stdout     io.Writer
	timeFormat string
	interval   time.Duration

	w    io.Writer
	file *os.File
	gz   *gzip.Writer
	buf  bytes.Buffer
	cw   *stdcsv.Writer
	row  []string
	werr error

	mu      sync.Mutex
	pending []ext.Sample
	stop    chan struct{}
	done    chan struct{}
	started bool
	stopped bool
}

// New builds the output from `--out csv=FILE`.
func New(p output.Params) (output.Output, error) {
	if strings.TrimSpace(p.Arg) == "" {
		return nil, fmt.Errorf("want a file name: --out csv=FILE (or csv=- for stdout)")
	}
	o := &Output{path: p.Arg, stdout: p.Stdout, timeFormat: "unix", interval: time.Second,
		stop: make(chan struct{}), done: make(chan struct{}), row: make([]string, len(Columns))}
	if o.stdout == nil {
		o.stdout = os.Stdout
	}
	if tf := p.Env["K6_CSV_TIME_FORMAT"]; tf != "" {
		switch tf {
		case "unix", "unix_milli", "unix_micro", "unix_nano", "rfc3339", "rfc3339_nano":
			o.timeFormat = tf
		default:
			return nil, fmt.Errorf("K6_CSV_TIME_FORMAT %q: want unix, unix_milli, unix_micro, unix_nano, rfc3339 or rfc3339_nano", tf)
		}
	}
	if si := p.Env["K6_CSV_SAVE_INTERVAL"]; si != "" {
		d, err := time.ParseDuration(si)
		if err != nil {
			ms, merr := strconv.ParseFloat(si, 64)
			if merr != nil {
				return nil, fmt.Errorf("K6_CSV_SAVE_INTERVAL %q: not a duration", si)
			}
			d = time.Duration(ms * float64(time.Millisecond))
		}
		if d <= 0 {
			return nil, fmt.Errorf("K6_CSV_SAVE_INTERVAL %q: must be positive", si)
		}
		o.interval = d
	}
	o.cw = stdcsv.NewWriter(&o.buf)
	return o, nil
}

// Description names the output and its file.
func (o *Output) Description() string { return "csv (" + o.path + ")" }

// Start opens the file, writes the header and starts the writer goroutine.
func (o *Output) Start() error {
	if o.path == "-" {
		o.w = o.stdout
	} else {
		f, err := os.Create(o.path)
		if err != nil {
			return fmt.Errorf("csv output: %w", err)
		}
		o.file, o.w = f, f
	}
	if strings.HasSuffix(o.path, ".gz") {
		o.gz = gzip.NewWriter(o.w)
	}
	_ = o.cw.Write(Columns)
	o.write()
	o.mu.Lock()
	o.started = true
	o.mu.Unlock()
	go o.loop()
	return nil
}

// AddSamples queues samples for the writer; it never blocks on I/O.
func (o *Output) AddSamples(samples []ext.Sample) {
	o.mu.Lock()
	if !o.stopped {
		o.pending = append(o.pending, samples...)
	}
	o.mu.Unlock()
}

// Stop writes what is queued, flushes and closes the file.
func (o *Output) Stop() error {
	o.mu.Lock()
	if o.stopped {
		o.mu.Unlock()
		return nil
	}
	o.stopped = true
	started := o.started
	o.mu.Unlock()
	if !started {
		return nil
	}
	close(o.stop)
	<-o.done
	err := o.werr
	if o.gz != nil {
		if cerr := o.gz.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if o.file != nil {
		if cerr := o.file.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("csv output %s: %w", o.path, err)
	}
	return nil
}

// loop is the writer goroutine: every save interval, and at Stop, it
// writes the queued rows.
func (o *Output) loop() {
	defer close(o.done)
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			o.drain()
		case <-o.stop:
			o.drain()
			return
		}
	}
}

func (o *Output) drain() {
	o.mu.Lock()
	batch := o.pending
	o.pending = nil
	o.mu.Unlock()
	for i := range batch {
		o.encode(&batch[i])
		if o.buf.Len() >= 256<<10 {
			o.write()
		}
	}
	o.write()
	if o.gz != nil && o.werr == nil {
		o.werr = o.gz.Flush()
	}
}

func (o *Output) write() {
	o.cw.Flush()
	if o.buf.Len() == 0 {
		return
	}
	if o.werr == nil {
		var w io.Writer = o.w
		if o.gz != nil {
			w = o.gz
		}
		_, o.werr = w.Write(o.buf.Bytes())
	}
	o.buf.Reset()
}

func (o *Output) encode(s *ext.Sample) {
	if s.Metric == nil {
		return
	}
	r := o.row
	r[0] = s.Metric.Name
	r[1] = FormatTime(s.Time, o.timeFormat)
	r[2] = strconv.FormatFloat(s.Value, 'f', 6, 64)
	for i, t := range systemTags {
		r[3+i] = s.Tags[t]
	}
	r[len(r)-2] = joinPairs(s.Tags, isSystemTag)
	r[len(r)-1] = joinPairs(s.Metadata, nil)
	_ = o.cw.Write(r)
}

// FormatTime renders a sample time in one of k6's CSV time formats.
func FormatTime(t time.Time, format string) string {
	switch format {
	case "unix_milli":
		return strconv.FormatInt(t.UnixMilli(), 10)
	case "unix_micro":
		return strconv.FormatInt(t.UnixMicro(), 10)
	case "unix_nano":
		return strconv.FormatInt(t.UnixNano(), 10)
	case "rfc3339":
		return t.Format(time.RFC3339)
	case "rfc3339_nano":
		return t.Format(time.RFC3339Nano)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// joinPairs renders the pairs not in skip as k=v&k=v, sorted by key.
func joinPairs(m map[string]string, skip map[string]bool) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !skip[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
	}
	return b.String()
}
