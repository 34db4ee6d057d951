package metrics

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/summary"
)

var t0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

func TestSubmetricMatching(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{
		"http_req_duration{pod:a}": ["max<100"],
		"http_req_duration{status:200,proto:HTTP/2.0}": ["count==2"],
		"http_reqs{scenario:default}": ["count==3"],
		"http_reqs{pod:\"b\"}": ["count==1"]
	}`)})
	if err != nil {
		t.Fatal(err)
	}
	d := reg.Get("http_req_duration")
	r := reg.Get("http_reqs")
	add := func(m *ext.Metric, v float64, tags ext.TagSet) {
		e.AddSamples([]ext.Sample{{Metric: m, Time: t0, Tags: tags, Value: v}})
	}
	add(d, 10, ext.NewTagSet(map[string]string{"pod": "a", "status": "200", "proto": "HTTP/2.0"}))
	add(d, 20, ext.NewTagSet(map[string]string{"pod": "a", "status": "200", "proto": "HTTP/1.1"}))  // wrong proto for the 2-tag sub
	add(d, 500, ext.NewTagSet(map[string]string{"pod": "b", "status": "200", "proto": "HTTP/2.0"})) // pod b: not in {pod:a}
	add(d, 30, ext.NewTagSet(map[string]string{"pod": "ab", "status": "200"}))                      // "ab" is not "a"
	add(d, 40, ext.TagSet{})
	add(r, 1, ext.NewTagSet(map[string]string{"scenario": "default", "pod": "b"}))
	add(r, 1, ext.NewTagSet(map[string]string{"scenario": "default"}))
	add(r, 1, ext.NewTagSet(map[string]string{"scenario": "default"}))
	add(r, 1, ext.NewTagSet(map[string]string{"scenario": "other"}))
	if failed, _ := e.EvaluateThresholds(time.Second); failed {
		data := e.Summary(summary.RunInfo{Duration: time.Second})
		b, _ := data.JSON()
		t.Fatalf("sub-metric thresholds failed: %s", b)
	}
	data := e.Summary(summary.RunInfo{Duration: time.Second})
	if got := data.Metrics["http_req_duration{pod:a}"].Values["max"]; got != 20 {
		t.Errorf("{pod:a} max = %v, want 20 (only pod a samples)", got)
	}
	if got := data.Metrics["http_req_duration{status:200,proto:HTTP/2.0}"].Values["max"]; got != 500 {
		t.Errorf("{status:200,proto:HTTP/2.0} max = %v, want 500", got)
	}
	if got := data.Metrics["http_req_duration"].Values["max"]; got != 500 {
		t.Errorf("parent max = %v, want 500", got)
	}
	if got := data.Metrics["http_reqs{pod:b}"].Values["count"]; got != 1 {
		t.Errorf(`{pod:"b"} (quoted) count = %v, want 1`, got)
	}
}

func TestSummaryOnlyMetricsWithSamples(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_req_duration{pod:none}":["p(95)<1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.AddSamples(samples(reg, "iterations", ext.TagSet{}, 1, 1))
	d := e.Summary(summary.RunInfo{Duration: 2 * time.Second})
	if _, ok := d.Metrics["iterations"]; !ok {
		t.Error("iterations missing")
	}
	for _, name := range []string{"http_reqs", "vus", "http3_connections_opened", "http_req_duration", "http_req_duration{expected_response:true}"} {
		if _, ok := d.Metrics[name]; ok {
			t.Errorf("%s has no samples but is in the summary", name)
		}
	}
	// A sub-metric a threshold names is shown even without samples, so the
	// threshold is visible (k6 does the same).
	if m, ok := d.Metrics["http_req_duration{pod:none}"]; !ok || !m.Thresholds["p(95)<1"].OK {
		t.Errorf("thresholded empty sub-metric: %+v, %v", m, ok)
	}
	if got := d.Metrics["iterations"].Values["rate"]; got != 1 {
		t.Errorf("iterations rate = %v, want 1/s", got)
	}
}

func TestSummaryTrendStats(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{SummaryTrendStats: []string{"avg", "p(99.9)", "count", "p(50)"}, SummaryTimeUnit: "ms"})
	if err != nil {
		t.Fatal(err)
	}
	e.AddSamples(samples(reg, "iteration_duration", ext.TagSet{}, seq(1000)...))
	d := e.Summary(summary.RunInfo{Duration: time.Second})
	v := d.Metrics["iteration_duration"].Values
	if len(v) != 4 || v["count"] != 1000 || v["avg"] != 500.5 || math.Abs(v["p(99.9)"]-999) > 10 || math.Abs(v["p(50)"]-500) > 5 {
		t.Fatalf("values = %v", v)
	}
	if d.Options.SummaryTimeUnit != "ms" || len(d.Options.SummaryTrendStats) != 4 {
		t.Fatalf("options = %+v", d.Options)
	}
}

func TestPods(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{})
	if err != nil {
		t.Fatal(err)
	}
	req := func(at time.Duration, pod, proto string, dur float64, failed float64) {
		tags := ext.NewTagSet(map[string]string{"pod": pod, "proto": proto})
		ts := t0.Add(at)
		e.AddSamples([]ext.Sample{
			{Metric: reg.Get("http_reqs"), Time: ts, Tags: tags, Value: 1},
			{Metric: reg.Get("http_req_duration"), Time: ts, Tags: tags, Value: dur},
			{Metric: reg.Get("http_req_failed"), Time: ts, Tags: tags, Value: failed},
		})
	}
	for i := 0; i < 30; i++ {
		req(time.Duration(i)*time.Second, "pod-a", "HTTP/1.1", 100, 0)
	}
	for i := 0; i < 10; i++ {
		req(time.Duration(20+i)*time.Second, "pod-b", "HTTP/2.0", 200, 0)
	}
	req(25*time.Second, "pod-b", "HTTP/2.0", 300, 1)
	req(5*time.Second, "", "", 1, 1) // no pod: counted apart
	req(5*time.Second, "", "", 1, 1)

	d := e.Summary(summary.RunInfo{Start: t0, Duration: 30 * time.Second})
	if len(d.Pods) != 2 || d.Unattributed != 2 {
		t.Fatalf("pods = %v, unattributed = %d", d.Pods, d.Unattributed)
	}
	a, b := d.Pods["pod-a"], d.Pods["pod-b"]
	if a.Requests != 30 || b.Requests != 11 {
		t.Errorf("requests a=%d b=%d, want 30, 11", a.Requests, b.Requests)
	}
	if math.Abs(a.Share-30.0/41) > 1e-9 || math.Abs(a.Share+b.Share-1) > 1e-9 {
		t.Errorf("shares %v %v", a.Share, b.Share)
	}
	if !a.FirstSeen.Equal(t0) || !a.LastSeen.Equal(t0.Add(29*time.Second)) || b.FirstSeenMs != 20000 || b.LastSeenMs != 29000 {
		t.Errorf("seen: a %v..%v, b %v..%v ms", a.FirstSeen, a.LastSeen, b.FirstSeenMs, b.LastSeenMs)
	}
	if b.Failed != 1 || a.Failed != 0 {
		t.Errorf("failed a=%d b=%d", a.Failed, b.Failed)
	}
	if a.Duration["med"] != 100 || b.Duration["p(95)"] < 200 || b.Duration["p(95)"] > 300 {
		t.Errorf("durations a=%v b=%v", a.Duration, b.Duration)
	}
	if a.Protos["HTTP/1.1"] != 30 || b.Protos["HTTP/2.0"] != 11 {
		t.Errorf("protos a=%v b=%v", a.Protos, b.Protos)
	}
}

func TestChecksAndGroups(t *testing.T) {
	reg := ext.NewRegistry()
	e, _ := NewEngine(reg, Config{})
	c := reg.Get("checks")
	e.AddSamples([]ext.Sample{
		{Metric: c, Tags: ext.NewTagSet(map[string]string{"check": "status is 200", "group": ""}), Value: 1},
		{Metric: c, Tags: ext.NewTagSet(map[string]string{"check": "status is 200", "group": ""}), Value: 0},
		{Metric: c, Tags: ext.NewTagSet(map[string]string{"check": "nested", "group": "::outer::inner"}), Value: 1},
		{Metric: reg.Get("group_duration"), Tags: ext.NewTagSet(map[string]string{"group": "::lonely"}), Value: 5},
	})
	d := e.Summary(summary.RunInfo{Duration: time.Second})
	root := d.RootGroup
	if root.ID != "d41d8cd98f00b204e9800998ecf8427e" || root.Path != "" {
		t.Fatalf("root group = %+v", root)
	}
	if len(root.Checks) != 1 || root.Checks[0].Passes != 1 || root.Checks[0].Fails != 1 || root.Checks[0].Path != "::status is 200" {
		t.Fatalf("root checks = %+v", root.Checks)
	}
	if len(root.Groups) != 2 || root.Groups[0].Name != "outer" || root.Groups[1].Name != "lonely" {
		t.Fatalf("groups = %+v", root.Groups)
	}
	inner := root.Groups[0].Groups[0]
	if inner.Path != "::outer::inner" || inner.ID != md5hex("::outer::inner") || inner.Checks[0].Path != "::outer::inner::nested" {
		t.Fatalf("inner = %+v", inner)
	}
}

func TestAddSamplesConcurrent(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_reqs{pod:a}":["count==8000"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				e.AddSamples(samples(reg, "http_reqs", ext.NewTagSet(map[string]string{"pod": "a"}), 1))
				if i%100 == 0 {
					e.EvaluateThresholds(time.Second)
				}
			}
		}()
	}
	wg.Wait()
	if failed, _ := e.EvaluateThresholds(time.Second); failed {
		t.Fatal("lost samples under concurrency")
	}
	if d := e.Summary(summary.RunInfo{Duration: time.Second}); d.Pods["a"].Requests != 8000 {
		t.Fatalf("pod a = %d requests", d.Pods["a"].Requests)
	}
}

func TestInfoForOutputs(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_reqs":["count>1"],"http_reqs{pod:a}":["rate>1"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if info := e.MetricInfo("vus"); info.Thresholds != nil || info.Submetrics != nil {
		t.Fatalf("vus has neither thresholds nor sub-metrics: %+v", info)
	}
	info := e.MetricInfo("http_reqs")
	if len(info.Thresholds) != 1 || info.Thresholds[0] != "count>1" {
		t.Fatalf("thresholds = %v", info.Thresholds)
	}
	if len(info.Submetrics) != 1 || info.Submetrics[0].Name != "http_reqs{pod:a}" || info.Submetrics[0].Suffix != "pod:a" || info.Submetrics[0].Tags["pod"] != "a" {
		t.Fatalf("submetrics = %+v", info.Submetrics)
	}
	if sm := e.MetricInfo("http_req_duration").Submetrics; len(sm) != 1 || sm[0].Name != "http_req_duration{expected_response:true}" {
		t.Fatalf("default sub-metric = %+v", sm)
	}
}

func TestSummaryJSONShape(t *testing.T) {
	reg := ext.NewRegistry()
	e, _ := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_req_failed":["rate<0.5"]}`)})
	e.AddSamples(samples(reg, "http_req_failed", ext.NewTagSet(map[string]string{"pod": "p"}), 0, 1, 0, 0))
	e.AddSamples(samples(reg, "http_reqs", ext.NewTagSet(map[string]string{"pod": "p"}), 1))
	d := e.Summary(summary.RunInfo{Start: t0, Duration: 1500 * time.Millisecond, NoColor: true, IsStdOutTTY: true})
	b, err := d.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		RootGroup map[string]any `json:"root_group"`
		Options   map[string]any `json:"options"`
		State     map[string]any `json:"state"`
		Metrics   map[string]struct {
			Type       string                     `json:"type"`
			Contains   string                     `json:"contains"`
			Values     map[string]float64         `json:"values"`
			Thresholds map[string]map[string]bool `json:"thresholds"`
		} `json:"metrics"`
		Pods map[string]map[string]any `json:"pods"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.State["testRunDurationMs"] != 1500.0 || doc.State["isStdOutTTY"] != true || doc.Options["noColor"] != true {
		t.Fatalf("state/options = %v %v", doc.State, doc.Options)
	}
	f := doc.Metrics["http_req_failed"]
	if f.Type != "rate" || f.Contains != "default" || f.Values["rate"] != 0.25 || f.Values["passes"] != 1 || f.Values["fails"] != 3 || !f.Thresholds["rate<0.5"]["ok"] {
		t.Fatalf("http_req_failed = %+v", f)
	}
	if doc.Pods["p"]["requests"] != 1.0 || doc.Pods["p"]["share"] != 1.0 {
		t.Fatalf("pods = %v", doc.Pods)
	}
	for _, k := range []string{"name", "path", "id", "groups", "checks"} {
		if _, ok := doc.RootGroup[k]; !ok {
			t.Errorf("root_group lacks %q", k)
		}
	}
}
