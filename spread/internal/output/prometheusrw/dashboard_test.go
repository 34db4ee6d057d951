package prometheusrw

// The checks of k8s/monitoring/dashboards (they need this package's
// naming; the k8s module may not import spread/internal/...), reading the
// files from the checkout.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	echometrics "spread.dev/echo-server/metrics"
	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/output"
	http3 "spread.dev/xk6-http3"
)

// repoRoot is the checkout, from this package's folder.
const repoRoot = "../../../.."

type dashboard struct {
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// trendStats are the stats the load-test Job asks spread to send.
func trendStats(t *testing.T) []TrendStat {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "k8s", "loadtest", "job.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var job struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Env []struct{ Name, Value string } `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &job); err != nil || len(job.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("k8s/loadtest/job.yaml: %v (%d containers)", err, len(job.Spec.Template.Spec.Containers))
	}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "K6_PROMETHEUS_RW_TREND_STATS" {
			st, err := ParseTrendStats(e.Value)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	st, _ := ParseTrendStats(DefaultTrendStats)
	return st
}

// emitted is every series name the project produces: spread's remote
// write of the built-in metrics (with the Job's trend stats) and
// echo-server's /metrics.
func emitted(t *testing.T, stats []TrendStat) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	// The built-in metrics plus those of the modules spread ships that
	// register their own (k6/x/http3's http3_*): a VU that imported it.
	vu := exttest.New(nil)
	http3.New().NewModuleInstance(vu)
	for _, m := range vu.Metrics().All() {
		for _, n := range SeriesNames(m, stats, false) {
			names[n] = true
		}
	}
	em := echometrics.New()
	// Vectors show only once a label set exists: touch one of each.
	em.Requests.WithLabelValues("h1", "200")
	em.ConnsRecycled.WithLabelValues("h1", "max_requests")
	em.RequestDuration.WithLabelValues("h1")
	mfs, err := em.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		n := mf.GetName()
		if strings.HasPrefix(n, "echo_") {
			names[n] = true
			if mf.GetType().String() == "HISTOGRAM" {
				names[n+"_bucket"], names[n+"_sum"], names[n+"_count"] = true, true, true
			}
		}
	}
	return names
}

// exprMetrics parses a Grafana query as PromQL and returns the metric names it reads.
func exprMetrics(expr string) ([]string, error) {
	q := strings.NewReplacer("$__rate_interval", "1m", "$__interval", "1m", "$__range", "5m", "${testid}", "x", "$testid", "x").Replace(expr)
	e, err := parser.NewParser(parser.Options{}).ParseExpr(q)
	if err != nil {
		return nil, err
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			out = append(out, name)
		}
		return nil
	})
	return out, nil
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "k8s", "monitoring", "dashboards", "spread.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var hasTestID bool
	for _, v := range d.Templating.List {
		hasTestID = hasTestID || v.Name == "testid"
	}
	if !hasTestID {
		t.Error("no testid variable")
	}
	names := emitted(t, trendStats(t))
	var all []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			all = append(all, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	queries := 0
	for _, p := range all {
		for _, tg := range p.Targets {
			queries++
			ms, err := exprMetrics(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %q is not PromQL: %v", p.Title, tg.Expr, err)
				continue
			}
			if len(ms) == 0 {
				t.Errorf("panel %q: %q reads no metric", p.Title, tg.Expr)
			}
			for _, m := range ms {
				if !names[m] {
					t.Errorf("panel %q reads %s, which neither spread nor echo-server emits", p.Title, m)
				}
			}
		}
	}
	if queries < 5 {
		t.Errorf("only %d queries", queries)
	}
	// The first row: requests/s per pod, latency per pod, errors, connections.
	var first []string
	for _, p := range d.Panels[1:] {
		if p.Type == "row" {
			break
		}
		first = append(first, strings.ToLower(p.Title))
	}
	joined := strings.Join(first, "|")
	for _, want := range []string{"requests/s per pod", "latency", "error", "connections"} {
		if !strings.Contains(joined, want) {
			t.Errorf("first row %q lacks %q", first, want)
		}
	}
	// Self-check: an unknown name is caught.
	if ms, _ := exprMetrics(`sum(rate(k6_http_reqs_totl{testid=~"$testid"}[$__rate_interval]))`); len(ms) != 1 || names[ms[0]] {
		t.Errorf("misspelt metric not caught: %v", ms)
	}
}

// TestK6DashboardNames sends samples of the metrics Grafana's public "k6
// Prometheus" dashboard reads through the real prometheus-rw output and
// checks that the series it queries arrive, with a testid label.
func TestK6DashboardNames(t *testing.T) {
	var mu sync.Mutex
	got := map[string]map[string]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		raw, err := snappy.Decode(nil, body)
		var wr prompb.WriteRequest
		if err == nil {
			err = wr.Unmarshal(raw)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, ts := range wr.Timeseries {
			ls := map[string]string{}
			for _, l := range ts.Labels {
				ls[l.Name] = l.Value
			}
			got[ls["__name__"]] = ls
		}
	}))
	defer srv.Close()
	stats := trendStats(t)
	reg := ext.NewRegistry()
	env := map[string]string{"K6_PROMETHEUS_RW_TREND_STATS": statList(stats), "K6_PROMETHEUS_RW_PUSH_INTERVAL": "1h"}
	o, err := output.New("prometheus-rw="+srv.URL, output.Params{Registry: reg, Env: env, TestID: "k6dash", Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tags := ext.NewTagSet(map[string]string{"pod": "echo-server-1", "proto": "HTTP/1.1", "status": "200", "method": "GET", "name": "GET /", "scenario": "default", "expected_response": "true"})
	var s []ext.Sample
	for _, m := range []string{ext.MetricHTTPReqs, ext.MetricHTTPReqDuration, ext.MetricHTTPReqFailed, ext.MetricChecks, ext.MetricVUs, ext.MetricDataSent, ext.MetricDataReceived, ext.MetricIterations} {
		s = append(s, ext.Sample{Metric: reg.Get(m), Time: now, Tags: tags, Value: 1})
	}
	o.AddSamples(s)
	if err := o.Stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"k6_http_reqs_total", "k6_http_req_failed_rate", "k6_checks_rate", "k6_vus", "k6_data_sent_total", "k6_data_received_total"}
	// The public dashboard's $stat variable picks k6_http_req_duration_<stat>.
	for _, st := range stats {
		want = append(want, "k6_http_req_duration_"+st.Suffix)
	}
	if !regexp.MustCompile(`^p\d+$`).MatchString(stats[len(stats)-2].Suffix) {
		t.Logf("stats: %v", stats)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, n := range want {
		ls, ok := got[n]
		if !ok {
			t.Errorf("the k6 dashboard reads %s: not sent (got %v)", n, keys(got))
			continue
		}
		if ls["testid"] != "k6dash" || ls["pod"] != "echo-server-1" {
			t.Errorf("%s labels %v: want testid and pod", n, ls)
		}
	}
}

func statList(st []TrendStat) string {
	var out []string
	for _, s := range st {
		out = append(out, s.Name)
	}
	return strings.Join(out, ",")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
