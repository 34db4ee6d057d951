package json

import (
	"bufio"
	"bytes"
	"compress/gzip"
	stdjson "encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/metrics"
	"spread.dev/spread/output"
)

// line is k6's JSON output line, decoded strictly.
type line struct {
	Type   string             `json:"type"`
	Metric string             `json:"metric"`
	Data   stdjson.RawMessage `json:"data"`
}

type metricData struct {
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Contains   string   `json:"contains"`
	Thresholds []string `json:"thresholds"`
	Submetrics []struct {
		Name   string            `json:"name"`
		Suffix string            `json:"suffix"`
		Tags   map[string]string `json:"tags"`
	} `json:"submetrics"`
}

type pointData struct {
	Time     string            `json:"time"`
	Value    *float64          `json:"value"`
	Tags     map[string]string `json:"tags"`
	Metadata map[string]string `json:"metadata"`
}

func decode(t *testing.T, r io.Reader) ([]line, map[string]metricData, []pointData) {
	t.Helper()
	var lines []line
	metricsSeen := map[string]metricData{}
	var points []pointData
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		dec := stdjson.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
		switch l.Type {
		case "Metric":
			var m metricData
			d := stdjson.NewDecoder(bytes.NewReader(l.Data))
			d.DisallowUnknownFields()
			if err := d.Decode(&m); err != nil {
				t.Fatalf("metric data %s: %v", l.Data, err)
			}
			if _, dup := metricsSeen[l.Metric]; dup {
				t.Fatalf("metric %s declared twice", l.Metric)
			}
			if m.Name != l.Metric {
				t.Fatalf("metric line name %q != %q", m.Name, l.Metric)
			}
			metricsSeen[l.Metric] = m
		case "Point":
			if _, ok := metricsSeen[l.Metric]; !ok {
				t.Fatalf("point of %s before its Metric line", l.Metric)
			}
			var p pointData
			d := stdjson.NewDecoder(bytes.NewReader(l.Data))
			d.DisallowUnknownFields()
			if err := d.Decode(&p); err != nil {
				t.Fatalf("point data %s: %v", l.Data, err)
			}
			if _, err := time.Parse(time.RFC3339Nano, p.Time); err != nil {
				t.Fatalf("point time %q: %v", p.Time, err)
			}
			points = append(points, p)
		default:
			t.Fatalf("unknown line type %q", l.Type)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, metricsSeen, points
}

func newOutput(t *testing.T, arg string, reg *ext.Registry, stdout io.Writer) output.Output {
	t.Helper()
	return newOutputInfo(t, arg, reg, stdout, nil)
}

// newOutputInfo is newOutput with the run's metric info, handed over as
// the output manager does (output.WithMetricInfo, before Start).
func newOutputInfo(t *testing.T, arg string, reg *ext.Registry, stdout io.Writer, info output.MetricInfoSource) output.Output {
	t.Helper()
	o, err := output.New("json="+arg, output.Params{Registry: reg, Stdout: stdout})
	if err != nil {
		t.Fatal(err)
	}
	if info != nil {
		wi, ok := o.(output.WithMetricInfo)
		if !ok {
			t.Fatal("the json output does not take metric info (output.WithMetricInfo)")
		}
		wi.SetMetricInfo(info)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestJSONOutputFile(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := metrics.NewEngine(reg, metrics.Config{Thresholds: []byte(`{"http_req_duration":["p(95)<500"],"http_req_duration{pod:a}":["max<1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.json")
	o := newOutputInfo(t, path, reg, nil, e)
	if o.Description() != "json ("+path+")" {
		t.Errorf("description %q", o.Description())
	}
	ts := time.Date(2026, 11, 27, 20, 0, 0, 123456789, time.UTC)
	tags := ext.NewTagSet(map[string]string{"pod": "a", "url": "http://x/\"q\"\n", "name": "é✓"})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				o.AddSamples([]ext.Sample{
					{Metric: reg.Get("http_reqs"), Time: ts, Tags: tags, Value: 1},
					{Metric: reg.Get("http_req_duration"), Time: ts, Tags: tags, Value: 12.5, Metadata: map[string]string{"trace_id": "x"}},
					{Metric: reg.Get("vus"), Time: ts, Value: 3},
				})
			}
		}()
	}
	wg.Wait()
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	o.AddSamples([]ext.Sample{{Metric: reg.Get("vus"), Time: ts, Value: 1}}) // after Stop: ignored, no panic
	if err := o.Stop(); err != nil {
		t.Fatal("second Stop:", err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, ms, points := decode(t, f)
	if len(lines) != 3+6000 || len(points) != 6000 {
		t.Fatalf("%d lines, %d points; want 6003, 6000", len(lines), len(points))
	}
	d := ms["http_req_duration"]
	if d.Type != "trend" || d.Contains != "time" || len(d.Thresholds) != 1 || d.Thresholds[0] != "p(95)<500" {
		t.Errorf("http_req_duration metric line = %+v", d)
	}
	if len(d.Submetrics) != 2 || d.Submetrics[0].Name != "http_req_duration{pod:a}" || d.Submetrics[0].Tags["pod"] != "a" {
		t.Errorf("submetrics = %+v", d.Submetrics)
	}
	if v := ms["vus"]; v.Type != "gauge" || v.Contains != "default" || v.Thresholds == nil || len(v.Thresholds) != 0 {
		t.Errorf("vus metric line = %+v (thresholds must be [])", v)
	}
	var sawDur, sawVus bool
	for _, p := range points {
		if p.Time != "2026-11-27T20:00:00.123456789Z" {
			t.Fatalf("time = %q", p.Time)
		}
		if p.Value != nil && *p.Value == 12.5 {
			sawDur = true
			if p.Tags["url"] != "http://x/\"q\"\n" || p.Tags["name"] != "é✓" || p.Tags["pod"] != "a" || p.Metadata["trace_id"] != "x" {
				t.Fatalf("tags/metadata = %v %v", p.Tags, p.Metadata)
			}
		}
		if p.Value != nil && *p.Value == 3 {
			sawVus = true
			if p.Tags != nil {
				t.Fatalf("untagged sample tags = %v, want null", p.Tags)
			}
		}
	}
	if !sawDur || !sawVus {
		t.Fatal("missing points")
	}
}

func TestJSONOutputGzipAndStdout(t *testing.T) {
	reg := ext.NewRegistry()
	path := filepath.Join(t.TempDir(), "out.gz")
	o := newOutput(t, path, reg, nil)
	o.AddSamples([]ext.Sample{{Metric: reg.Get("iterations"), Time: time.Now(), Value: 1}})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	if _, _, points := decode(t, zr); len(points) != 1 {
		t.Fatalf("gz points = %d", len(points))
	}

	var buf bytes.Buffer
	o = newOutput(t, "-", reg, &buf)
	o.AddSamples([]ext.Sample{{Metric: reg.Get("iterations"), Time: time.Now(), Value: 1, Tags: ext.NewTagSet(map[string]string{"scenario": "default"})}})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, points := decode(t, &buf); len(points) != 1 || points[0].Tags["scenario"] != "default" {
		t.Fatalf("stdout points = %+v", points)
	}
}

func TestJSONOutputErrors(t *testing.T) {
	if _, err := output.New("json", output.Params{}); err == nil || !strings.Contains(err.Error(), "want a file name") {
		t.Fatalf("empty arg error = %v", err)
	}
	o, err := output.New("json="+filepath.Join(t.TempDir(), "no", "such", "dir.json"), output.Params{Registry: ext.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err == nil {
		t.Fatal("Start in a missing directory must fail")
	}
	if err := o.Stop(); err != nil {
		t.Fatal("Stop after a failed Start:", err)
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\t\r\n", "ünï€ode✓", "bad\xffutf8", "\u2028\u2029", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := stdjson.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("round trip of %q = %q", s, back)
		}
	}
}

func BenchmarkAppendPointLine(b *testing.B) {
	reg := ext.NewRegistry()
	s := ext.Sample{Metric: reg.Get("http_req_duration"), Time: time.Now(), Value: 12.345,
		Tags: ext.NewTagSet(map[string]string{"method": "GET", "url": "http://127.0.0.1:5080/", "name": "http://127.0.0.1:5080/", "status": "200",
			"proto": "HTTP/1.1", "expected_response": "true", "scenario": "default", "pod": "echo-1"})}
	var buf []byte
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = AppendPointLine(buf[:0], &s)
	}
}

// BenchmarkEncodingJSONPeer encodes the same line with encoding/json, the
// peer AppendPointLine is measured against.
func BenchmarkEncodingJSONPeer(b *testing.B) {
	type point struct {
		Time  time.Time         `json:"time"`
		Value float64           `json:"value"`
		Tags  map[string]string `json:"tags"`
	}
	type lineT struct {
		Type   string `json:"type"`
		Data   point  `json:"data"`
		Metric string `json:"metric"`
	}
	l := lineT{Type: "Point", Metric: "http_req_duration", Data: point{Time: time.Now(), Value: 12.345,
		Tags: map[string]string{"method": "GET", "url": "http://127.0.0.1:5080/", "name": "http://127.0.0.1:5080/", "status": "200",
			"proto": "HTTP/1.1", "expected_response": "true", "scenario": "default", "pod": "echo-1"}}}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := stdjson.Marshal(&l); err != nil {
			b.Fatal(err)
		}
	}
}
