// Command carbench compares spread's constant-arrival-rate executor, running
// k6/http against one echo-server (--delay 0), with vegeta used as a Go
// library at the same rate and with as many workers as spread has VUs
// (issue 17: achieved rate within 1% of the target, latency percentiles
// within noise of vegeta's). It is a benchmark, not a test (`make bench`):
//
//	go run ./spread/internal/executor/carbench -out docs/bench/car.md
//
// spread runs as a child process (`spread run`, metrics, tags and the
// summary export on); vegeta runs in this process, so its CPU is this
// process's rusage over its run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

func main() {
	var (
		rate     = flag.Int("rate", 20000, "iterations (requests) per second")
		duration = flag.Duration("d", 10*time.Second, "duration of each run")
		vus      = flag.Int("vus", 200, "spread's preAllocatedVUs and vegeta's workers")
		maxVUs   = flag.Int("max-vus", 1000, "spread's maxVUs and vegeta's max workers")
		rounds   = flag.Int("rounds", 3, "rounds; the two alternate within a round")
		out      = flag.String("out", "", "write the Markdown section here (default: stdout only)")
		spread   = flag.String("spread", "", "spread binary (default: go build from the workspace)")
	)
	flag.Parse()
	if err := run(*rate, *duration, *vus, *maxVUs, *rounds, *out, *spread); err != nil {
		fmt.Fprintln(os.Stderr, "carbench:", err)
		os.Exit(1)
	}
}

// result is one run of either tool.
type result struct {
	Requests, Dropped, Errors float64
	Achieved                  float64 // requests / configured duration
	P50, P90, P95, P99, Max   time.Duration
	CPU                       time.Duration
	// LagP50, LagP99, LagMax: how late requests were sent behind their
	// ideal time (vegeta only: its results carry their send time and
	// sequence number; LagKnown says so).
	LagP50, LagP99, LagMax time.Duration
	LagKnown               bool
}

func run(rate int, d time.Duration, vus, maxVUs, rounds int, out, spreadBin string) error {
	tmp, err := os.MkdirTemp("", "carbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer testbin.Cleanup()
	if spreadBin == "" {
		if spreadBin, err = testbin.Build("spread.dev/spread/cmd/spread"); err != nil {
			return err
		}
	}
	echoBin, err := testbin.Build(echotest.Package)
	if err != nil {
		return err
	}
	srv, err := echotest.Run(echotest.Config{Bin: echoBin, Pod: "bench", TLS: echotest.Off, H3: echotest.Off,
		Args: []string{"--delay", "0", "--access-log=false"}, ReadyTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer srv.Kill()
	target := srv.HTTPURL() + "/"
	script := filepath.Join(tmp, "car.js")
	js := fmt.Sprintf(`import http from 'k6/http';
export const options = {
  scenarios: { car: { executor: 'constant-arrival-rate', rate: %d, timeUnit: '1s', duration: '%s', preAllocatedVUs: %d, maxVUs: %d } },
  summaryTrendStats: ['avg', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};
export default function () { http.get(__ENV.TARGET); }
`, rate, d, vus, maxVUs)
	if err := os.WriteFile(script, []byte(js), 0o600); err != nil {
		return err
	}
	load := testbin.LoadAvg()
	var sp, vg []result
	for r := 0; r < rounds; r++ {
		s, err := runSpread(spreadBin, script, target, tmp, d)
		if err != nil {
			return err
		}
		v := runVegeta(target, rate, d, vus, maxVUs)
		fmt.Fprintf(os.Stderr, "round %d spread %.0f/s (dropped %.0f) p50 %v p99 %v cpu %v | vegeta %.0f/s p50 %v p99 %v cpu %v, sent late p50 %v p99 %v\n",
			r+1, s.Achieved, s.Dropped, s.P50, s.P99, s.CPU, v.Achieved, v.P50, v.P99, v.CPU, v.LagP50, v.LagP99)
		sp, vg = append(sp, s), append(vg, v)
	}
	md := report(sp, vg, rate, d, vus, maxVUs, rounds, load, js)
	fmt.Print(md)
	if out != "" {
		return os.WriteFile(out, []byte(md), 0o644)
	}
	return nil
}

func runSpread(bin, script, target, tmp string, d time.Duration) (result, error) {
	summary := filepath.Join(tmp, "summary.json")
	_ = os.Remove(summary)
	ctx, cancel := context.WithTimeout(context.Background(), d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "-q", "--no-summary", "--summary-export", summary, "-e", "TARGET="+target, script)
	var outb strings.Builder
	cmd.Stdout, cmd.Stderr = &outb, &outb
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("spread run: %v\n%s", err, outb.String())
	}
	raw, err := os.ReadFile(summary)
	if err != nil {
		return result{}, err
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		return result{}, err
	}
	num := func(m, k string) float64 { v, _ := sum.Metrics[m][k].(float64); return v }
	ms := func(k string) time.Duration {
		return time.Duration(num("http_req_duration", k) * float64(time.Millisecond))
	}
	res := result{Requests: num("http_reqs", "count"), Dropped: num("dropped_iterations", "count"),
		Errors: num("http_req_failed", "passes"),
		P50:    ms("med"), P90: ms("p(90)"), P95: ms("p(95)"), P99: ms("p(99)"), Max: ms("max"),
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if res.Requests == 0 {
		return result{}, errors.New("spread: summary export has no http_reqs")
	}
	res.Achieved = res.Requests / d.Seconds()
	return res, nil
}

func runVegeta(target string, rate int, d time.Duration, workers, maxWorkers int) result {
	before := selfCPU()
	atk := vegeta.NewAttacker(vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(maxWorkers)), vegeta.KeepAlive(true))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: target})
	var m vegeta.Metrics
	// vegeta's pacer sends request n at n/rate after the attack began (taken
	// here, microseconds before Attack takes its own); a result's Timestamp
	// is when a worker actually sent it, so the difference is how late it
	// went out: vegeta never drops a request, it sends it late when all its
	// workers are busy, and its latency is measured from that late send.
	period := time.Second / time.Duration(rate)
	var lags []time.Duration
	t0 := time.Now()
	for res := range atk.Attack(tr, vegeta.Rate{Freq: rate, Per: time.Second}, d, "carbench") {
		m.Add(res)
		lags = append(lags, max(0, res.Timestamp.Sub(t0)-time.Duration(res.Seq)*period))
	}
	m.Close()
	cpu := selfCPU() - before
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	pct := func(q float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(q*float64(len(lags))))]
	}
	// vegeta counts requests it started; those past the duration it never
	// starts (its pacer stops), so "dropped" is the shortfall from the target.
	want := float64(rate) * d.Seconds()
	return result{Requests: float64(m.Requests), Achieved: float64(m.Requests) / d.Seconds(),
		Dropped: max(0, want-float64(m.Requests)), Errors: float64(m.Requests) - m.Success*float64(m.Requests),
		P50: m.Latencies.P50, P90: m.Latencies.P90, P95: m.Latencies.P95, P99: m.Latencies.P99, Max: m.Latencies.Max, CPU: cpu,
		LagP50: pct(0.5), LagP99: pct(0.99), LagMax: pct(1), LagKnown: true}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func report(sp, vg []result, rate int, d time.Duration, vus, maxVUs, rounds int, load, js string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## constant-arrival-rate at %d iterations/s vs vegeta\n\n", rate)
	fmt.Fprintf(&b, "Measured %s on %s/%s, %d CPUs (load average at start: %s), one echo-server `--delay 0` on loopback. "+
		"spread: `spread run` of the script below (constant-arrival-rate, %d preAllocatedVUs, maxVUs %d; k6/http with its metrics, tags and the summary export on). "+
		"vegeta v12 as a Go library in the bench process (`vegeta.NewAttacker(Workers(%d), MaxWorkers(%d), KeepAlive(true))`, the same rate). "+
		"%s per run, %d rounds alternating the two. Achieved = requests ÷ the configured duration.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load, vus, maxVUs, vus, maxVUs, d, rounds)
	b.WriteString("| round | tool | achieved/s | vs target | dropped | errors | p50 | p90 | p95 | p99 | max | sent late p50 / p99 / max | CPU µs/request |\n")
	b.WriteString("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(i int, name string, r result) {
		lag := "—"
		if r.LagKnown {
			lag = msStr(r.LagP50) + " / " + msStr(r.LagP99) + " / " + msStr(r.LagMax)
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.3f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %.1f |\n", i+1, name, r.Achieved, r.Achieved/float64(rate),
			r.Dropped, r.Errors, msStr(r.P50), msStr(r.P90), msStr(r.P95), msStr(r.P99), msStr(r.Max), lag, float64(r.CPU)/float64(time.Microsecond)/max(1, r.Requests))
	}
	worst := 1e9
	var p50r, p99r []float64
	for i := range sp {
		row(i, "spread", sp[i])
		row(i, "vegeta", vg[i])
		worst = min(worst, sp[i].Achieved/float64(rate))
		p50r = append(p50r, float64(sp[i].P50)/float64(vg[i].P50))
		p99r = append(p99r, float64(sp[i].P99)/float64(vg[i].P99))
	}
	sort.Float64s(p50r)
	sort.Float64s(p99r)
	met := "missed"
	if worst >= 0.99 {
		met = "met"
	}
	fmt.Fprintf(&b, "\nGoal: achieved within 1%% of the target in every round: **%s** (worst %.3f). Latency, spread ÷ vegeta in the same round: p50 %.2f–%.2f, p99 %.2f–%.2f.\n",
		met, worst, p50r[0], p50r[len(p50r)-1], p99r[0], p99r[len(p99r)-1])
	b.WriteString("\nHow each measures. spread follows k6: `dropped_iterations` counts the starts that found no VU free with maxVUs " +
		"reached (a start that finds none free while more VUs may still be made waits for the first VU to be free and runs late; " +
		"VUs beyond preAllocatedVUs are made one at a time), and `http_req_duration` runs from the request's send to the " +
		"response's end (sending + waiting + receiving; a new connection's dial is in `http_req_connecting`, outside it). " +
		"vegeta never drops a request: when all its workers are busy its pacer waits, then sends what fell due in a burst, " +
		"and requests still unsent at the duration's end are never sent (its shortfall is shown as dropped); its latency runs " +
		"from the actual send (dial included) to the body's end. Neither latency includes how late a request went out, so " +
		"the two compare only while both send on time: the \"sent late\" column is vegeta's send time behind its schedule " +
		"(request n at n/rate); spread's starts are on time unless they waited for a VU (counted in neither column) or were dropped.\n")
	fmt.Fprintf(&b, "\nRerun: `go run ./spread/internal/executor/carbench -rate %d -d %s -vus %d -max-vus %d -rounds %d -out docs/bench/car.md`. The script:\n\n", rate, d, vus, maxVUs, rounds)
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		fmt.Fprintf(&b, "    %s\n", l)
	}
	return b.String()
}

func msStr(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
