// Command trendmem measures the metrics engine's memory while it takes
// millions of Trend samples: the heap must stay flat (HDR histograms), not
// grow with the sample count. It prints a Markdown table, or JSON with -json.
//
//	go run ./spread/internal/metrics/cmd/trendmem -n 10000000
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"runtime"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/metrics"
	"spread.dev/spread/internal/summary"
)

// Point is one measurement: heap in use after n samples.
type Point struct {
	Samples      int64   `json:"samples"`
	HeapAllocMiB float64 `json:"heap_alloc_mib"`
	NsPerSample  float64 `json:"ns_per_sample"`
	// PeerHeapMiB is the heap of the peer: every value kept in a []float64,
	// as an exact (sorting) trend sink does, fed the same values.
	PeerHeapMiB float64 `json:"peer_heap_alloc_mib"`
}

func main() {
	n := flag.Int64("n", 10_000_000, "Trend samples to add")
	steps := flag.Int("steps", 10, "measurements along the way")
	asJSON := flag.Bool("json", false, "print JSON instead of a Markdown table")
	flag.Parse()
	if *n <= 0 || *steps <= 0 {
		fmt.Fprintln(os.Stderr, "trendmem: -n and -steps must be positive")
		os.Exit(2)
	}

	base := heapMiB()
	var peer []float64
	reg := ext.NewRegistry()
	eng, err := metrics.NewEngine(reg, metrics.Config{Thresholds: json.RawMessage(
		`{"http_req_duration":["p(95)<500"],"http_req_duration{pod:echo-1}":["p(99)<1000"]}`)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "trendmem:", err)
		os.Exit(1)
	}
	dur := reg.Get(ext.MetricHTTPReqDuration)
	pods := []ext.TagSet{
		ext.NewTagSet(map[string]string{"pod": "echo-1", "proto": "HTTP/1.1", "status": "200", "expected_response": "true", "scenario": "default"}),
		ext.NewTagSet(map[string]string{"pod": "echo-2", "proto": "HTTP/1.1", "status": "200", "expected_response": "true", "scenario": "default"}),
	}
	rng := rand.New(rand.NewSource(1))
	batch := make([]ext.Sample, 1000)
	now := time.Now()
	var added int64
	var points []Point
	per := *n / int64(*steps)
	for s := 1; s <= *steps; s++ {
		target := per * int64(s)
		if s == *steps {
			target = *n
		}
		start := time.Now()
		from := added
		for added < target {
			k := int64(len(batch))
			if target-added < k {
				k = target - added
			}
			for i := int64(0); i < k; i++ {
				v := 1000 + rng.ExpFloat64()*20
				batch[i] = ext.Sample{Metric: dur, Time: now, Tags: pods[i&1], Value: v}
				peer = append(peer, v)
			}
			eng.AddSamples(batch[:k])
			added += k
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(added-from)
		total := heapMiB() - base
		peerMiB := float64(cap(peer)*8) / (1 << 20)
		points = append(points, Point{Samples: added, HeapAllocMiB: total - peerMiB, NsPerSample: ns, PeerHeapMiB: peerMiB})
	}
	d := eng.Summary(summary.RunInfo{Start: now, Duration: time.Minute})
	runtime.KeepAlive(eng)
	runtime.KeepAlive(peer)

	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"points": points,
			"p95_ms": d.Metrics["http_req_duration"].Values["p(95)"]})
		return
	}
	fmt.Println("| Trend samples | spread engine heap (MiB) | peer: exact []float64 (MiB) | peer / spread | feed loop ns/sample |")
	fmt.Println("|---:|---:|---:|---:|---:|")
	for _, p := range points {
		fmt.Printf("| %d | %.2f | %.1f | %.0fx | %.0f |\n", p.Samples, p.HeapAllocMiB, p.PeerHeapMiB,
			p.PeerHeapMiB/p.HeapAllocMiB, p.NsPerSample)
	}
}

// heapMiB is the live heap after a full collection.
func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}
