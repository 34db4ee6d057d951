package dashboard

import (
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

// BenchmarkRequest is the dashboard's cost per HTTP request: the samples
// one k6/http request emits, through AddSamples (lock and aggregation).
// Compare with spread's client CPU per request in docs/bench/k6http.md.
func BenchmarkRequest(b *testing.B) {
	reg := ext.NewRegistry()
	start := time.Now()
	o := newOutput(Config{Port: -1, Period: 2 * time.Second}, output.Params{Registry: reg, StartTime: start})
	tags := ext.NewTagSet(map[string]string{"pod": "pod-a", "proto": "HTTP/1.1", "status": "200", "method": "GET", "url": "http://x/", "name": "http://x/", "scenario": "default", "expected_response": "true"})
	names := []string{"http_reqs", "http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking",
		"http_req_sending", "http_req_waiting", "http_req_receiving", "http_req_failed", "data_sent", "data_received", "iterations", "iteration_duration"}
	batch := make([]ext.Sample, len(names))
	for i, n := range names {
		batch[i] = ext.Sample{Metric: reg.Get(n), Tags: tags, Value: 1}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := start.Add(time.Duration(i) * 50 * time.Microsecond) // 20k requests/s
		for j := range batch {
			batch[j].Time = at
		}
		o.AddSamples(batch)
	}
}
