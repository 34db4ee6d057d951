package opentelemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/echo-server/testbin"
	"spread.dev/spread/ext"
	"spread.dev/spread/output"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(map[string]string{"K6_OTEL_EXPORTER_PROTOCOL": "http/protobuf", "K6_OTEL_HTTP_EXPORTER_ENDPOINT": "otel:4318",
		"K6_OTEL_METRIC_PREFIX": "k6_", "K6_OTEL_HEADERS": "a=1, b=2", "K6_OTEL_EXPORT_INTERVAL": "2s", "K6_OTEL_SINGLE_COUNTER_FOR_RATE": "false",
		"K6_OTEL_SERVICE_NAME": "load"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Exporter != "http" || c.HTTPEndpoint != "otel:4318" || c.Prefix != "k6_" || c.Headers["b"] != "2" || c.ExportInterval != 2*time.Second ||
		c.SingleCounterForRate || c.ServiceName != "load" || c.HTTPPath != "/v1/metrics" {
		t.Errorf("config %+v", c)
	}
	d, _ := ParseConfig(nil)
	if d.Exporter != "grpc" || d.GRPCEndpoint != "localhost:4317" || d.ServiceName != "k6" || d.FlushInterval != time.Second || d.ExportInterval != 10*time.Second {
		t.Errorf("defaults %+v", d)
	}
	for _, env := range []map[string]string{{"K6_OTEL_EXPORTER_TYPE": "udp"}, {"K6_OTEL_FLUSH_INTERVAL": "often"},
		{"K6_OTEL_HEADERS": "novalue"}, {"K6_OTEL_TLS_CLIENT_KEY": "k.pem"}, {"K6_OTEL_GRPC_EXPORTER_INSECURE": "maybe"}} {
		if _, err := ParseConfig(env); err == nil {
			t.Errorf("%v: no error", env)
		}
	}
}

// TestUnreachableCollector: no collector at the endpoint; recording never
// blocks, Stop is bounded, the failed exports are reported.
func TestUnreachableCollector(t *testing.T) {
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			addr := testbin.FreeAddr(t)
			var stderr bytes.Buffer
			reg := ext.NewRegistry()
			o, err := output.New("opentelemetry", output.Params{Registry: reg, Stderr: &stderr, Env: map[string]string{
				"K6_OTEL_EXPORTER_TYPE": proto, "K6_OTEL_GRPC_EXPORTER_ENDPOINT": addr, "K6_OTEL_GRPC_EXPORTER_INSECURE": "true",
				"K6_OTEL_HTTP_EXPORTER_ENDPOINT": addr, "K6_OTEL_HTTP_EXPORTER_INSECURE": "true",
				"K6_OTEL_EXPORT_INTERVAL": "300ms", "K6_OTEL_FLUSH_INTERVAL": "100ms"}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := o.Start(); err != nil {
				t.Fatal(err)
			}
			m := reg.Get("http_reqs")
			for i := 0; i < 1000; i++ {
				t0 := time.Now()
				o.AddSamples([]ext.Sample{{Metric: m, Time: time.Now(), Value: 1, Tags: ext.NewTagSet(map[string]string{"pod": "a"})}})
				if time.Since(t0) > 100*time.Millisecond {
					t.Fatal("AddSamples blocked")
				}
				if i%100 == 0 {
					time.Sleep(100 * time.Millisecond)
				}
			}
			if err := o.Stop(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 25*time.Second {
				t.Errorf("took %s with no collector", d)
			}
			if !strings.Contains(stderr.String(), "exports NOT delivered") {
				t.Errorf("report: %q", stderr.String())
			}
		})
	}
}

// buildCollector builds the OpenTelemetry Collector of testdata/otelcol from
// the collector project's modules (a module of its own, so spread's go.mod
// does not carry the collector).
func buildCollector(t *testing.T) string {
	t.Helper()
	src, _ := filepath.Abs(filepath.Join("testdata", "otelcol"))
	bin := filepath.Join(t.TempDir(), "otelcol")
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the collector: %v\n%s", err, out)
	}
	return bin
}

// sink receives what the collector forwards (OTLP/HTTP, JSON encoding).
type sink struct {
	mu   sync.Mutex
	reqs []map[string]any
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, m)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// point is one data point as the collector forwarded it.
type point struct {
	metric, unit, kind string
	service            string
	attrs              map[string]string
	value              float64 // sums and gauges; a histogram's count
}

func list(v any) []any { l, _ := v.([]any); return l }
func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func attrsOf(v any) map[string]string {
	out := map[string]string{}
	for _, a := range list(v) {
		kv := obj(a)
		val := obj(kv["value"])
		out[fmt.Sprint(kv["key"])] = fmt.Sprint(val["stringValue"])
	}
	return out
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case string: // OTLP JSON writes 64-bit integers as strings
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

func (s *sink) points() []point {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []point
	for _, req := range s.reqs {
		for _, rm := range list(req["resourceMetrics"]) {
			svc := attrsOf(obj(obj(rm)["resource"])["attributes"])["service.name"]
			for _, sm := range list(obj(rm)["scopeMetrics"]) {
				for _, mv := range list(obj(sm)["metrics"]) {
					m := obj(mv)
					name, _ := m["name"].(string)
					unit, _ := m["unit"].(string)
					for _, kind := range []string{"sum", "gauge", "histogram"} {
						d := obj(m[kind])
						for _, dp := range list(d["dataPoints"]) {
							p := obj(dp)
							v := num(p["asDouble"]) + num(p["asInt"])
							if kind == "histogram" {
								v = num(p["count"])
							}
							out = append(out, point{name, unit, kind, svc, attrsOf(p["attributes"]), v})
						}
					}
				}
			}
		}
	}
	return out
}

const script = `
import http from 'k6/http';
export const options = { vus: 4, duration: '3s' };
export default function () { http.get(__VU % 2 ? __ENV.A : __ENV.B); }
`

// TestCollectorReceivesTheRun: spread exports over OTLP gRPC and over
// OTLP/HTTP to a real OpenTelemetry Collector; what the collector passes on
// has k6's metric names with the prefix, the pod attribute, and request
// counts per pod equal to spread's summary.
func TestCollectorReceivesTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds an OpenTelemetry Collector and runs spread")
	}
	col := buildCollector(t)
	spread := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	echo := testbin.MustBuild(t, "spread.dev/echo-server/cmd/echo-server")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var addrs []string
	for _, pod := range []string{"pod-a", "pod-b"} {
		addr := testbin.FreeAddr(t)
		testbin.StartProcess(ctx, t, pod, echo, "--insecure-bind", addr, "--bind", "", "--quic-bind", "",
			"--metrics-bind", "", "--grpc-bind", "", "--delay", "10ms", "--pod-name", pod, "--access-log=false")
		testbin.WaitHTTP(ctx, t, "http://"+addr+"/healthz")
		addrs = append(addrs, addr)
	}
	dir := t.TempDir()
	sf := filepath.Join(dir, "s.js")
	if err := os.WriteFile(sf, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			recv := &sink{}
			srv := httptest.NewServer(recv)
			defer srv.Close()
			grpcAddr, httpAddr := testbin.FreeAddr(t), testbin.FreeAddr(t)
			conf := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
exporters:
  otlp_http:
    endpoint: %s
    encoding: json
    compression: none
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    metrics:
      receivers: [otlp]
      exporters: [otlp_http]
`, grpcAddr, httpAddr, srv.URL)
			cf := filepath.Join(t.TempDir(), "otelcol.yaml")
			if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			testbin.StartProcess(ctx, t, "otelcol", col, "--config", "file:"+cf)
			waitListening(t, "http://"+httpAddr+"/v1/metrics")
			summary := filepath.Join(t.TempDir(), "summary.json")
			cmd := exec.CommandContext(ctx, spread, "run", "-q", "--no-summary", "-e", "A=http://"+addrs[0], "-e", "B=http://"+addrs[1],
				"--out", "opentelemetry", "--summary-export", summary, sf)
			cmd.Env = append(os.Environ(), "K6_OTEL_EXPORTER_TYPE="+proto, "K6_OTEL_METRIC_PREFIX=k6_", "K6_OTEL_EXPORT_INTERVAL=500ms",
				"K6_OTEL_GRPC_EXPORTER_ENDPOINT="+grpcAddr, "K6_OTEL_GRPC_EXPORTER_INSECURE=true",
				"K6_OTEL_HTTP_EXPORTER_ENDPOINT="+httpAddr, "K6_OTEL_HTTP_EXPORTER_INSECURE=true")
			out, err := cmd.CombinedOutput()
			if err != nil || bytes.Contains(out, []byte("NOT delivered")) {
				t.Fatalf("spread run: %v\n%s", err, out)
			}
			var sum struct {
				Pods map[string]struct {
					Requests int64 `json:"requests"`
				} `json:"pods"`
			}
			data, _ := os.ReadFile(summary)
			if err := json.Unmarshal(data, &sum); err != nil || len(sum.Pods) != 2 {
				t.Fatalf("summary: %v %s", err, data)
			}
			// The collector batches nothing here, but forwards in its own
			// time: wait for the last cumulative values.
			deadline := time.Now().Add(20 * time.Second)
			for {
				got := map[string]float64{}
				last := map[string]float64{} // cumulative: the largest value per attribute set
				seen := map[string]bool{}
				for _, p := range recv.points() {
					seen[p.metric+"/"+p.kind+"/"+p.unit] = true
					if p.service != "k6" {
						t.Fatalf("service.name %q, want k6", p.service)
					}
					if p.metric == "k6_http_reqs" {
						k, _ := json.Marshal(p.attrs)
						if p.value > last[string(k)] {
							last[string(k)] = p.value
						}
					}
				}
				for k, v := range last {
					var a map[string]string
					_ = json.Unmarshal([]byte(k), &a)
					got[a["pod"]] += v
				}
				match := true
				for pod, s := range sum.Pods {
					if int64(got[pod]) != s.Requests {
						match = false
					}
				}
				if match {
					for _, want := range []string{"k6_http_reqs/sum/", "k6_http_req_duration/histogram/ms", "k6_http_req_failed/sum/", "k6_vus/gauge/", "k6_data_received/sum/By"} {
						if !seen[want] {
							t.Errorf("the collector forwarded no %s (saw %v)", want, seen)
						}
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("requests per pod at the collector %v, summary %+v", got, sum.Pods)
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
}

// waitListening waits until url answers at all (the collector's OTLP/HTTP
// receiver answers a GET with 405).
func waitListening(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not listening within 30s", url)
}
