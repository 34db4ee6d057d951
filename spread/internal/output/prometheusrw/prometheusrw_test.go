package prometheusrw

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// receiver is a remote-write endpoint that decodes what it gets.
type receiver struct {
	mu   sync.Mutex
	reqs []*prompb.WriteRequest
	// fail answers this status to the first failN requests.
	fail  int
	failN int32
	calls atomic.Int32
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	n := r.calls.Add(1)
	if n <= r.failN {
		http.Error(w, "not now", r.fail)
		return
	}
	if req.Header.Get("Content-Encoding") != "snappy" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad headers", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(req.Body)
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, &wr)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// last returns the series of the last request by their label string.
func (r *receiver) last(t *testing.T) map[string]prompb.TimeSeries {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("receiver got no request")
	}
	out := map[string]prompb.TimeSeries{}
	for _, ts := range r.reqs[len(r.reqs)-1].Timeseries {
		for i := 1; i < len(ts.Labels); i++ {
			if ts.Labels[i-1].Name >= ts.Labels[i].Name {
				t.Errorf("labels not sorted: %v", ts.Labels)
			}
		}
		out[labelString(ts.Labels)] = ts
	}
	return out
}

func labelString(ls []prompb.Label) string {
	var parts []string
	name := ""
	for _, l := range ls {
		if l.Name == "__name__" {
			name = l.Value
			continue
		}
		parts = append(parts, l.Name+"="+l.Value)
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

func newOutput(t *testing.T, url string, env map[string]string) (*Output, *bytes.Buffer) {
	t.Helper()
	var stderr bytes.Buffer
	o, err := New(output.Params{Arg: url, Env: env, Stderr: &stderr, TestID: "t1", Registry: ext.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	out := o.(*Output)
	out.stopTimeout = 3 * time.Second
	out.client.backoff = 10 * time.Millisecond
	return out, &stderr
}

func TestNamesValuesAndLabels(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	o, stderr := newOutput(t, srv.URL, map[string]string{
		"K6_PROMETHEUS_RW_TREND_STATS":   "p(50),p(99.9),avg,min,max,count,sum,med",
		"K6_PROMETHEUS_RW_PUSH_INTERVAL": "50ms",
	})
	reg := ext.NewRegistry()
	reqs, dur, failed, vus := reg.Get(ext.MetricHTTPReqs), reg.Get(ext.MetricHTTPReqDuration), reg.Get(ext.MetricHTTPReqFailed), reg.Get(ext.MetricVUs)
	custom, _ := reg.NewMetric("bytes_seen", ext.Trend)
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a := ext.NewTagSet(map[string]string{"pod": "pod-a", "proto": "HTTP/1.1", "expected_response": "true", "bad-name.x": "v", "empty": ""})
	b := ext.NewTagSet(map[string]string{"pod": "pod-b", "proto": "HTTP/1.1", "testid": "mine"})
	var batch []ext.Sample
	for i := 1; i <= 100; i++ {
		batch = append(batch,
			ext.Sample{Metric: reqs, Time: now, Tags: a, Value: 1},
			ext.Sample{Metric: dur, Time: now, Tags: a, Value: float64(i)}, // 1..100 ms
			ext.Sample{Metric: failed, Time: now, Tags: a, Value: float64(i % 4 / 3)},
		)
	}
	batch = append(batch,
		ext.Sample{Metric: reqs, Time: now, Tags: b, Value: 1},
		ext.Sample{Metric: vus, Time: now, Tags: ext.TagSet{}, Value: 3},
		ext.Sample{Metric: vus, Time: now, Tags: ext.TagSet{}, Value: 7},
		ext.Sample{Metric: custom, Time: now, Tags: ext.TagSet{}, Value: 2048},
	)
	o.AddSamples(batch)
	time.Sleep(400 * time.Millisecond) // several periodic pushes
	if rcv.calls.Load() == 0 {
		t.Error("no periodic push within 400ms at a 50ms interval")
	}
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	got := rcv.last(t)
	la := "bad_name_x=v,expected_response=true,pod=pod-a,proto=HTTP/1.1,testid=t1"
	want := map[string]float64{
		"k6_http_reqs_total{" + la + "}":                           100,
		"k6_http_reqs_total{pod=pod-b,proto=HTTP/1.1,testid=mine}": 1,
		"k6_http_req_failed_rate{" + la + "}":                      0.25,
		"k6_vus{testid=t1}":                                        7,
		"k6_http_req_duration_avg{" + la + "}":                     0.0505,
		"k6_http_req_duration_min{" + la + "}":                     0.001,
		"k6_http_req_duration_max{" + la + "}":                     0.1,
		"k6_http_req_duration_count{" + la + "}":                   100,
		"k6_http_req_duration_sum{" + la + "}":                     5.05,
		"k6_http_req_duration_p50{" + la + "}":                     0.050,
		"k6_http_req_duration_med{" + la + "}":                     0.050,
		"k6_http_req_duration_p999{" + la + "}":                    0.1,
		"k6_bytes_seen_avg{testid=t1}":                             2048, // not a time: no unit change
	}
	for k, v := range want {
		ts, ok := got[k]
		if !ok {
			t.Errorf("missing series %s", k)
			continue
		}
		if len(ts.Samples) != 1 || math.Abs(ts.Samples[0].Value-v) > v*0.01 {
			t.Errorf("%s = %v, want %v", k, ts.Samples, v)
		}
	}
	// bytes_seen has all 8 stats, only avg is checked above.
	if len(got) != len(want)+7 {
		var names []string
		for k := range got {
			names = append(names, k)
		}
		t.Errorf("got %d series, want %d: %v", len(got), len(want), names)
	}
	if !strings.Contains(stderr.String(), "delivered") || strings.Contains(stderr.String(), "could not") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestRetriesThenDelivers(t *testing.T) {
	rcv := &receiver{fail: http.StatusServiceUnavailable, failN: 2}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	o, stderr := newOutput(t, srv.URL, map[string]string{"K6_PROMETHEUS_RW_PUSH_INTERVAL": "1h"})
	reg := ext.NewRegistry()
	_ = o.Start()
	o.AddSamples([]ext.Sample{{Metric: reg.Get(ext.MetricIterations), Time: time.Now(), Value: 1}})
	_ = o.Stop()
	if rcv.calls.Load() != 3 {
		t.Errorf("calls = %d, want 2 failures + 1 success", rcv.calls.Load())
	}
	if got := rcv.last(t)["k6_iterations_total{testid=t1}"]; len(got.Samples) != 1 || got.Samples[0].Value != 1 {
		t.Errorf("iterations = %v", got.Samples)
	}
	if strings.Contains(stderr.String(), "could not") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestUndeliveredAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		calls int32 // 0: do not check
	}{
		{"rejected for good", http.StatusBadRequest, 1},
		{"server keeps failing", http.StatusInternalServerError, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{fail: tc.code, failN: 1 << 30}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			o, stderr := newOutput(t, srv.URL, map[string]string{"K6_PROMETHEUS_RW_PUSH_INTERVAL": "1h"})
			o.stopTimeout = 300 * time.Millisecond
			reg := ext.NewRegistry()
			_ = o.Start()
			o.AddSamples([]ext.Sample{
				{Metric: reg.Get(ext.MetricIterations), Time: time.Now(), Value: 1},
				{Metric: reg.Get(ext.MetricVUs), Time: time.Now(), Value: 1},
			})
			start := time.Now()
			_ = o.Stop()
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("Stop took %v", el)
			}
			if tc.calls != 0 && rcv.calls.Load() != tc.calls {
				t.Errorf("calls = %d, want %d", rcv.calls.Load(), tc.calls)
			}
			if !strings.Contains(stderr.String(), "2 of 2 samples could not be delivered") {
				t.Errorf("stderr: %q", stderr.String())
			}
		})
	}
}

func TestUnreachableServerDoesNotBlockAddSamples(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	o, stderr := newOutput(t, url, map[string]string{"K6_PROMETHEUS_RW_PUSH_INTERVAL": "10ms"})
	o.stopTimeout = 200 * time.Millisecond
	reg := ext.NewRegistry()
	_ = o.Start()
	start := time.Now()
	for i := 0; i < 1000; i++ {
		o.AddSamples([]ext.Sample{{Metric: reg.Get(ext.MetricIterations), Time: time.Now(), Value: 1}})
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("AddSamples took %v with the server down", el)
	}
	time.Sleep(50 * time.Millisecond)
	_ = o.Stop()
	if !strings.Contains(stderr.String(), "could not be delivered") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

func TestNativeHistogram(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	o, _ := newOutput(t, srv.URL, map[string]string{"K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "true", "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1h"})
	reg := ext.NewRegistry()
	_ = o.Start()
	var batch []ext.Sample
	for i := 1; i <= 1000; i++ {
		batch = append(batch, ext.Sample{Metric: reg.Get(ext.MetricHTTPReqDuration), Time: time.Now(), Value: float64(i)})
	}
	o.AddSamples(batch)
	_ = o.Stop()
	ts, ok := rcv.last(t)["k6_http_req_duration_seconds{testid=t1}"]
	if !ok || len(ts.Histograms) != 1 {
		t.Fatalf("no native histogram: %v", rcv.last(t))
	}
	h := ts.Histograms[0].ToIntHistogram()
	if err := h.Validate(); err != nil {
		t.Fatalf("invalid histogram: %v", err)
	}
	if h.Count != 1000 || math.Abs(h.Sum-500.5) > 1e-6 {
		t.Errorf("count %d sum %v, want 1000 and 500.5 s", h.Count, h.Sum)
	}
	// The bucket holding the 990th value must straddle 0.99 s.
	var seen uint64
	it := h.PositiveBucketIterator()
	for it.Next() {
		b := it.At()
		seen += b.Count
		if seen >= 990 {
			if b.Lower > 0.99 || b.Upper < 0.99 {
				t.Errorf("p99 bucket (%v, %v] does not hold 0.99", b.Lower, b.Upper)
			}
			break
		}
	}
}

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		env     map[string]string
		url     string
		suffix  []string
		wantErr string
	}{
		{"", nil, DefaultURL, []string{"p99"}, ""},
		{"", map[string]string{"K6_PROMETHEUS_RW_SERVER_URL": "http://p:9090/api/v1/write"}, "http://p:9090/api/v1/write", []string{"p99"}, ""},
		{"http://x/w", map[string]string{"K6_PROMETHEUS_RW_SERVER_URL": "http://p/w"}, "http://x/w", []string{"p99"}, ""},
		{"", map[string]string{"K6_PROMETHEUS_RW_TREND_STATS": "p(95), p(99.9),avg,med,p(90)"}, DefaultURL, []string{"p95", "p999", "avg", "med", "p90"}, ""},
		{"", map[string]string{"K6_PROMETHEUS_RW_TREND_STATS": "p(101)"}, "", nil, "percentile"},
		{"", map[string]string{"K6_PROMETHEUS_RW_TREND_STATS": "mean"}, "", nil, "want avg"},
		{"ftp://x", nil, "", nil, "want http"},
		{"", map[string]string{"K6_PROMETHEUS_RW_PUSH_INTERVAL": "0s"}, "", nil, "positive"},
		{"", map[string]string{"K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM": "maybe"}, "", nil, "true or false"},
	} {
		c, err := ParseConfig(tc.arg, tc.env)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q %v: err %v, want %q", tc.arg, tc.env, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q %v: %v", tc.arg, tc.env, err)
			continue
		}
		var got []string
		for _, s := range c.TrendStats {
			got = append(got, s.Suffix)
		}
		if c.URL != tc.url || strings.Join(got, ",") != strings.Join(tc.suffix, ",") {
			t.Errorf("%q %v: url %s stats %v", tc.arg, tc.env, c.URL, got)
		}
	}
}

func TestSeriesNames(t *testing.T) {
	stats, _ := ParseTrendStats("p(95),avg")
	for _, tc := range []struct {
		m      ext.Metric
		native bool
		want   string
	}{
		{ext.Metric{Name: "http_reqs", Type: ext.Counter}, false, "k6_http_reqs_total"},
		{ext.Metric{Name: "checks", Type: ext.Rate}, false, "k6_checks_rate"},
		{ext.Metric{Name: "vus", Type: ext.Gauge}, false, "k6_vus"},
		{ext.Metric{Name: "http_req_duration", Type: ext.Trend, Contains: ext.Time}, false, "k6_http_req_duration_p95,k6_http_req_duration_avg"},
		{ext.Metric{Name: "http_req_duration", Type: ext.Trend, Contains: ext.Time}, true, "k6_http_req_duration_seconds"},
		{ext.Metric{Name: "size", Type: ext.Trend}, true, "k6_size"},
	} {
		if got := strings.Join(SeriesNames(&tc.m, stats, tc.native), ","); got != tc.want {
			t.Errorf("%s native=%v: %s, want %s", tc.m.Name, tc.native, got, tc.want)
		}
	}
	for in, want := range map[string]string{"a-b.c": "a_b_c", "9x": "_9x", "ok_1": "ok_1", "": "_"} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}
