package k8s

import (
	"spread.dev/echo-server/testbin"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDistributedSegments runs each scenario once whole, then as two
// spread processes at the same time with segments 0:1/2 and 1/2:1 (as
// --execution-segment, and as an Indexed Job's pods with
// --execution-segment-count=2 and JOB_COMPLETION_INDEX), all against one
// echo-server, and checks that the halves together ran exactly the
// iterations of the whole run, counted by spread and by the server.
func TestDistributedSegments(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the distributed runs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	spread, echo := binaries(t)
	addr := testbin.FreeAddr(t)
	metricsAddr := testbin.FreeAddr(t)
	testbin.StartProcess(ctx, t, "echo-server", echo, "--pod-name=pod-0", "--insecure-bind="+addr, "--bind=", "--quic-bind=", "--grpc-bind=",
		"--metrics-bind="+metricsAddr, "--delay=0", "--access-log=false")
	testbin.WaitHTTP(ctx, t, "http://"+addr+"/readyz")
	dir := t.TempDir()

	for _, tc := range []struct {
		name     string
		scenario string
		want     int
		indexed  bool // split with --execution-segment-count and JOB_COMPLETION_INDEX
	}{
		{"shared-iterations", `{executor: 'shared-iterations', vus: 3, iterations: 37}`, 37, false},
		{"per-vu-iterations", `{executor: 'per-vu-iterations', vus: 5, iterations: 3}`, 15, true},
		{"constant-arrival-rate", `{executor: 'constant-arrival-rate', rate: 30, timeUnit: '1s', duration: '2s', preAllocatedVUs: 20}`, 60, false},
		{"ramping-arrival-rate", `{executor: 'ramping-arrival-rate', startRate: 10, timeUnit: '1s', preAllocatedVUs: 20, stages: [{target: 40, duration: '2s'}]}`, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := filepath.Join(dir, tc.name+".js")
			src := fmt.Sprintf(`import http from 'k6/http';
export const options = { scenarios: { s: %s } };
export default function () { http.get(__ENV.TARGET); }
`, tc.scenario)
			if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			run := func(label string, args []string, env ...string) (iters int) {
				summary := filepath.Join(dir, tc.name+"-"+label+".json")
				argv := append([]string{"run", "-q", "--no-summary", "-e", "TARGET=http://" + addr + "/", "--summary-export", summary}, args...)
				cmd := exec.CommandContext(ctx, spread, append(argv, script)...)
				cmd.Env = append(os.Environ(), env...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Errorf("%s: spread %v: %v\n%s", label, argv, err, out.String())
					return 0
				}
				n, dropped := iterations(t, summary)
				if dropped != 0 {
					t.Logf("%s: %d dropped iterations (the machine is too busy for this rate)", label, dropped)
				}
				if t.Failed() {
					t.Logf("%s output:\n%s", label, out.String())
				}
				return n
			}
			before := serverRequests(t, metricsAddr)
			whole := run("whole", nil)
			mid := serverRequests(t, metricsAddr)
			if tc.want != 0 && whole != tc.want {
				t.Errorf("the whole run made %d iterations, want %d", whole, tc.want)
			}
			if mid-before != whole {
				t.Errorf("the whole run: server counted %d requests, spread %d iterations", mid-before, whole)
			}

			var halves [2]int
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if tc.indexed {
						halves[i] = run(fmt.Sprintf("pod%d", i), []string{"--execution-segment-count=2"}, "JOB_COMPLETION_INDEX="+strconv.Itoa(i))
					} else {
						halves[i] = run(fmt.Sprintf("seg%d", i), []string{"--execution-segment=" + []string{"0:1/2", "1/2:1"}[i]})
					}
				}()
			}
			wg.Wait()
			after := serverRequests(t, metricsAddr)
			t.Logf("whole %d iterations; halves %v; server %d then %d", whole, halves, mid-before, after-mid)
			if halves[0]+halves[1] != whole {
				t.Errorf("the halves made %d + %d iterations, the whole run %d", halves[0], halves[1], whole)
			}
			if after-mid != whole {
				t.Errorf("the halves: server counted %d requests, want %d", after-mid, whole)
			}
			if halves[0] == 0 || halves[1] == 0 {
				t.Errorf("one half did nothing: %v", halves)
			}
		})
	}
}

// iterations reads the iterations and dropped iterations of a --summary-export.
func iterations(t *testing.T, path string) (int, int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return int(s.Metrics["iterations"]["count"]), int(s.Metrics["dropped_iterations"]["count"])
}

// serverRequests sums echo_requests_total from the echo-server's /metrics.
func serverRequests(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "echo_requests_total{") || strings.HasPrefix(line, "echo_requests_total ") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return int(total)
}
