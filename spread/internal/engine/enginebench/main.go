// Command enginebench measures spread's engine (not a test; `make bench`):
// resident memory per VU with 1000 VUs running sleep(1) iterations,
// iterations per second of an empty default function on one core, and
// memory while a script adds 10 million Trend samples. Each figure comes
// with a peer measured in the same run: bare goja runtimes doing the same
// work without the engine, the floor the engine's overhead is judged by.
//
//	go run ./spread/internal/engine/enginebench -spread bin/spread -out docs/bench/engine.md
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"spread.dev/echo-server/testbin"
)

const (
	sleepScript = `import { sleep } from 'k6';
export default function () { sleep(1); }
`
	emptyScript = `export default function () {}
`
	trendScript = `import { Trend } from 'k6/metrics';
const t = new Trend('bench_trend', true);
export default function () { for (let i = 0; i < 10000; i++) { t.add(i % 5000); } }
`
)

func main() {
	spread := flag.String("spread", "bin/spread", "spread binary to measure")
	out := flag.String("out", "", "write the markdown table here (default stdout only)")
	vus := flag.Int("vus", 1000, "VUs for the memory measurement")
	peer := flag.String("peer", "", "internal: run a peer workload (goja-vus N | goja-iters SECONDS)")
	peerN := flag.Int("n", 0, "internal: peer size")
	flag.Parse()
	if *peer != "" {
		runPeer(*peer, *peerN)
		return
	}
	if err := run(*spread, *out, *vus); err != nil {
		fmt.Fprintln(os.Stderr, "enginebench:", err)
		os.Exit(1)
	}
}

func run(spread, out string, vus int) error {
	spread, err := filepath.Abs(spread)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "enginebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for name, src := range map[string]string{"sleep.js": sleepScript, "empty.js": emptyScript, "trend.js": trendScript} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var rows [][]string

	// 1. Memory per VU: 1000 VUs sleeping 1 s per iteration, and 1 VU as
	// the baseline, so the per-VU figure excludes the process's fixed cost.
	fmt.Fprintf(os.Stderr, "memory: %d VUs running sleep(1) for 20s...\n", vus)
	many, err := measure(dir, nil, spread, "run", "-q", "--no-summary", "-u", strconv.Itoa(vus), "-d", "20s", "sleep.js")
	if err != nil {
		return err
	}
	one, err := measure(dir, nil, spread, "run", "-q", "--no-summary", "-u", "1", "-d", "20s", "sleep.js")
	if err != nil {
		return err
	}
	peerMany, err := measure(dir, nil, self, "-peer", "goja-vus", "-n", strconv.Itoa(vus))
	if err != nil {
		return err
	}
	peerOne, err := measure(dir, nil, self, "-peer", "goja-vus", "-n", "1")
	if err != nil {
		return err
	}
	perVU := float64(many.peakKB-one.peakKB) / float64(vus-1) / 1024
	perVUPeer := float64(peerMany.peakKB-peerOne.peakKB) / float64(vus-1) / 1024
	rows = append(rows, []string{
		fmt.Sprintf("resident memory per VU, %d VUs in sleep(1) (peak RSS %d VUs − 1 VU, ÷ %d)", vus, vus, vus-1),
		fmt.Sprintf("%.3f MiB", perVU), fmt.Sprintf("%.3f MiB", perVUPeer), ratio(perVU, perVUPeer), "≤ 1 MiB",
	})
	rows = append(rows, []string{
		fmt.Sprintf("peak RSS of the whole process, %d VUs", vus),
		fmt.Sprintf("%.1f MiB", float64(many.peakKB)/1024), fmt.Sprintf("%.1f MiB", float64(peerMany.peakKB)/1024),
		ratio(float64(many.peakKB), float64(peerMany.peakKB)), "",
	})

	// 2. Iterations per second of an empty function on one core.
	fmt.Fprintln(os.Stderr, "throughput: empty default function, one core, 10s...")
	export := filepath.Join(dir, "iters.json")
	oneCore := []string{"GOMAXPROCS=1"}
	args := []string{spread, "run", "-q", "--no-summary", "-u", "10", "-d", "10s", "--summary-export", export, "empty.js"}
	if _, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{"taskset", "-c", "0"}, args...)
	}
	sres, err := measure(dir, oneCore, args[0], args[1:]...)
	if err != nil {
		return err
	}
	count, err := exportedValue(export, "iterations", "count")
	if err != nil {
		return err
	}
	rate := count / sres.wall.Seconds()
	perCPU := count / sres.cpu.Seconds()
	peerArgs := []string{self, "-peer", "goja-iters", "-n", "10"}
	if _, err := exec.LookPath("taskset"); err == nil {
		peerArgs = append([]string{"taskset", "-c", "0"}, peerArgs...)
	}
	pres, err := measure(dir, oneCore, peerArgs[0], peerArgs[1:]...)
	if err != nil {
		return err
	}
	peerCount, _ := strconv.ParseFloat(strings.TrimSpace(pres.stdout), 64)
	peerRate := peerCount / 10
	peerPerCPU := peerCount / pres.cpu.Seconds()
	rows = append(rows, []string{
		"iterations/s (wall clock), empty default function, 10 VUs, GOMAXPROCS=1 on one core (taskset), 10 s",
		fmt.Sprintf("%.0f", rate), fmt.Sprintf("%.0f", peerRate), ratio(rate, peerRate), "",
	})
	rows = append(rows, []string{
		"iterations per CPU-second (same runs; robust when the machine is shared)",
		fmt.Sprintf("%.0f", perCPU), fmt.Sprintf("%.0f", peerPerCPU), ratio(perCPU, peerPerCPU), "",
	})

	// 3. Memory with 10 million Trend samples, against 1 million.
	fmt.Fprintln(os.Stderr, "trend: 1M and 10M samples...")
	small, err := measure(dir, nil, spread, "run", "-q", "--no-summary", "-u", "1", "-i", "100", "trend.js")
	if err != nil {
		return err
	}
	big, err := measure(dir, nil, spread, "run", "-q", "--no-summary", "-u", "1", "-i", "1000", "trend.js")
	if err != nil {
		return err
	}
	rows = append(rows, []string{
		"peak RSS after 10 million Trend samples (1 VU, 1000 iterations × 10,000 add())",
		fmt.Sprintf("%.1f MiB", float64(big.peakKB)/1024), fmt.Sprintf("%.1f MiB (1 million samples)", float64(small.peakKB)/1024),
		ratio(float64(big.peakKB), float64(small.peakKB)), "flat, within tens of MiB",
	})
	rows = append(rows, []string{
		"CPU time for 10 million Trend samples (wall clock in brackets)",
		fmt.Sprintf("%s (%s)", big.cpu.Round(100*time.Millisecond), big.wall.Round(100*time.Millisecond)),
		fmt.Sprintf("%s (%s) for 1 million", small.cpu.Round(100*time.Millisecond), small.wall.Round(100*time.Millisecond)),
		ratio(big.cpu.Seconds(), small.cpu.Seconds()), "",
	})

	md := render(rows, spread)
	fmt.Print(md)
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(md), 0o644)
	}
	return nil
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func render(rows [][]string, spread string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Engine\n\nMeasured %s on %d CPUs (%s/%s, %s; load average at the end: %s). Peer: bare goja runtimes running the same\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(),
		testbin.LoadAvg())
	b.WriteString("script without the engine (no modules, tags, samples or executors): the floor of what a JS VU costs.\n\n")
	b.WriteString("| measurement | spread | peer | spread / peer | goal |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s |\n", strings.Join(r, " | "))
	}
	b.WriteString("\nRerun: `go run ./spread/internal/engine/enginebench -spread bin/spread -out docs/bench/engine.md` (about 2 minutes).\n")
	return b.String()
}

type measurement struct {
	peakKB int64
	wall   time.Duration
	cpu    time.Duration // user + system time of the process
	stdout string
}

// measure runs a command to its end, sampling its resident memory.
func measure(dir string, env []string, name string, args ...string) (measurement, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var peak int64
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return measurement{}, fmt.Errorf("%s %v: %w", name, args, err)
			}
			cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			return measurement{peakKB: peak, wall: time.Since(start), cpu: cpu, stdout: stdout.String()}, nil
		case <-t.C:
			// The process may be a taskset wrapper that exec()s the target:
			// same pid, so /proc follows it.
			if kb := testbin.RSSKB(cmd.Process.Pid); kb > peak {
				peak = kb
			}
		}
	}
}

// exportedValue reads one value of a metric from a --summary-export file.
func exportedValue(path, metric, key string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var doc struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	r, ok := doc.Metrics[metric][key].(float64)
	if !ok {
		return 0, fmt.Errorf("%s: no %s for %s", path, key, metric)
	}
	return r, nil
}

// runPeer runs the bare-goja peers in this process.
func runPeer(kind string, n int) {
	const src = `var sleep = function (s) { __sleep(s); };
var module = { exports: {} };
module.exports.default = function () { sleep(1); };
`
	switch kind {
	case "goja-vus":
		// n runtimes, each with the program run, each "iterating" sleep(1)
		// in its own goroutine for 20 s.
		prog := goja.MustCompile("peer.js", src, false)
		stop := time.Now().Add(20 * time.Second)
		done := make(chan struct{})
		for i := 0; i < n; i++ {
			go func() {
				rt := goja.New()
				_ = rt.Set("__sleep", func(s float64) { time.Sleep(time.Duration(s * float64(time.Second))) })
				if _, err := rt.RunProgram(prog); err != nil {
					panic(err)
				}
				fn, _ := goja.AssertFunction(rt.Get("module").ToObject(rt).Get("exports").ToObject(rt).Get("default"))
				for time.Now().Before(stop) {
					_, _ = fn(goja.Undefined())
				}
				done <- struct{}{}
			}()
		}
		for i := 0; i < n; i++ {
			<-done
		}
	case "goja-iters":
		// n runtimes calling an empty function as fast as they can for 10 s.
		prog := goja.MustCompile("peer.js", "var f = function () {};", false)
		stop := time.Now().Add(10 * time.Second)
		counts := make(chan int64, n)
		for i := 0; i < n; i++ {
			go func() {
				rt := goja.New()
				_, _ = rt.RunProgram(prog)
				fn, _ := goja.AssertFunction(rt.Get("f"))
				var c int64
				for time.Now().Before(stop) {
					_, _ = fn(goja.Undefined())
					c++
				}
				counts <- c
			}()
		}
		var total int64
		for i := 0; i < n; i++ {
			total += <-counts
		}
		fmt.Println(total)
	default:
		fmt.Fprintln(os.Stderr, "unknown peer", kind)
		os.Exit(2)
	}
}
