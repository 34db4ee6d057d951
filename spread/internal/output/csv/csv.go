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
	stdcsv "encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/output/bufwriter"
	"spread.dev/spread/output"
)

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
	timeFormat string
	interval   time.Duration

	cw  *stdcsv.Writer // over the bufwriter's buffer; writer goroutine only
	row []string
	w   *bufwriter.Writer
}

// New builds the output from `--out csv=FILE`.
func New(p output.Params) (output.Output, error) {
	if strings.TrimSpace(p.Arg) == "" {
		return nil, fmt.Errorf("want a file name: --out csv=FILE (or csv=- for stdout)")
	}
	o := &Output{path: p.Arg, timeFormat: "unix", interval: time.Second, row: make([]string, len(Columns))}
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
	o.w = bufwriter.New(bufwriter.Config{Name: "csv", Path: p.Arg, Stdout: p.Stdout, Interval: o.interval,
		Header: o.header, Encode: o.encode, Flush: func() { o.cw.Flush() }})
	return o, nil
}

// Description names the output and its file.
func (o *Output) Description() string { return "csv (" + o.path + ")" }

// Start opens the file, writes the header and starts the writer goroutine.
func (o *Output) Start() error { return o.w.Start() }

// AddSamples queues samples for the writer; it never blocks on I/O.
func (o *Output) AddSamples(samples []ext.Sample) { o.w.Add(samples) }

// Stop writes what is queued, flushes and closes the file.
func (o *Output) Stop() error { return o.w.Stop() }

// header starts the CSV writer over the output buffer with k6's header row.
func (o *Output) header(buf *bytes.Buffer) {
	o.cw = stdcsv.NewWriter(buf)
	_ = o.cw.Write(Columns)
}

// encode appends the sample's row.
func (o *Output) encode(_ *bytes.Buffer, s *ext.Sample) {
	if s.Metric == nil {
		return
	}
	r := o.row
	r[0] = s.Metric.Name
	r[1] = FormatTime(s.Time, o.timeFormat)
	r[2] = strconv.FormatFloat(s.Value, 'f', 6, 64)
	for i, t := range systemTags {
		r[3+i] = s.Tags.Get(t)
	}
	r[len(r)-2] = joinTags(s.Tags, isSystemTag)
	r[len(r)-1] = joinPairs(s.Metadata)
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

// joinTags renders the tags not in skip as k=v&k=v, in key order.
func joinTags(t ext.TagSet, skip map[string]bool) string {
	var b strings.Builder
	for k, v := range t.All() {
		if skip[k] {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v)
	}
	return b.String()
}

// joinPairs renders metadata as k=v&k=v, sorted by key.
func joinPairs(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return joinTags(ext.NewTagSet(m), nil)
}
