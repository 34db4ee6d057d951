package metrics

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"

	"spread.dev/spread/ext"
)

// BenchmarkAddSamples is the per-sample cost of the engine on a realistic
// HTTP sample (one sub-metric threshold, the default expected_response
// sub-metric and per-pod tracking).
func BenchmarkAddSamples(b *testing.B) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{Thresholds: json.RawMessage(`{"http_req_duration{pod:echo-1}":["p(95)<500"]}`)})
	if err != nil {
		b.Fatal(err)
	}
	tags := ext.NewTagSet(map[string]string{"pod": "echo-1", "proto": "HTTP/1.1", "status": "200", "expected_response": "true"})
	batch := make([]ext.Sample, 100)
	for i := range batch {
		batch[i] = ext.Sample{Metric: reg.Get(ext.MetricHTTPReqDuration), Time: time.Now(), Tags: tags, Value: float64(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		e.AddSamples(batch)
	}
}

// BenchmarkTrend10M adds ten million samples to one Trend and reports the
// heap the engine holds afterwards (bytes/engine), which must not depend on
// the sample count. `go run ./spread/internal/metrics/cmd/trendmem` prints the table
// against an exact-slice peer.
func BenchmarkTrend10M(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		reg := ext.NewRegistry()
		e, _ := NewEngine(reg, Config{})
		batch := make([]ext.Sample, 1000)
		for j := range batch {
			batch[j] = ext.Sample{Metric: reg.Get(ext.MetricIterationDuration), Value: float64(j%977) + 0.5}
		}
		for n := 0; n < 10_000_000; n += len(batch) {
			e.AddSamples(batch)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "heap-bytes")
		runtime.KeepAlive(e)
	}
}

// BenchmarkAddIterationSamples is an empty iteration's pair of samples
// (iterations, iteration_duration), as a VU hands them in a chunk.
func BenchmarkAddIterationSamples(b *testing.B) {
	reg := ext.NewRegistry()
	e, err := NewEngine(reg, Config{})
	if err != nil {
		b.Fatal(err)
	}
	tags := ext.NewTagSet(map[string]string{"scenario": "default", "group": ""})
	batch := make([]ext.Sample, 256)
	for i := range batch {
		m := reg.Get(ext.MetricIterations)
		if i%2 == 1 {
			m = reg.Get(ext.MetricIterationDuration)
		}
		batch[i] = ext.Sample{Metric: m, Time: time.Now(), Tags: tags, Value: 0.0005 * float64(i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		e.AddSamples(batch)
	}
}
