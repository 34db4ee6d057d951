package analysis

import (
	"strings"
	"testing"
	"time"
)

// TestGRPCPoints: k6/net/grpc runs have no http_reqs; each grpc_req_duration
// point counts as a request of its pod, a failure unless status is 0.
func TestGRPCPoints(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := func(at time.Duration, pod, status string) string {
		return `{"type":"Point","metric":"grpc_req_duration","data":{"time":"` + t0.Add(at).Format(time.RFC3339Nano) +
			`","value":12.5,"tags":{"pod":"` + pod + `","status":"` + status + `","name":"/spread.echo.v1.Echo/Echo"}}}` + "\n"
	}
	var b strings.Builder
	for i := range 10 {
		b.WriteString(line(time.Duration(i)*100*time.Millisecond, "p1", "0"))
	}
	for i := range 10 {
		b.WriteString(line(2*time.Second+time.Duration(i)*100*time.Millisecond, "p2", "0"))
	}
	b.WriteString(line(3*time.Second, "", "14"))
	a, err := Read(strings.NewReader(b.String()), Options{CountFrom: t0.Add(time.Second), NewPods: []string{"p2"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Timeline.Requests() != 21 || a.Timeline.Failed() != 1 || a.Timeline.PerPod()["p2"] != 10 {
		t.Errorf("requests %d failed %d per pod %v", a.Timeline.Requests(), a.Timeline.Failed(), a.Timeline.PerPod())
	}
	if a.NewPodShare == nil || *a.NewPodShare < 0.9 || *a.NewPodShare > 0.92 {
		t.Errorf("new pod share %v, want 10/11", a.NewPodShare)
	}
}
