package report

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := 1; i <= 10000; i++ {
		h.Add(float64(i) / 10) // 0.1 .. 1000 ms, uniform
	}
	h.Add(math.NaN())
	for _, c := range []struct{ q, want float64 }{{0.5, 500}, {0.95, 950}, {0.99, 990}, {1, 1000}} {
		got := h.Quantile(c.q)
		if math.Abs(got-c.want)/c.want > 0.011 {
			t.Errorf("q%v = %v, want %v within 1.1%%", c.q, got, c.want)
		}
	}
	if h.Count() != 10000 || h.Max() != 1000 {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
	if NewHistogram().Quantile(0.5) != 0 {
		t.Error("empty histogram quantile not 0")
	}
	z := NewHistogram()
	z.Add(0)
	z.Add(-1)
	if z.Quantile(0.5) != 0 {
		t.Errorf("zero values: %v", z.Quantile(0.5))
	}
	m := NewHistogram()
	m.Merge(h)
	if m.Count() != h.Count() || m.Quantile(0.5) != h.Quantile(0.5) {
		t.Error("merge changed the distribution")
	}
}

var t0 = time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)

// synthetic builds a timeline: pod-a alone for 10 s, then pod-b joins.
func synthetic() *Timeline {
	tl := NewTimeline(time.Second)
	for i := 0; i < 200; i++ {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		pod := "pod-a"
		if i >= 100 && i%2 == 1 {
			pod = "pod-b"
		}
		tags := map[string]string{"pod": pod}
		tl.Add("http_reqs", at, 1, tags)
		tl.Add("http_req_duration", at, float64(100+i), tags)
		failed := 0.0
		if i == 150 {
			failed = 1
		}
		tl.Add("http_req_failed", at, failed, tags)
		tl.Add("vus", at, 10, nil)
	}
	return tl
}

func TestTimelineSeries(t *testing.T) {
	tl := synthetic()
	s := tl.Series(t0.Add(-2 * time.Second))
	if len(s.X) != 22 || s.X[0] != 0 || s.X[2] != 2 {
		t.Fatalf("x = %v", s.X)
	}
	if strings.Join(s.Pods, ",") != "pod-a,pod-b" {
		t.Errorf("pods %v", s.Pods)
	}
	// Step 2 (t0..t0+1s): 10 requests on pod-a; step 12: 5 and 5.
	if s.PodRPS["pod-a"][2] != 10 || s.PodRPS["pod-b"][2] != 0 || s.PodRPS["pod-a"][12] != 5 || s.PodRPS["pod-b"][12] != 5 {
		t.Errorf("rps a=%v b=%v", s.PodRPS["pod-a"], s.PodRPS["pod-b"])
	}
	if s.Has[0] || !s.Has[2] || s.P50[0] != 0 {
		t.Errorf("gap handling: has=%v", s.Has)
	}
	if e := s.Errors[2+15]; e != 1 {
		t.Errorf("errors at step 17 = %v (%v)", e, s.Errors)
	}
	if p := s.P95[2]; math.Abs(p-109) > 2 {
		t.Errorf("p95 of first second %v, want ~109", p)
	}
	sum := Summarize("x", tl)
	if sum.Requests != 200 || sum.PerPod["pod-b"] != 50 || sum.Failed != 1 || math.Abs(sum.TopPodShare-0.75) > 1e-9 {
		t.Errorf("summary %+v", sum)
	}
	if math.Abs(sum.DurationS-19.9) > 1e-9 || math.Abs(sum.RPS-200/19.9) > 1e-9 {
		t.Errorf("duration %v rps %v", sum.DurationS, sum.RPS)
	}
}

func ptr(v float64) *float64 { return &v }

func TestRenderTableMatchesSummary(t *testing.T) {
	tl := synthetic()
	s := Summarize("h1-keepalive-scale", tl)
	s.Protocol, s.Mode, s.Proxy, s.ReplicasBefore, s.ReplicasAfter = "h1", "keep-alive", "userspace", 1, 2
	s.ScaleAtS, s.NewPodShare, s.FairShare, s.Expected, s.Verdict = ptr(10), ptr(0.4999), ptr(0.5), "fair", "as-expected"
	s.Description = `<script>alert("x")</script>`
	r := Report{Title: "t", Command: "spread experiments", Runs: []Run{
		{Summary: s, Series: tl.Series(t0), Markers: []Marker{{AtS: 10, Label: "scale to 2", Kind: "scale"}, {AtS: 10.4, Label: "+pod-b ready", Kind: "pod-added"}}},
		{Summary: Summary{Name: "empty"}},
	}}
	var buf bytes.Buffer
	if err := Render(&buf, r); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if strings.Contains(page, `<script>alert`) {
		t.Error("description not escaped")
	}
	// The SVG namespace URI is not a fetch; nothing else may be.
	stripped := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, bad := range []string{"http://", "https://", "<script", "<link", "@import", "src="} {
		if strings.Contains(stripped, bad) {
			t.Errorf("page contains %q (must be self-contained)", bad)
		}
	}
	if got := strings.Count(page, `<svg class="chart"`); got != 6 {
		t.Errorf("%d charts, want 6", got)
	}
	if !strings.Contains(page, `no data`) {
		t.Error("empty run has no 'no data' chart")
	}
	// pod lines are drawn with real points.
	re := regexp.MustCompile(`data-series="pod-b" d="(M[^"]+)"`)
	m := re.FindStringSubmatch(page)
	if m == nil || strings.Count(m[1], "L") < 10 {
		t.Errorf("pod-b path missing or short: %v", m)
	}
	if !strings.Contains(page, "scale to 2") {
		t.Error("scale marker missing")
	}
	// Every table cell carries the summary.json value.
	js, _ := json.Marshal(s)
	var want map[string]any
	_ = json.Unmarshal(js, &want)
	cellRe := regexp.MustCompile(`<tr data-name="h1-keepalive-scale">(.*?)</tr>`)
	row := cellRe.FindStringSubmatch(page)
	if row == nil {
		t.Fatal("row missing")
	}
	tdRe := regexp.MustCompile(`<td data-key="([a-z_0-9]+)"(?: data-value="([^"]*)")?[^>]*>([^<]*)</td>`)
	checked := 0
	for _, td := range tdRe.FindAllStringSubmatch(row[1], -1) {
		key, value, text := td[1], td[2], td[3]
		w, ok := want[key]
		if !ok {
			continue
		}
		checked++
		switch w := w.(type) {
		case float64:
			shown, err := strconv.ParseFloat(text, 64)
			decimals := 0
			if i := strings.IndexByte(text, '.'); i >= 0 {
				decimals = len(text) - i - 1
			}
			if err != nil || math.Abs(shown-w) > 0.5*math.Pow(10, -float64(decimals))+1e-9 {
				t.Errorf("%s shows %q, summary has %v", key, text, w)
			}
			if v, _ := strconv.ParseFloat(value, 64); v != w {
				t.Errorf("%s data-value %q, summary has %v", key, value, w)
			}
		case string:
			if text != w {
				t.Errorf("%s shows %q, summary has %q", key, text, w)
			}
		}
	}
	if checked < 12 {
		t.Errorf("only %d cells checked", checked)
	}
}

func TestNiceNumbers(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1.2, 2}, {240, 250}, {251, 500}, {9.9, 10}} {
		if got := niceCeil(c.in); got != c.want {
			t.Errorf("niceCeil(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// A run starting mid-second and ending mid-second at a steady 10 req/s
// must chart 10 req/s at both ends, from x = 0, not dips and a negative x.
func TestTimelineSeriesPartialSteps(t *testing.T) {
	origin := time.Date(2026, 11, 27, 20, 0, 0, 600_000_000, time.UTC) // .6 into a clock second
	tl := NewTimeline(time.Second)
	for i := 0; i < 30; i++ { // 10 req/s from origin+0.05s to origin+2.95s
		tl.Add("http_reqs", origin.Add(50*time.Millisecond+time.Duration(i)*100*time.Millisecond), 1, map[string]string{"pod": "p"})
	}
	s := tl.Series(origin)
	if len(s.X) != 4 || s.X[0] != 0 || math.Abs(s.X[1]-0.4) > 1e-9 {
		t.Fatalf("x = %v, want 0, 0.4, 1.4, 2.4", s.X)
	}
	for i, v := range s.PodRPS["p"] {
		if math.Abs(v-10) > 2 {
			t.Errorf("step %d (x=%.1f): %.2f req/s, want ~10 (all %v)", i, s.X[i], v, s.PodRPS["p"])
		}
	}
}

// A plain run (no experiment) shows no empty experiment-only columns; an
// experiment's report keeps them.
func TestRenderHidesColumnsEmptyInEveryRun(t *testing.T) {
	plain := Summary{Name: "run", Requests: 10, RPS: 5, PerPod: map[string]int64{"p": 10}, ReplicasBefore: 1, ReplicasAfter: 1}
	var b strings.Builder
	if err := Render(&b, Report{Title: "t", Runs: []Run{{Summary: plain}}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, key := range []string{"mode", "proxy", "scale_at_s", "new_pod_share", "fair_share", "stall_s", "expected", "verdict"} {
		if strings.Contains(page, `data-key="`+key+`"`) {
			t.Errorf("plain run's table has the empty column %q", key)
		}
	}
	for _, key := range []string{"name", "requests", "rps", "p95_ms"} {
		if !strings.Contains(page, `<th data-key="`+key+`"`) || !strings.Contains(page, `<td data-key="`+key+`"`) {
			t.Errorf("column %q missing", key)
		}
	}
	exp := plain
	exp.Mode, exp.Expected, exp.Verdict = "keep-alive", "zero", "as-expected"
	b.Reset()
	if err := Render(&b, Report{Title: "t", Runs: []Run{{Summary: plain}, {Summary: exp}}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `<th data-key="verdict"`) || strings.Count(b.String(), `<td data-key="verdict"`) != 2 {
		t.Error("verdict column dropped although one run has a verdict")
	}
}
