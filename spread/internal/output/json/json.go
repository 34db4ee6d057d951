// Package json is the `--out json=FILE` output: k6's NDJSON format, one
// {"type":"Metric"} line the first time a metric is seen, then one
// {"type":"Point"} line per sample. FILE "-" is stdout; a ".gz" suffix
// gzips the file.
package json

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/output/bufwriter"
	"spread.dev/spread/output"
)

// Output writes samples as k6 NDJSON from a goroutine of its own, so
// AddSamples never waits for the disk.
type Output struct {
	path string
	info output.MetricInfoSource // thresholds and sub-metrics; nil: none known
	seen map[string]bool         // metrics whose Metric line is written; writer goroutine only
	w    *bufwriter.Writer
}

// SetMetricInfo gives the output the run's thresholds and sub-metrics,
// which k6's "Metric" lines list (output.WithMetricInfo).
func (o *Output) SetMetricInfo(src output.MetricInfoSource) { o.info = src }

// New builds the output from `--out json=FILE`.
func New(p output.Params) (output.Output, error) {
	if strings.TrimSpace(p.Arg) == "" {
		return nil, fmt.Errorf("want a file name: --out json=FILE (or json=- for stdout)")
	}
	o := &Output{path: p.Arg, seen: map[string]bool{}}
	o.w = bufwriter.New(bufwriter.Config{Name: "json", Path: p.Arg, Stdout: p.Stdout, Encode: o.encode})
	return o, nil
}

// Description names the output and its file.
func (o *Output) Description() string { return "json (" + o.path + ")" }

// Start opens the file and starts the writer goroutine.
func (o *Output) Start() error { return o.w.Start() }

// AddSamples queues samples for the writer; it never blocks on I/O.
func (o *Output) AddSamples(samples []ext.Sample) { o.w.Add(samples) }

// Stop writes what is queued, flushes and closes the file.
func (o *Output) Stop() error { return o.w.Stop() }

// encode appends the sample's lines (its Metric line the first time).
func (o *Output) encode(buf *bytes.Buffer, s *ext.Sample) {
	if s.Metric == nil {
		return
	}
	b := buf.AvailableBuffer() // appending in place avoids a copy
	name := s.Metric.Name
	if !o.seen[name] {
		o.seen[name] = true
		var info output.MetricInfo
		if o.info != nil {
			info = o.info.MetricInfo(name)
		}
		b = AppendMetricLine(b, s.Metric, info)
	}
	buf.Write(AppendPointLine(b, s))
}

// AppendMetricLine appends k6's metric declaration line.
func AppendMetricLine(b []byte, m *ext.Metric, info output.MetricInfo) []byte {
	b = append(b, `{"type":"Metric","data":{"name":`...)
	b = appendString(b, m.Name)
	b = append(b, `,"type":`...)
	b = appendString(b, m.Type.String())
	b = append(b, `,"contains":`...)
	b = appendString(b, m.Contains.String())
	b = append(b, `,"thresholds":[`...)
	for i, th := range info.Thresholds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, th)
	}
	b = append(b, `],"submetrics":`...)
	if len(info.Submetrics) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, sm := range info.Submetrics {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendString(b, sm.Name)
			b = append(b, `,"suffix":`...)
			b = appendString(b, sm.Suffix)
			b = append(b, `,"tags":`...)
			b = appendTags(b, sm.Tags)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `},"metric":`...)
	b = appendString(b, m.Name)
	return append(b, "}\n"...)
}

// AppendPointLine appends k6's sample line.
func AppendPointLine(b []byte, s *ext.Sample) []byte {
	b = append(b, `{"type":"Point","data":{"time":"`...)
	b = s.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","value":`...)
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendFloat(b, s.Value, 'f', -1, 64)
	}
	b = append(b, `,"tags":`...)
	b = appendTagSet(b, s.Tags)
	if len(s.Metadata) > 0 {
		b = append(b, `,"metadata":`...)
		b = appendTags(b, s.Metadata)
	}
	b = append(b, `},"metric":`...)
	b = appendString(b, s.Metric.Name)
	return append(b, "}\n"...)
}

// appendTagSet appends a tag set as a JSON object (already in key order,
// as encoding/json sorts), or null when empty.
func appendTagSet(b []byte, tags ext.TagSet) []byte {
	if tags.Len() == 0 {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	for k, v := range tags.All() {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, v)
	}
	return append(b, '}')
}

// appendTags appends a string map as a JSON object with sorted keys, or null.
func appendTags(b []byte, tags map[string]string) []byte {
	if len(tags) == 0 {
		return append(b, "null"...)
	}
	// Sorted like encoding/json; a stack array avoids an allocation for the
	// usual dozen tags.
	var arr [24]string
	keys := arr[:0]
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, tags[k])
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
// Runs of bytes that need no escaping are copied at once.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but JavaScript line terminators; escape like encoding/json.
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
