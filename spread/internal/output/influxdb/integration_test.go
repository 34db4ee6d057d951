package influxdb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// startInfluxDB runs Debian's influxd (package influxdb, 1.6) on loopback
// ports of its own with its data in a temp dir, or skips.
func startInfluxDB(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin, err := exec.LookPath("influxd")
	if err != nil {
		t.Skip("influxd not installed (Debian package influxdb); skipping the InfluxDB test")
	}
	dir := t.TempDir()
	httpAddr, rpcAddr := testbin.FreeAddr(t), testbin.FreeAddr(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = %q
  log-enabled = false
[continuous_queries]
  enabled = false
`, rpcAddr, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpAddr)
	cf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.StartProcess(ctx, t, "influxd", bin, "-config", cf)
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("influxd not up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// query runs InfluxQL and returns the rows of every series, by the
// series' tags (JSON of the tags map).
func query(t *testing.T, base, db, q string) map[string][][]any {
	t.Helper()
	resp, err := http.Get(base + "/query?" + url.Values{"db": {db}, "q": {q}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags   map[string]string `json:"tags"`
				Values [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	rows := map[string][][]any{}
	for _, r := range out.Results {
		if r.Error != "" {
			t.Fatalf("%s: %s", q, r.Error)
		}
		for _, s := range r.Series {
			k, _ := json.Marshal(s.Tags)
			rows[string(k)] = s.Values
		}
	}
	return rows
}

const script = `
import http from 'k6/http';
import { check } from 'k6';
export const options = { vus: 4, duration: '3s' };
export default function () {
  const r = http.get(__VU % 2 ? __ENV.A : __ENV.B);
  check(r, { 'status is 200': (r) => r.status === 200 });
}
`

// TestInfluxDBStoresTheRun runs spread against two echo-servers with
// --out influxdb into a real InfluxDB: the counts it stores equal spread's
// summary, per pod too, and the InfluxQL queries of the classic k6 Grafana
// dashboard (grafana.com 2587) return data.
func TestInfluxDBStoresTheRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs influxd, spread and echo-server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := startInfluxDB(t, ctx)
	spread := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	echo := testbin.MustBuild(t, "spread.dev/echo-server/cmd/echo-server")
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
	summary := filepath.Join(dir, "summary.json")
	cmd := exec.CommandContext(ctx, spread, "run", "-q", "--no-summary", "-e", "A=http://"+addrs[0], "-e", "B=http://"+addrs[1],
		"--out", "influxdb="+base+"/k6test", "--summary-export", summary, sf)
	cmd.Env = append(os.Environ(), "K6_INFLUXDB_PUSH_INTERVAL=200ms")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spread run: %v\n%s", err, out)
	} else if bytes.Contains(out, []byte("NOT delivered")) {
		t.Fatalf("samples lost:\n%s", out)
	}
	var sum struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
		Pods    map[string]struct {
			Requests int64 `json:"requests"`
		} `json:"pods"`
	}
	data, err := os.ReadFile(summary)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	want := sum.Metrics["http_reqs"]["count"]
	if want < 20 {
		t.Fatalf("only %v requests in the summary", want)
	}
	got := query(t, base, "k6test", `SELECT count("value") FROM "http_reqs"`)["null"]
	if len(got) != 1 || got[0][1].(float64) != want {
		t.Errorf("InfluxDB counts %v http_reqs, the summary %v", got, want)
	}
	for name, m := range map[string]string{"iterations": "iterations", "checks": "checks"} {
		if w, ok := sum.Metrics[m]["count"]; ok {
			r := query(t, base, "k6test", fmt.Sprintf(`SELECT sum("value") FROM %q`, name))["null"]
			if len(r) != 1 || r[0][1].(float64) != w {
				t.Errorf("%s: InfluxDB sums %v, the summary counts %v", name, r, w)
			}
		}
	}
	byPod := query(t, base, "k6test", `SELECT count("value") FROM "http_reqs" GROUP BY "pod"`)
	for pod, p := range sum.Pods {
		r := byPod[fmt.Sprintf(`{"pod":%q}`, pod)]
		if len(r) != 1 || int64(r[0][1].(float64)) != p.Requests {
			t.Errorf("pod %s: InfluxDB %v, summary %d", pod, r, p.Requests)
		}
	}
	if len(sum.Pods) != 2 {
		t.Errorf("summary pods %v", sum.Pods)
	}

	// The classic k6 dashboard's queries, with Grafana's variables filled in.
	tf := "time > now() - 1h"
	for _, q := range []string{
		`SELECT max("value") FROM "vus" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "http_reqs" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "http_reqs" WHERE ` + tf + ` GROUP BY time(1s), "pod" fill(none)`,
		`SELECT mean("value") FROM "http_req_duration" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT max("value") FROM "http_req_duration" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT median("value") FROM "http_req_duration" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT percentile("value", 90) FROM "http_req_duration" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT percentile("value", 95) FROM "http_req_duration" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT mean("value") FROM "http_req_blocked" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT mean("value") FROM "http_req_connecting" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT mean("value") FROM "http_req_waiting" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "data_sent" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "data_received" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "iterations" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT sum("value") FROM "checks" WHERE ` + tf + ` GROUP BY time(1s) fill(none)`,
		`SELECT mean("value"), max("value"), percentile("value", 95) FROM "http_req_duration" WHERE ` + tf + ` GROUP BY "name", "method", "status", "pod"`,
	} {
		rows := query(t, base, "k6test", q)
		n := 0
		for _, r := range rows {
			n += len(r)
		}
		if n == 0 {
			t.Errorf("no data: %s", q)
		}
	}
	if rows := query(t, base, "k6test", `SHOW TAG VALUES FROM "http_reqs" WITH KEY = "pod"`); len(rows) == 0 {
		t.Error("no pod tag values")
	}
}

// TestUnreachableAndSlowStore: a store that refuses connections or never
// answers does not hold AddSamples up, Stop ends in bounded time, and the
// lost samples are counted in the end-of-run line.
func TestUnreachableAndSlowStore(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	for name, base := range map[string]string{"unreachable": "http://" + testbin.FreeAddr(t), "slow": slow.URL} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			reg := ext.NewRegistry()
			o, err := output.New("influxdb="+base+"/db", output.Params{Registry: reg, Stderr: &stderr,
				Env: map[string]string{"K6_INFLUXDB_PUSH_INTERVAL": "100ms"}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := o.Start(); err != nil {
				t.Fatal(err)
			}
			m := reg.Get("http_reqs")
			for i := 0; i < 2000; i++ {
				t0 := time.Now()
				o.AddSamples([]ext.Sample{{Metric: m, Time: time.Now(), Value: 1, Tags: ext.NewTagSet(map[string]string{"pod": "a"})}})
				if d := time.Since(t0); d > 100*time.Millisecond {
					t.Fatalf("AddSamples took %s", d)
				}
				if i%200 == 0 {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if err := o.Stop(); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > 12*time.Second {
				t.Errorf("start to stop took %s with a bad store", d)
			}
			if !strings.Contains(stderr.String(), "2000 of 2000 samples NOT delivered") {
				t.Errorf("end-of-run report: %q", stderr.String())
			}
		})
	}
}
