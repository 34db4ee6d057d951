package analysis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// ndjson builds k6 NDJSON lines: one Metric line per metric, then points.
type ndjson struct{ b bytes.Buffer }

func (n *ndjson) metric(name, typ string) {
	fmt.Fprintf(&n.b, `{"type":"Metric","data":{"name":%q,"type":%q,"contains":"default","thresholds":[],"submetrics":null},"metric":%q}`+"\n", name, typ, name)
}

func (n *ndjson) point(metric string, at time.Time, v float64, tags map[string]string) {
	line, _ := json.Marshal(map[string]any{"type": "Point", "metric": metric,
		"data": map[string]any{"time": at.Format(time.RFC3339Nano), "value": v, "tags": tags}})
	n.b.Write(line)
	n.b.WriteByte('\n')
}

// request writes the samples one request produces.
func (n *ndjson) request(at time.Time, pod string, ms float64, failed bool) {
	tags := map[string]string{"pod": pod, "method": "GET", "status": "200", "proto": "HTTP/1.1"}
	n.point("http_reqs", at, 1, tags)
	n.point("http_req_duration", at, ms, tags)
	n.point("http_req_waiting", at, ms, tags)
	f := 0.0
	if failed {
		f = 1
	}
	n.point("http_req_failed", at, f, tags)
}

var t0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestNewPodShare(t *testing.T) {
	// 30 s at 10 req/s each second; pod-b added at 10 s. Before 12 s
	// (ready + settle) everything goes to pod-a; after it, pod-b gets
	// `share` of the requests, the last third `late`.
	cases := []struct {
		name        string
		share, late float64
	}{
		{"fair", 0.5, 0.5},
		{"none", 0, 0},
		{"converging", 0.2, 0.4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n ndjson
			n.metric("http_reqs", "counter")
			n.metric("http_req_duration", "trend")
			for i := 0; i < 300; i++ {
				s := float64(i) / 10
				pod := "pod-a"
				frac := c.share
				if s >= 24 {
					frac = c.late
				}
				if s >= 12 && float64(i%10) < frac*10 {
					pod = "pod-b"
				}
				n.request(at(s), pod, 100, false)
			}
			a, err := Read(&n.b, Options{NewPods: []string{"pod-b"}, CountFrom: at(12)})
			if err != nil {
				t.Fatal(err)
			}
			if a.NewPodShare == nil {
				t.Fatal("no new-pod share")
			}
			// Expected exactly: 180 requests after 12 s, of which pod-b
			// got share*120 (12..24 s) + late*60 (24..30 s).
			want := (c.share*120 + c.late*60) / 180
			if math.Abs(*a.NewPodShare-want) > 1e-9 {
				t.Errorf("new-pod share %v, want %v", *a.NewPodShare, want)
			}
			if a.LateNewPodShare == nil || math.Abs(*a.LateNewPodShare-c.late) > 0.07 {
				t.Errorf("late share %v, want ~%v", a.LateNewPodShare, c.late)
			}
			if got := a.Timeline.Requests(); got != 300 {
				t.Errorf("requests %d, want 300", got)
			}
			if a.BadLines != 0 {
				t.Errorf("bad lines %d", a.BadLines)
			}
		})
	}
}

func TestNoCountFromNoShare(t *testing.T) {
	var n ndjson
	n.request(at(1), "pod-a", 10, false)
	a, err := Read(&n.b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.NewPodShare != nil || a.StallMs != nil {
		t.Errorf("share %v stall %v, want none", a.NewPodShare, a.StallMs)
	}
}

func TestStallAndErrors(t *testing.T) {
	var n ndjson
	for i := 0; i < 100; i++ {
		n.request(at(float64(i)/10), "pod-a", 50, false)
	}
	// A request stuck across the scale-down at 5 s, ending at 35 s after
	// 30 s (the idle timeout), failed; one long request that ended before
	// the scale-down must not count.
	n.request(at(4.9), "pod-b", 4000, false)
	n.request(at(35), "", 30000, true)
	a, err := Read(&n.b, Options{StallFrom: at(5)})
	if err != nil {
		t.Fatal(err)
	}
	if a.StalledRequests != 1 {
		t.Errorf("stalled requests %d, want 1", a.StalledRequests)
	}
	if a.StallMs == nil || *a.StallMs != 30000 {
		t.Errorf("stall %v, want 30000", a.StallMs)
	}
	tl := a.Timeline
	if tl.Failed() != 1 || math.Abs(tl.ErrorRate()-1.0/102) > 1e-9 {
		t.Errorf("failed %d rate %v", tl.Failed(), tl.ErrorRate())
	}
	if p := tl.PerPod(); p["pod-a"] != 100 || p["pod-b"] != 1 || p["(none)"] != 1 {
		t.Errorf("per pod %v", p)
	}
	if p50 := tl.Latency().Quantile(0.5); math.Abs(p50-50) > 1 {
		t.Errorf("p50 %v, want ~50", p50)
	}
}

func TestBadAndForeignLines(t *testing.T) {
	var n ndjson
	n.request(at(1), "pod-a", 10, false)
	n.b.WriteString(`{"type":"Point","metric":"http_reqs","data":` + "\n") // truncated
	n.b.WriteString("not json at all\n")
	n.point("vus", at(1), 10, nil)
	n.point("http3_connections_opened", at(1), 1, map[string]string{"mode": "per-request"})
	n.point("http3_connections_opened", at(2), 1, map[string]string{"mode": "per-request"})
	n.b.WriteString(`{"type":"Point","metric":"http_reqs","data":{"time":"` + at(2).Format(time.RFC3339Nano) + `","value":1,"tags":{"pod":"pod-a"}}}`) // no final newline
	a, err := Read(strings.NewReader(n.b.String()), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.BadLines != 1 {
		t.Errorf("bad lines %d, want 1", a.BadLines)
	}
	if a.Timeline.Requests() != 2 {
		t.Errorf("requests %d, want 2", a.Timeline.Requests())
	}
	if a.Timeline.H3ConnectionsOpened() != 2 {
		t.Errorf("h3 connections %v, want 2", a.Timeline.H3ConnectionsOpened())
	}
}

// TestBoundedMemory feeds a million requests through a pipe and checks the
// timeline keeps one step per second, not per request.
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var n ndjson
	const total = 60000
	for i := 0; i < total; i++ {
		n.request(at(float64(i)/(total/60)), []string{"pod-a", "pod-b"}[i%2], float64(i%200), false)
	}
	a, err := Read(&n.b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := a.Timeline.Series(t0)
	if len(s.X) > 61 || a.Timeline.Requests() != total {
		t.Errorf("steps %d requests %d", len(s.X), a.Timeline.Requests())
	}
	if rps := s.PodRPS["pod-a"][10]; math.Abs(rps-total/60/2) > 2 {
		t.Errorf("pod-a rps at 10s %v, want ~%v", rps, total/60/2)
	}
}

func TestConvergence(t *testing.T) {
	// pod-b ready at 10 s; it serves nothing until `from`, then half of
	// every second's 10 requests (fair 0.5). Convergence is the start of
	// the first 2 s window at >= 80% of fair, measured from readiness.
	cases := []struct {
		name string
		from float64 // when pod-b starts serving; <0 never
		want *float64
	}{
		{"at once", 10, ptr(0)},
		{"after 7s", 17, ptr(7)},
		{"never", -1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n ndjson
			n.metric("http_reqs", "counter")
			for sec := 0; sec < 30; sec++ {
				for i := 0; i < 10; i++ {
					ts := at(float64(sec) + float64(i)/10)
					pod := "pod-a"
					if c.from >= 0 && float64(sec) >= c.from && i%2 == 1 {
						pod = "pod-b"
					}
					n.point("http_reqs", ts, 1, map[string]string{"pod": pod})
				}
			}
			a, err := Read(&n.b, Options{NewPods: []string{"pod-b"}, CountFrom: at(12), ReadyAt: at(10), Fair: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.want == nil && a.ConvergenceS != nil:
				t.Fatalf("converged at %v, want never", *a.ConvergenceS)
			case c.want != nil && a.ConvergenceS == nil:
				t.Fatalf("never converged, want %v", *c.want)
			case c.want != nil && math.Abs(*a.ConvergenceS-*c.want) > 1e-9:
				t.Fatalf("converged at %v, want %v", *a.ConvergenceS, *c.want)
			}
		})
	}
}

func ptr(v float64) *float64 { return &v }

// TestWebSocketMessagesAsRequests: with RequestMetric ws_msgs_received, the
// echoes per pod are the requests (and the share); http_reqs from the
// same run are not counted.
func TestWebSocketMessagesAsRequests(t *testing.T) {
	var n ndjson
	n.metric("ws_msgs_received", "counter")
	for i := range 200 {
		s := float64(i) / 10 // 20 s at 10 messages/s
		pod := "pod-a"
		if s >= 12 && i%4 == 0 {
			pod = "pod-b" // a quarter after 12 s: sessions opened on the new pod
		}
		n.point("ws_msgs_received", at(s), 1, map[string]string{"pod": pod, "url": "ws://x/ws", "status": "101"})
		n.point("http_reqs", at(s), 1, map[string]string{"pod": "pod-c"})
	}
	a, err := Read(&n.b, Options{NewPods: []string{"pod-b"}, CountFrom: at(12), RequestMetric: MetricWSMessages})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Timeline.Requests(); got != 200 {
		t.Errorf("requests %d, want the 200 messages", got)
	}
	if a.AfterPerPod["pod-c"] != 0 || a.NewPodShare == nil || math.Abs(*a.NewPodShare-0.25) > 0.01 {
		t.Errorf("after per pod %v, share %v; want 0.25 and no http_reqs counted", a.AfterPerPod, a.NewPodShare)
	}
	// Without the option the same stream counts only http_reqs.
	var m ndjson
	m.point("ws_msgs_received", at(1), 1, map[string]string{"pod": "pod-a"})
	m.point("http_reqs", at(1), 1, map[string]string{"pod": "pod-c"})
	b, err := Read(&m.b, Options{})
	if err != nil || b.Timeline.Requests() != 1 || b.Timeline.PerPod()["pod-c"] != 1 {
		t.Errorf("default unit: %v %v", err, b.Timeline.PerPod())
	}
}
