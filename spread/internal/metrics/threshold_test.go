package metrics

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in      string
		stat    string
		pct     float64
		op      string
		value   float64
		wantErr string
	}{
		{in: "p(95)<500", stat: "p(95)", pct: 95, op: "<", value: 500},
		{in: " p( 99.9 ) <= 1e3 ", stat: "p(99.9)", pct: 99.9, op: "<=", value: 1000},
		{in: "avg<200", stat: "avg", op: "<", value: 200},
		{in: "med >= 1.5", stat: "med", op: ">=", value: 1.5},
		{in: "max>-3", stat: "max", op: ">", value: -3},
		{in: "min==0", stat: "min", op: "==", value: 0},
		{in: "count===10", stat: "count", op: "===", value: 10},
		{in: "rate!=0", stat: "rate", op: "!=", value: 0},
		{in: "value>1", stat: "value", op: ">", value: 1},
		{in: "p(0)<1", stat: "p(0)", pct: 0, op: "<", value: 1},
		{in: "p(100)<1", stat: "p(100)", pct: 100, op: "<", value: 1},
		{in: "", wantErr: "empty"},
		{in: "p(95)", wantErr: "no operator"},
		{in: "<500", wantErr: "missing aggregation"},
		{in: "p(95)<", wantErr: "missing value"},
		{in: "p(95)<abc", wantErr: "not a number"},
		{in: "p(95)<NaN", wantErr: "not a number"},
		{in: "p(101)<5", wantErr: "bad percentile"},
		{in: "p(-1)<5", wantErr: "bad percentile"},
		{in: "p(x)<5", wantErr: "bad percentile"},
		{in: "average<5", wantErr: "unknown aggregation method"},
		{in: "p95<5", wantErr: "unknown aggregation method"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			th, err := ParseThreshold(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseThreshold(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseThreshold(%q): %v", tt.in, err)
			}
			if th.Stat != tt.stat || th.Percentile != tt.pct || th.Op != tt.op || th.Value != tt.value {
				t.Fatalf("ParseThreshold(%q) = %+v, want stat %s pct %v op %s value %v", tt.in, th, tt.stat, tt.pct, tt.op, tt.value)
			}
		})
	}
}

func TestThresholdCheck(t *testing.T) {
	tests := []struct {
		expr string
		v    float64
		want bool
	}{
		{"avg<10", 9.99, true}, {"avg<10", 10, false},
		{"avg<=10", 10, true}, {"avg<=10", 10.01, false},
		{"avg>10", 10.01, true}, {"avg>10", 10, false},
		{"avg>=10", 10, true}, {"avg>=10", 9.9, false},
		{"avg==10", 10, true}, {"avg==10", 10.1, false},
		{"avg===10", 10, true}, {"avg!=10", 10, false}, {"avg!=10", 3, true},
	}
	for _, tt := range tests {
		th, err := ParseThreshold(tt.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := th.check(tt.v); got != tt.want {
			t.Errorf("%s with %v = %v, want %v", tt.expr, tt.v, got, tt.want)
		}
	}
}

func TestParseThresholdConfig(t *testing.T) {
	raw := `{
		"http_req_duration": ["p(95)<500", {"threshold": "p(99)<1000", "abortOnFail": true, "delayAbortEval": "10s"}],
		"checks": "rate>0.9",
		"http_reqs{pod:a}": {"threshold": "count>1", "delayAbortEval": 1500}
	}`
	specs, err := parseThresholdConfig(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("got %d specs, want 3", len(specs))
	}
	// Script order is kept.
	if specs[0].Key != "http_req_duration" || specs[1].Key != "checks" || specs[2].Key != "http_reqs{pod:a}" {
		t.Fatalf("keys out of order: %q %q %q", specs[0].Key, specs[1].Key, specs[2].Key)
	}
	d := specs[0].Thresholds
	if len(d) != 2 || d[0].AbortOnFail || !d[1].AbortOnFail || d[1].DelayAbortEval != 10*time.Second {
		t.Fatalf("http_req_duration thresholds = %+v %+v", d[0], d[1])
	}
	if specs[2].Thresholds[0].DelayAbortEval != 1500*time.Millisecond {
		t.Fatalf("numeric delayAbortEval = %v, want 1.5s", specs[2].Thresholds[0].DelayAbortEval)
	}

	bad := []struct{ raw, want string }{
		{`[]`, "want an object"},
		{`{"a": 5}`, "want a string or"},
		{`{"a": {"abortOnFail": true}}`, "missing \"threshold\""},
		{`{"a": ["p(95)<"]}`, "invalid threshold on a"},
		{`{"a": {"threshold": "avg<1", "delayAbortEval": "soon"}}`, "delayAbortEval"},
		{`{"a": {"threshold": "avg<1", "delayAbortEval": -5}}`, "delayAbortEval"},
		{`{"a": `, "thresholds"},
	}
	for _, b := range bad {
		if _, err := parseThresholdConfig(json.RawMessage(b.raw)); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("parseThresholdConfig(%s) error = %v, want containing %q", b.raw, err, b.want)
		}
	}
	if specs, err := parseThresholdConfig(nil); err != nil || specs != nil {
		t.Errorf("empty config = %v, %v", specs, err)
	}
}

func TestParseMetricKey(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		tags    [][2]string
		wantErr string
	}{
		{in: "http_reqs", name: "http_reqs"},
		{in: "http_req_duration{pod:x}", name: "http_req_duration", tags: [][2]string{{"pod", "x"}}},
		{in: "http_req_duration{ status:200 , proto:HTTP/2.0 }", name: "http_req_duration",
			tags: [][2]string{{"status", "200"}, {"proto", "HTTP/2.0"}}},
		{in: `http_req_duration{url:"http://a:80/x"}`, name: "http_req_duration", tags: [][2]string{{"url", "http://a:80/x"}}},
		{in: "http_req_duration{name:'a b'}", name: "http_req_duration", tags: [][2]string{{"name", "a b"}}},
		{in: "checks{scenario:default}", name: "checks", tags: [][2]string{{"scenario", "default"}}},
		{in: "x{}", wantErr: "empty sub-metric"},
		{in: "x{a}", wantErr: "is not tag:value"},
		{in: "x{a:b", wantErr: "missing closing"},
		{in: "{a:b}", wantErr: "missing metric name"},
		{in: "x}", wantErr: "unbalanced"},
		{in: "x{a:{b}}", wantErr: "nested"},
	}
	for _, tt := range tests {
		name, tags, err := parseMetricKey(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseMetricKey(%q) error = %v, want containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || name != tt.name || len(tags) != len(tt.tags) {
			t.Errorf("parseMetricKey(%q) = %q %v %v", tt.in, name, tags, err)
			continue
		}
		for i := range tags {
			if tags[i] != tt.tags[i] {
				t.Errorf("parseMetricKey(%q) tag %d = %v, want %v", tt.in, i, tags[i], tt.tags[i])
			}
		}
	}
}

func TestNewEngineErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown metric", Config{Thresholds: json.RawMessage(`{"http_req_durations":["p(95)<1"]}`)},
			`invalid threshold defined on http_req_durations; reason: no metric name "http_req_durations" found`},
		{"unknown metric in sub-metric", Config{Thresholds: json.RawMessage(`{"nope{pod:a}":["count>1"]}`)},
			`no metric name "nope" found`},
		{"method not for counter", Config{Thresholds: json.RawMessage(`{"http_reqs":["p(95)<1"]}`)},
			`invalid threshold "p(95)<1" on http_reqs: p(95) is not valid for a counter metric (use count, rate)`},
		{"method not for rate", Config{Thresholds: json.RawMessage(`{"http_req_failed":["count<1"]}`)},
			"not valid for a rate metric"},
		{"method not for gauge", Config{Thresholds: json.RawMessage(`{"vus":["avg<1"]}`)},
			"not valid for a gauge metric"},
		{"method not for trend", Config{Thresholds: json.RawMessage(`{"http_req_duration":["rate<1"]}`)},
			"not valid for a trend metric"},
		{"bad expression names metric", Config{Thresholds: json.RawMessage(`{"http_req_duration":["p95<1"]}`)},
			"invalid threshold on http_req_duration"},
		{"bad selector", Config{Thresholds: json.RawMessage(`{"http_req_duration{pod}":["avg<1"]}`)},
			"invalid threshold on http_req_duration{pod}"},
		{"bad trend stat", Config{SummaryTrendStats: []string{"avg", "p99"}}, `summaryTrendStats: unknown stat "p99"`},
		{"bad time unit", Config{SummaryTimeUnit: "h"}, "summaryTimeUnit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewEngine(ext.NewRegistry(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewEngine error = %v, want containing %q", err, tt.want)
			}
		})
	}
}

func TestThresholdOnCustomMetric(t *testing.T) {
	reg := ext.NewRegistry()
	m, err := reg.NewMetric("my_trend", ext.Trend, ext.Time)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"my_trend":["p(50)<10"]}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.AddSamples([]ext.Sample{{Metric: m, Value: 5}, {Metric: m, Value: 20}, {Metric: m, Value: 7}})
	if failed, _ := e.EvaluateThresholds(time.Second); failed {
		t.Fatal("p(50)=7 < 10 should pass")
	}
	e.AddSamples([]ext.Sample{{Metric: m, Value: 30}, {Metric: m, Value: 40}})
	if failed, _ := e.EvaluateThresholds(time.Second); !failed {
		t.Fatal("p(50)=20 should fail p(50)<10")
	}
}

// samples builds n samples of metric name with values from f.
func samples(reg *ext.Registry, name string, tags ext.TagSet, vals ...float64) []ext.Sample {
	out := make([]ext.Sample, len(vals))
	for i, v := range vals {
		out[i] = ext.Sample{Metric: reg.Get(name), Time: time.Unix(1700000000, 0), Tags: tags, Value: v}
	}
	return out
}

func TestEvaluateThresholds(t *testing.T) {
	tests := []struct {
		name       string
		thresholds string
		metric     string
		values     []float64
		elapsed    time.Duration
		wantFailed bool
	}{
		{"counter count ok", `{"http_reqs":"count>=3"}`, "http_reqs", []float64{1, 1, 1}, time.Second, false},
		{"counter count fail", `{"http_reqs":"count>3"}`, "http_reqs", []float64{1, 1, 1}, time.Second, true},
		{"counter rate uses elapsed", `{"http_reqs":"rate>=2"}`, "http_reqs", []float64{1, 1, 1, 1}, 2 * time.Second, false},
		{"counter rate fail", `{"http_reqs":"rate>2"}`, "http_reqs", []float64{1, 1, 1, 1}, 2 * time.Second, true},
		{"gauge last value", `{"vus":"value==3"}`, "vus", []float64{10, 1, 3}, time.Second, false},
		{"gauge last value fail", `{"vus":"value>5"}`, "vus", []float64{10, 1, 3}, time.Second, true},
		{"rate ok", `{"http_req_failed":"rate<0.5"}`, "http_req_failed", []float64{0, 0, 1, 0}, time.Second, false},
		{"rate fail", `{"http_req_failed":"rate<0.25"}`, "http_req_failed", []float64{0, 0, 1, 0}, time.Second, true},
		{"trend avg", `{"http_req_duration":"avg==2.5"}`, "http_req_duration", []float64{1, 2, 3, 4}, time.Second, false},
		{"trend min max", `{"http_req_duration":["min==1","max==4"]}`, "http_req_duration", []float64{1, 2, 3, 4}, time.Second, false},
		{"trend med fail", `{"http_req_duration":"med<2"}`, "http_req_duration", []float64{1, 2, 3, 4, 5}, time.Second, true},
		{"trend count", `{"http_req_duration":"count==5"}`, "http_req_duration", []float64{1, 2, 3, 4, 5}, time.Second, false},
		{"trend p(99.9)", `{"http_req_duration":"p(99.9)>=999"}`, "http_req_duration", seq(1000), time.Second, false},
		{"no samples: p(95) is 0 and passes, like k6", `{"http_req_duration":"p(95)<500"}`, "http_req_duration", nil, time.Second, false},
		{"no samples: count>0 fails", `{"http_reqs":"count>0"}`, "http_reqs", nil, time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := ext.NewRegistry()
			e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(tt.thresholds)})
			if err != nil {
				t.Fatal(err)
			}
			e.AddSamples(samples(reg, tt.metric, ext.TagSet{}, tt.values...))
			failed, abort := e.EvaluateThresholds(tt.elapsed)
			if failed != tt.wantFailed {
				t.Fatalf("failed = %v, want %v", failed, tt.wantFailed)
			}
			if abort {
				t.Fatal("abort without abortOnFail")
			}
			if e.ThresholdsFailed() != tt.wantFailed {
				t.Fatal("ThresholdsFailed disagrees with EvaluateThresholds")
			}
		})
	}
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

func TestAbortOnFail(t *testing.T) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{
		"http_req_failed": [{"threshold": "rate<0.1", "abortOnFail": true, "delayAbortEval": "10s"}],
		"http_reqs": ["count>1000"]
	}`)})
	if err != nil {
		t.Fatal(err)
	}
	e.AddSamples(samples(reg, "http_req_failed", ext.TagSet{}, 1, 1, 0))
	if failed, abort := e.EvaluateThresholds(5 * time.Second); !failed || abort {
		t.Fatalf("at 5s: failed=%v abort=%v, want failed, no abort before delayAbortEval", failed, abort)
	}
	if failed, abort := e.EvaluateThresholds(10 * time.Second); !failed || !abort {
		t.Fatalf("at 10s: failed=%v abort=%v, want both", failed, abort)
	}
	// A failing threshold without abortOnFail never aborts.
	e2, _ := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_reqs": ["count>1000"]}`)})
	if failed, abort := e2.EvaluateThresholds(time.Hour); !failed || abort {
		t.Fatalf("failed=%v abort=%v, want failed without abort", failed, abort)
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"p(95)<500", "avg<=1", "count===3", "rate!=0", "p(99.9) > 1e3", "value==-1", "p(", "<", "==="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		// A parsed threshold round-trips through its canonical form.
		again, err := ParseThreshold(th.Stat + th.Op + strconvFloat(th.Value))
		if err != nil {
			t.Fatalf("canonical form of %q does not parse: %v", s, err)
		}
		if again.Stat != th.Stat || again.Op != th.Op || again.Value != th.Value || again.Percentile != th.Percentile {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, th)
		}
		_ = th.check(1)
	})
}

func FuzzThresholdConfig(f *testing.F) {
	for _, s := range []string{
		`{"http_req_duration":["p(95)<500"]}`,
		`{"http_reqs{pod:a}":{"threshold":"count>1","abortOnFail":true,"delayAbortEval":"1s"}}`,
		`{"checks":"rate>0.9"}`, `{}`, `[]`, `{"x{":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Must never panic, whatever the script says.
		e, err := NewEngine(ext.NewRegistry(), Config{Thresholds: json.RawMessage(s)})
		if err == nil {
			e.EvaluateThresholds(time.Second)
		}
	})
}

func strconvFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
