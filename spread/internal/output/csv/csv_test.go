package csv

import (
	"bytes"
	"compress/gzip"
	stdcsv "encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

func readAll(t *testing.T, r io.Reader) [][]string {
	t.Helper()
	rows, err := stdcsv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func col(name string) int {
	for i, c := range Columns {
		if c == name {
			return i
		}
	}
	panic(name)
}

func TestCSVOutput(t *testing.T) {
	reg := ext.NewRegistry()
	path := filepath.Join(t.TempDir(), "out.csv")
	o, err := output.New("csv="+path, output.Params{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1595325560, 500_000_000)
	tags := ext.NewTagSet(map[string]string{"method": "GET", "url": "http://127.0.0.1:5080/?a=1,b=2", "name": "home", "status": "200",
		"proto": "HTTP/1.1", "scenario": "default", "expected_response": "true", "group": "::g",
		"pod": "echo-1", "mode": "per-request", "check": ""})
	for i := 0; i < 1000; i++ {
		o.AddSamples([]ext.Sample{
			{Metric: reg.Get("http_reqs"), Time: ts, Tags: tags, Value: 1},
			{Metric: reg.Get("http_req_duration"), Time: ts, Tags: tags, Value: 221.899, Metadata: map[string]string{"trace_id": "abc"}},
		})
	}
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := readAll(t, f)
	if strings.Join(rows[0], ",") != "metric_name,timestamp,metric_value,check,error,error_code,expected_response,group,method,name,proto,scenario,service,status,subproto,tls_version,url,extra_tags,metadata" {
		t.Fatalf("header = %v", rows[0])
	}
	if len(rows) != 2001 {
		t.Fatalf("%d rows, want 2001", len(rows))
	}
	r := rows[2]
	want := map[string]string{
		"metric_name": "http_req_duration", "timestamp": "1595325560", "metric_value": "221.899000",
		"method": "GET", "url": "http://127.0.0.1:5080/?a=1,b=2", "name": "home", "status": "200", "proto": "HTTP/1.1",
		"scenario": "default", "expected_response": "true", "group": "::g", "error": "", "tls_version": "",
		"extra_tags": "mode=per-request&pod=echo-1", "metadata": "trace_id=abc",
	}
	for c, v := range want {
		if got := r[col(c)]; got != v {
			t.Errorf("%s = %q, want %q", c, got, v)
		}
	}
	if rows[1][col("metric_value")] != "1.000000" || rows[1][col("metadata")] != "" {
		t.Errorf("http_reqs row = %v", rows[1])
	}
}

func TestCSVTimeFormatsAndGzip(t *testing.T) {
	ts := time.Date(2026, 11, 27, 20, 0, 1, 234_567_890, time.UTC)
	for format, want := range map[string]string{
		"unix": "1795809601", "unix_milli": "1795809601234", "unix_micro": "1795809601234567",
		"unix_nano": "1795809601234567890", "rfc3339": "2026-11-27T20:00:01Z", "rfc3339_nano": "2026-11-27T20:00:01.23456789Z",
	} {
		if got := FormatTime(ts, format); got != want {
			t.Errorf("FormatTime(%s) = %q, want %q", format, got, want)
		}
	}
	if strconv.FormatInt(ts.Unix(), 10) != "1795809601" {
		t.Fatal("test clock arithmetic")
	}

	reg := ext.NewRegistry()
	path := filepath.Join(t.TempDir(), "out.csv.gz")
	o, err := output.New("csv="+path, output.Params{Registry: reg,
		Env: map[string]string{"K6_CSV_TIME_FORMAT": "rfc3339_nano", "K6_CSV_SAVE_INTERVAL": "50ms"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	o.AddSamples([]ext.Sample{{Metric: reg.Get("vus"), Time: ts, Value: 2}})
	time.Sleep(200 * time.Millisecond) // at least one save interval passes before Stop
	o.AddSamples([]ext.Sample{{Metric: reg.Get("vus"), Time: ts, Value: 3}})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	rows := readAll(t, zr)
	if len(rows) != 3 || rows[1][1] != "2026-11-27T20:00:01.23456789Z" || rows[2][2] != "3.000000" {
		t.Fatalf("rows = %v", rows)
	}
}

func TestCSVStdoutAndErrors(t *testing.T) {
	var buf bytes.Buffer
	reg := ext.NewRegistry()
	o, err := output.New("csv=-", output.Params{Registry: reg, Stdout: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	o.AddSamples([]ext.Sample{{Metric: reg.Get("iterations"), Time: time.Unix(1, 0), Value: 1, Tags: ext.NewTagSet(map[string]string{"pod": "p"})}})
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	if rows := readAll(t, &buf); len(rows) != 2 || rows[1][0] != "iterations" || rows[1][col("extra_tags")] != "pod=p" {
		t.Fatalf("stdout rows = %v", rows)
	}
	for _, tc := range []struct {
		arg string
		env map[string]string
		msg string
	}{
		{"csv", nil, "want a file name"},
		{"csv=x.csv", map[string]string{"K6_CSV_TIME_FORMAT": "iso"}, "K6_CSV_TIME_FORMAT"},
		{"csv=x.csv", map[string]string{"K6_CSV_SAVE_INTERVAL": "soon"}, "K6_CSV_SAVE_INTERVAL"},
		{"csv=x.csv", map[string]string{"K6_CSV_SAVE_INTERVAL": "0s"}, "positive"},
	} {
		if _, err := output.New(tc.arg, output.Params{Env: tc.env}); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("output.New(%s, %v) error = %v, want %q", tc.arg, tc.env, err, tc.msg)
		}
	}
}
