package dashboard

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

func TestParseConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		arg  string
		want Config
		err  string
	}{
		{name: "defaults", want: Config{Host: "127.0.0.1", Port: 5665, Period: 2 * time.Second}},
		{name: "env", env: map[string]string{"K6_WEB_DASHBOARD_HOST": "0.0.0.0", "K6_WEB_DASHBOARD_PORT": "0",
			"K6_WEB_DASHBOARD_PERIOD": "1s", "K6_WEB_DASHBOARD_OPEN": "true", "K6_WEB_DASHBOARD_EXPORT": "r.html"},
			want: Config{Host: "0.0.0.0", Port: 0, Period: time.Second, Open: true, Export: "r.html"}},
		{name: "arg wins over env", env: map[string]string{"K6_WEB_DASHBOARD_PORT": "0"}, arg: "port=-1&export=x.html",
			want: Config{Host: "127.0.0.1", Port: -1, Period: 2 * time.Second, Export: "x.html"}},
		{name: "commas", arg: "port=7000,period=500ms", want: Config{Host: "127.0.0.1", Port: 7000, Period: 500 * time.Millisecond}},
		{name: "bad port", env: map[string]string{"K6_WEB_DASHBOARD_PORT": "http"}, err: `K6_WEB_DASHBOARD_PORT: port="http"`},
		{name: "port range", arg: "port=70000", err: "out of range"},
		{name: "tiny period", arg: "period=1ms", err: "at least 100ms"},
		{name: "unknown key", arg: "colour=red", err: `unknown setting "colour"`},
		{name: "no value", arg: "port", err: "want key=value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseConfig(c.env, c.arg)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if !Enabled(map[string]string{"K6_WEB_DASHBOARD": "true"}) || Enabled(map[string]string{"K6_WEB_DASHBOARD": "false"}) || Enabled(nil) {
		t.Error("Enabled does not follow K6_WEB_DASHBOARD")
	}
}

// feed is a synthetic run: pod-a from the start, pod-b from 4 s, over two
// protocols (h1 on pod-a only), with one failure and connects.
type feed struct {
	reg   *ext.Registry
	start time.Time
}

func newFeed() feed {
	return feed{reg: ext.NewRegistry(), start: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
}

func (f feed) samples() []ext.Sample {
	var out []ext.Sample
	m := func(name string) *ext.Metric { return f.reg.Get(name) }
	for i := 0; i < 80; i++ { // 8 s, 10 requests/s
		at := f.start.Add(time.Duration(i) * 100 * time.Millisecond)
		pod, proto := "pod-a", "HTTP/1.1"
		if at.Sub(f.start) >= 4*time.Second && i%2 == 1 {
			pod, proto = "pod-b", "HTTP/2.0"
		}
		tags := ext.NewTagSet(map[string]string{"pod": pod, "proto": proto})
		connect := 0.0
		if i%10 == 0 {
			connect = 1.5
		}
		failed := 0.0
		if i == 7 {
			failed = 1
		}
		out = append(out,
			ext.Sample{Metric: m(mReqs), Time: at, Tags: tags, Value: 1},
			ext.Sample{Metric: m(mDuration), Time: at, Tags: tags, Value: float64(10 + i%5)},
			ext.Sample{Metric: m(mConnecting), Time: at, Tags: tags, Value: connect},
			ext.Sample{Metric: m(mFailed), Time: at, Tags: tags, Value: failed},
			ext.Sample{Metric: m(mIters), Time: at, Value: 1},
			ext.Sample{Metric: m(mVUs), Time: at, Value: 3},
		)
	}
	return out
}

func TestAggregator(t *testing.T) {
	f := newFeed()
	a := newAggregator(f.start, 2*time.Second)
	for _, s := range f.samples() {
		a.add(s)
	}
	pts := a.takeDirty()
	if len(pts) != 4 {
		t.Fatalf("%d periods, want 4", len(pts))
	}
	if again := a.takeDirty(); len(again) != 0 {
		t.Errorf("%d periods dirty after a push", len(again))
	}
	all := pts[0].G["*|*"]
	if all.Reqs != 20 || all.Pods["pod-a"].Reqs != 20 || all.Pods["pod-b"] != nil {
		t.Errorf("period 0: %+v", all)
	}
	if all.Failed != 1 || all.Pods["pod-a"].Conns != 2 {
		t.Errorf("period 0: failed %v, conns %v", all.Failed, all.Pods["pod-a"].Conns)
	}
	p3 := pts[3].G
	if p3["*|*"].Reqs != 20 || p3["*|*"].Pods["pod-b"].Reqs != 10 || p3["HTTP/2.0|*"].Reqs != 10 || p3["HTTP/1.1|-"].Pods["pod-b"] != nil {
		t.Errorf("period 3 groups wrong: all %+v h2 %+v", p3["*|*"], p3["HTTP/2.0|*"])
	}
	if q := p3["*|*"].P95; q < 13 || q > 14.5 {
		t.Errorf("p95 %v, want ~14", q)
	}
	if pts[1].VUs == nil || *pts[1].VUs != 3 || pts[1].Iters != 20 {
		t.Errorf("period 1 vus/iters: %+v", pts[1])
	}
	m := a.meta(f.start.Add(8 * time.Second))
	if m.Total["*|*"].Reqs != 80 || m.Total["*|*"].Pods["pod-b"].Reqs != 20 {
		t.Errorf("totals %+v", m.Total["*|*"])
	}
	if s := m.Seen["pod-b"]; s.First < 4 || s.First > 4.2 || s.Last < 7.8 {
		t.Errorf("pod-b seen %+v", s)
	}
	if strings.Join(m.Protos, ",") != "HTTP/1.1,HTTP/2.0" || strings.Join(m.Modes, ",") != "-" {
		t.Errorf("filters %v %v", m.Protos, m.Modes)
	}
}

// sseEvent reads the next event of an SSE stream.
func sseEvent(t *testing.T, r *bufio.Reader) (string, []byte) {
	t.Helper()
	var name string
	var data []byte
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = []byte(line[len("data: "):])
		}
	}
}

// TestServerStreams runs the output with a real server: a page connecting
// mid-run gets a snapshot, then updates, then done; a page that never
// reads does not hold the run up; the export is written at the end.
func TestServerStreams(t *testing.T) {
	f := newFeed()
	export := filepath.Join(t.TempDir(), "out", "report.html")
	events := filepath.Join(t.TempDir(), "events.jsonl")
	ev, _ := json.Marshal(map[string]any{"time": f.start.Add(4 * time.Second), "kind": "scale", "detail": "1->2"})
	if err := os.WriteFile(events, append(ev, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := output.New("web-dashboard=port=0&period=200ms&export="+export, output.Params{Registry: f.reg, StartTime: f.start,
		ScriptPath: "/x/scale.js", Env: map[string]string{LabEventsEnv: events}})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	d := o.(*Output)
	if !strings.HasPrefix(d.URL(), "http://127.0.0.1:") || !strings.Contains(o.Description(), d.URL()) {
		t.Fatalf("url %q, description %q", d.URL(), o.Description())
	}
	samples := f.samples()
	o.AddSamples(samples[:240])

	// A page that connects and never reads.
	stuck, err := http.Get(d.URL() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Body.Close()

	resp, err := http.Get(d.URL() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	name, data := sseEvent(t, r)
	var snap message
	if err := json.Unmarshal(data, &snap); name != "snapshot" || err != nil {
		t.Fatalf("first event %q: %v", name, err)
	}
	if snap.Meta.Total["*|*"].Reqs != 40 || len(snap.Meta.Markers) != 1 || snap.Meta.Markers[0].Label != "scale 1->2" {
		t.Fatalf("snapshot meta: reqs %v markers %+v", snap.Meta.Total["*|*"].Reqs, snap.Meta.Markers)
	}

	// Many updates while the stuck page reads nothing: AddSamples and the
	// pushes must not block.
	done := make(chan struct{})
	go func() {
		for i := 240; i < len(samples); i += 6 {
			o.AddSamples(samples[i : i+6])
			time.Sleep(5 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("AddSamples blocked")
	}
	var last message
	deadline := time.Now().Add(10 * time.Second)
	for last.Meta.Total == nil || last.Meta.Total["*|*"].Reqs != 80 {
		if time.Now().After(deadline) {
			t.Fatal("no update with every request")
		}
		name, data := sseEvent(t, r)
		if name != "update" {
			t.Fatalf("event %q before the end", name)
		}
		last = message{}
		if err := json.Unmarshal(data, &last); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- o.Stop() }()
	for {
		name, data := sseEvent(t, r)
		if name == "done" {
			break
		}
		var m message
		_ = json.Unmarshal(data, &m)
		if name != "update" {
			t.Fatalf("event %q", name)
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hung on a page that does not read")
	}
	page, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>spread run: scale</title>", `"pod-b"`, `"done":true`, `"label":"scale 1-\u003e2"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("export lacks %s", want)
		}
	}
	// The SVG namespace is a name, not a fetch; anything else is.
	rest := strings.ReplaceAll(string(page), `"http://www.w3.org/2000/svg"`, "")
	if strings.Contains(rest, "http://") || strings.Contains(rest, "https://") {
		t.Error("export refers to a network address")
	}
}

func TestHTMLOutputHasNoServer(t *testing.T) {
	f := newFeed()
	path := filepath.Join(t.TempDir(), "sub", "r.html")
	o, err := output.New("html="+path, output.Params{Registry: f.reg, StartTime: f.start, ScriptPath: "scripts/baseline_h1.js"})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	if d := o.Description(); d != "html ("+path+")" {
		t.Errorf("description %q", d)
	}
	if o.(*Output).URL() != "" {
		t.Error("html output started a server")
	}
	o.AddSamples(f.samples())
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "spread run: baseline_h1") || !strings.Contains(string(page), `"reqs":80`) {
		t.Errorf("report lacks the run:\n%.300s", page)
	}
	bad := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(bad, nil, 0o644)
	o, _ = output.New("html="+filepath.Join(bad, "r.html"), output.Params{Registry: f.reg})
	if err := o.Start(); err == nil {
		t.Error("Start accepted a path under a file")
	}
}

func TestHistogram(t *testing.T) {
	for _, v := range []float64{0.0007, 0.013, 1, 1.5, 20.7, 999.9, 123456} {
		if got := histValue(histBucket(v)); got < v*0.985 || got > v*1.015 {
			t.Errorf("bucket of %v stands for %v", v, got)
		}
	}
	h := newHist()
	for i := 1; i <= 1000; i++ {
		h.add(float64(i))
	}
	for range 1000 {
		h.add(0) // reused connections
	}
	if q := h.quantile(0.5); q != 0 {
		t.Errorf("median %v, want 0 (half the values are 0)", q)
	}
	if q := h.quantile(0.95); q < 890 || q > 910 {
		t.Errorf("p95 %v, want ~900", q)
	}
	if h.quantile(1) != 1000 || h.count() != 2000 {
		t.Errorf("max %v count %d", h.quantile(1), h.count())
	}
}
