package summary

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		ms   float64
		unit string
		want string
	}{
		{0, "", "0s"},
		{0.0000005, "", "0.5ns"},
		{0.007, "", "7µs"},
		{0.01225, "", "12.25µs"},
		{1.3, "", "1.3ms"},
		{144.5612, "", "144.56ms"},
		{110, "", "110ms"},
		{1350, "", "1.35s"},
		{62345, "", "1m2.35s"},
		{3_725_000, "", "1h2m5s"},
		{-2.5, "", "-2.5ms"},
		{1500, "s", "1.5s"},
		{1500, "ms", "1500ms"},
		{1.5, "us", "1500µs"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.ms, tt.unit); got != tt.want {
			t.Errorf("FormatDuration(%v, %q) = %q, want %q", tt.ms, tt.unit, got, tt.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		b    float64
		want string
	}{
		{0, "0 B"}, {9, "9 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {2049, "2.0 kB"},
		{81_000, "81 kB"}, {1_300_000, "1.3 MB"}, {31_400, "31 kB"}, {5e9, "5.0 GB"},
	}
	for _, tt := range tests {
		if got := FormatBytes(tt.b); got != tt.want {
			t.Errorf("FormatBytes(%v) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

func TestFormatOffsetAndBar(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0.0s", 1234 * time.Millisecond: "1.2s", 2*time.Minute + 3400*time.Millisecond: "2m03.4s",
		time.Hour + 61*time.Second: "1h01m01.0s", -time.Second: "-1.0s",
	} {
		if got := formatOffset(d); got != want {
			t.Errorf("formatOffset(%v) = %q, want %q", d, got, want)
		}
	}
	for share, want := range map[float64]string{0: "", 1: strings.Repeat("█", barWidth), 0.5: strings.Repeat("█", barWidth/2),
		1.0 / 48: "▌", 2: strings.Repeat("█", barWidth)} {
		if got := shareBar(share); got != want {
			t.Errorf("shareBar(%v) = %q, want %q", share, got, want)
		}
	}
}

var start = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// sample is a Data as the metrics engine builds it for a scale-up run.
func sample() *Data {
	return &Data{
		RootGroup: Group{Name: "", Path: "", ID: "d41d8cd98f00b204e9800998ecf8427e",
			Checks: []Check{{Name: "status is 200", Path: "::status is 200", Passes: 1190, Fails: 0},
				{Name: "served by a pod", Path: "::served by a pod", Passes: 1187, Fails: 3}},
			Groups: []Group{{Name: "login", Path: "::login",
				Checks: []Check{{Name: "token set", Path: "::login::token set", Passes: 10, Fails: 5}}}}},
		Options: Options{SummaryTrendStats: []string{"avg", "min", "med", "max", "p(90)", "p(95)"}},
		State:   State{TestRunDurationMs: 60000},
		Metrics: map[string]Metric{
			"checks":    {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 0.9933, "passes": 2387, "fails": 8}},
			"http_reqs": {Type: "counter", Contains: "default", Values: map[string]float64{"count": 1190, "rate": 19.833333}},
			"http_req_duration": {Type: "trend", Contains: "time",
				Values:         map[string]float64{"avg": 1004.5, "min": 1000.12, "med": 1003.2, "max": 1250.8, "p(90)": 1010.4, "p(95)": 1020.9},
				Thresholds:     map[string]ThresholdResult{"p(95)<1500": {OK: true, Stat: "p(95)", Value: 1020.9}},
				ThresholdOrder: []string{"p(95)<1500"}},
			"http_req_duration{expected_response:true}": {Type: "trend", Contains: "time",
				Values: map[string]float64{"avg": 1004.5, "min": 1000.12, "med": 1003.2, "max": 1250.8, "p(90)": 1010.4, "p(95)": 1020.9}},
			"http_reqs{pod:echo-2}": {Type: "counter", Contains: "default", Values: map[string]float64{"count": 12, "rate": 0.2},
				Thresholds:     map[string]ThresholdResult{"count>100": {OK: false, Stat: "count", Value: 12}},
				ThresholdOrder: []string{"count>100"}},
			"http_req_blocked": {Type: "trend", Contains: "time",
				Values: map[string]float64{"avg": 0.0123, "min": 0.0011, "med": 0.0042, "max": 3.1, "p(90)": 0.0081, "p(95)": 0.0102}},
			"http_req_failed": {Type: "rate", Contains: "default", Values: map[string]float64{"rate": 0.0025, "passes": 3, "fails": 1187},
				Thresholds:     map[string]ThresholdResult{"rate<0.01": {OK: true, Stat: "rate", Value: 0.0025}},
				ThresholdOrder: []string{"rate<0.01"}},
			"data_received":      {Type: "counter", Contains: "data", Values: map[string]float64{"count": 1_345_000, "rate": 22416}},
			"data_sent":          {Type: "counter", Contains: "data", Values: map[string]float64{"count": 81_000, "rate": 1350}},
			"iterations":         {Type: "counter", Contains: "default", Values: map[string]float64{"count": 1190, "rate": 19.833333}},
			"iteration_duration": {Type: "trend", Contains: "time", Values: map[string]float64{"avg": 1005, "min": 1000.2, "med": 1004, "max": 1251, "p(90)": 1011, "p(95)": 1021}},
			"vus":                {Type: "gauge", Contains: "default", Values: map[string]float64{"value": 20, "min": 1, "max": 20}},
			"queue_depth":        {Type: "trend", Contains: "default", Values: map[string]float64{"avg": 3.333333, "min": 0, "med": 3, "max": 12, "p(90)": 7, "p(95)": 9}},
		},
		Pods: map[string]Pod{
			"echo-1": {Requests: 1010, Share: 0.8487, FirstSeen: start.Add(1012 * time.Millisecond), LastSeen: start.Add(59900 * time.Millisecond), FirstSeenMs: 1012, LastSeenMs: 59900,
				Duration: map[string]float64{"med": 1003.1, "p(95)": 1019.7}},
			"echo-2": {Requests: 168, Share: 0.1412, FirstSeen: start.Add(31500 * time.Millisecond), LastSeen: start.Add(59800 * time.Millisecond), FirstSeenMs: 31500, LastSeenMs: 59800,
				Duration: map[string]float64{"med": 1003.5, "p(95)": 1022.2}, Failed: 2},
			"echo-3": {Requests: 12, Share: 0.0101, FirstSeen: start.Add(58200 * time.Millisecond), LastSeen: start.Add(59700 * time.Millisecond),
				FirstSeenMs: 58200, LastSeenMs: 59700},
		},
		Unattributed:   3,
		Start:          start,
		ThresholdOrder: []string{"http_req_duration", "http_req_failed", "http_reqs{pod:echo-2}"},
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestTextGolden(t *testing.T) {
	tests := []struct {
		name string
		data func() *Data
		opts TextOptions
	}{
		{"full", sample, TextOptions{NoColor: true, Indent: " "}},
		{"full-color", sample, TextOptions{Indent: " "}},
		{"no-pods-no-thresholds", func() *Data {
			d := sample()
			d.Pods, d.Unattributed, d.ThresholdOrder = nil, 0, nil
			for k, m := range d.Metrics {
				m.Thresholds, m.ThresholdOrder = nil, nil
				d.Metrics[k] = m
			}
			d.RootGroup.Checks, d.RootGroup.Groups = nil, nil
			return d
		}, TextOptions{NoColor: true}},
		{"time-unit-ms", func() *Data {
			d := sample()
			d.Options.SummaryTimeUnit = "ms"
			d.Options.SummaryTrendStats = []string{"med", "p(99.9)", "count"}
			for k, m := range d.Metrics {
				if m.Type == "trend" {
					m.Values = map[string]float64{"med": m.Values["med"], "p(99.9)": m.Values["max"], "count": 1190}
					d.Metrics[k] = m
				}
			}
			return d
		}, TextOptions{NoColor: true}},
		{"empty", func() *Data { return &Data{} }, TextOptions{NoColor: true}},
		{"one-pod", func() *Data {
			d := sample()
			d.Pods = map[string]Pod{"echo-7f9c": {Requests: 1190, Share: 1, FirstSeen: start.Add(900 * time.Millisecond),
				LastSeen: start.Add(59950 * time.Millisecond)}}
			d.Unattributed = 0
			d.Metrics = map[string]Metric{"http_reqs": d.Metrics["http_reqs"]}
			d.ThresholdOrder, d.RootGroup = nil, Group{}
			return d
		}, TextOptions{NoColor: true, Indent: " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			golden(t, tt.name, Text(tt.data(), tt.opts))
		})
	}
}

func TestTextPodsSection(t *testing.T) {
	out := Text(sample(), TextOptions{NoColor: true})
	pods := out[strings.Index(out, "█ PODS"):]
	i1, i2, i3 := strings.Index(pods, "echo-1"), strings.Index(pods, "echo-2"), strings.Index(pods, "echo-3")
	if i1 < 0 || !(i1 < i2 && i2 < i3) {
		t.Fatalf("pods not listed in first-seen order:\n%s", out)
	}
	for _, want := range []string{"█ PODS", "84.9%", "14.1%", "1.0%", "1.0s", "31.5s", "58.2s", "59.9s", "1,190 requests across 3 pods", "3 more requests carried no pod", "1003.1ms", "1022.2ms"} {
		if !strings.Contains(out, want) {
			t.Errorf("pods section lacks %q:\n%s", want, out)
		}
	}
	// A crossed threshold is marked with ✗ next to its metric.
	if !strings.Contains(out, "✗ http_reqs{pod:echo-2}") || !strings.Contains(out, "✗ 'count>100' count=12") {
		t.Errorf("crossed threshold not marked:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("NoColor output has ANSI escapes")
	}
	if !strings.Contains(Text(sample(), TextOptions{}), "\x1b[31m✗") {
		t.Error("color output lacks a red ✗")
	}
}

func TestExportShape(t *testing.T) {
	b, err := Export(sample())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RootGroup struct {
			ID     string                    `json:"id"`
			Groups map[string]map[string]any `json:"groups"`
			Checks map[string]struct {
				Name   string `json:"name"`
				Path   string `json:"path"`
				Passes int64  `json:"passes"`
				Fails  int64  `json:"fails"`
			} `json:"checks"`
		} `json:"root_group"`
		Metrics map[string]map[string]any `json:"metrics"`
		Pods    map[string]struct {
			Requests  int64     `json:"requests"`
			Share     float64   `json:"share"`
			FirstSeen time.Time `json:"first_seen"`
			LastSeen  time.Time `json:"last_seen"`
		} `json:"pods"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if c := doc.RootGroup.Checks["served by a pod"]; c.Passes != 1187 || c.Fails != 3 || c.Path != "::served by a pod" {
		t.Errorf("checks keyed by name: %+v", doc.RootGroup.Checks)
	}
	if _, ok := doc.RootGroup.Groups["login"]["checks"].(map[string]any)["token set"]; !ok {
		t.Errorf("nested group checks: %v", doc.RootGroup.Groups)
	}
	m := doc.Metrics
	if m["http_reqs"]["count"] != 1190.0 || m["http_reqs"]["rate"] != 19.833333 {
		t.Errorf("counter flattened: %v", m["http_reqs"])
	}
	if m["http_req_failed"]["value"] != 0.0025 || m["http_req_failed"]["passes"] != 3.0 || m["http_req_failed"]["fails"] != 1187.0 {
		t.Errorf("rate as passes/fails/value: %v", m["http_req_failed"])
	}
	if m["http_req_duration"]["p(95)"] != 1020.9 || m["vus"]["max"] != 20.0 {
		t.Errorf("trend/gauge flattened: %v %v", m["http_req_duration"], m["vus"])
	}
	// Legacy thresholds say whether each was crossed.
	if th := m["http_reqs{pod:echo-2}"]["thresholds"].(map[string]any); th["count>100"] != true {
		t.Errorf("crossed threshold exported as %v, want true", th)
	}
	if th := m["http_req_duration"]["thresholds"].(map[string]any); th["p(95)<1500"] != false {
		t.Errorf("passing threshold exported as %v, want false", th)
	}
	p := doc.Pods["echo-2"]
	if p.Requests != 168 || p.Share != 0.1412 || !p.FirstSeen.Equal(start.Add(31500*time.Millisecond)) || !p.LastSeen.Equal(start.Add(59800*time.Millisecond)) {
		t.Errorf("pods = %+v", doc.Pods)
	}
	if !strings.Contains(string(b), `"count>100": true`) {
		t.Errorf("expressions must not be HTML-escaped:\n%s", b)
	}
}

func TestDataJSONEmptyPodsAndNaN(t *testing.T) {
	d := &Data{Metrics: map[string]Metric{"x": {Type: "trend", Contains: "default", Values: map[string]float64{"avg": nan()}}}}
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if pods, ok := doc["pods"].(map[string]any); !ok || len(pods) != 0 {
		t.Errorf(`"pods" must be an empty object, got %v`, doc["pods"])
	}
	for _, k := range []string{"root_group", "options", "state", "metrics"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("handleSummary data lacks %q", k)
		}
	}
	if _, err := Export(d); err != nil {
		t.Fatal(err)
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestParseJSONRoundTrip(t *testing.T) {
	want := sample()
	b, err := want.JSON()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Start.Equal(want.Start) {
		t.Errorf("start = %v, want %v", got.Start, want.Start)
	}
	if r := got.Metrics["http_req_duration"].Thresholds["p(95)<1500"]; !r.OK || r.Stat != "p(95)" || r.Value != 1020.9 {
		t.Errorf("threshold = %+v", r)
	}
	// The text from read-back data shows the same thresholds, checks and pods.
	text := Text(got, TextOptions{NoColor: true})
	for _, s := range []string{"✗ 'count>100' count=12", "✓ 'rate<0.01' rate=0.25%", "↳  99% — ✓ 1187 / ✗ 3", "echo-2       168  14.1%", "31.5s"} {
		if !strings.Contains(text, s) {
			t.Errorf("text from parsed data lacks %q:\n%s", s, text)
		}
	}
	if _, err := ParseJSON([]byte("{")); err == nil {
		t.Error("bad JSON must fail")
	}
}

// After a rolling restart (2 pods replaced by 2 new ones) the fair share is
// 1/2, not 1/4: count the pods serving at the same time.
func TestPodsFairShareCountsPodsServingAtOnce(t *testing.T) {
	start := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	span := func(a, b float64) Pod {
		return Pod{Requests: 100, Share: 0.25, FirstSeen: start.Add(time.Duration(a * float64(time.Second))), LastSeen: start.Add(time.Duration(b * float64(time.Second)))}
	}
	d := sample()
	d.Pods = map[string]Pod{"old-1": span(0.1, 5.4), "old-2": span(0.1, 5.0), "new-1": span(5.5, 16), "new-2": span(5.6, 16)}
	d.Unattributed = 0
	out := Text(d, TextOptions{NoColor: true})
	if !strings.Contains(out, "400 requests across 4 pods, at most 2 serving at once (fair share 50.0% each)") {
		t.Errorf("pods intro:\n%s", out[strings.Index(out, "█ PODS"):])
	}
	if got := maxServingAtOnce([]Pod{span(0, 10), span(2, 3), span(2.5, 12)}); got != 3 {
		t.Errorf("maxServingAtOnce = %d, want 3", got)
	}
}
