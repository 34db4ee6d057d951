// Command bench compares spread's k6/http client with wrk and hey against
// one echo-server (--delay 0, HTTP/1.1 keep-alive, same number of
// connections) and writes a Markdown table of requests/s, ratios and CPU
// per request. It is a benchmark, not a test: run it with `make bench` or
//
//	go run ./spread/internal/modules/k6http/bench -out docs/bench/k6http.md
//
// from the repository root. It needs wrk and hey (Debian packages wrk, hey)
// on PATH and builds spread and echo-server from the workspace unless
// -spread / -echo-server name binaries.
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
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

func main() {
	var (
		conns    = flag.Int("c", 20, "connections (wrk -c, hey -c, spread -u)")
		duration = flag.Duration("d", 10*time.Second, "duration of each run")
		rounds   = flag.Int("rounds", 3, "rounds; tools alternate within a round and the median round is reported")
		out      = flag.String("out", "", "write the Markdown section here (default: stdout only)")
		spread   = flag.String("spread", "", "spread binary (default: go build from the workspace)")
		echo     = flag.String("echo-server", "", "echo-server binary (default: go build from the workspace)")
		gogc     = flag.String("gogc", "", "also run spread with GOGC set to this value, as an extra row")
	)
	flag.Parse()
	if err := run(*conns, *duration, *rounds, *out, *spread, *echo, *gogc); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// result is one tool's run.
type result struct {
	Tool       string
	Requests   float64
	Seconds    float64 // the tool's own measured duration
	ClientCPU  time.Duration
	ServerCPU  time.Duration
	ConnsOpen  float64 // connections the server saw opened during the run
	Errors     float64
	RPS        float64
	CPUPerReq  time.Duration // client
	SrvPerReq  time.Duration // server
	CommandStr string
}

func run(conns int, d time.Duration, rounds int, out, spreadBin, echoBin, gogc string) error {
	for _, tool := range []string{"wrk", "hey"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found on PATH: apt-get install -y wrk hey", tool)
		}
	}
	tmp, err := os.MkdirTemp("", "k6http-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer testbin.Cleanup()
	builtSpread := "" // shown as $TMP/spread in the table, as the path is per run
	if spreadBin == "" {
		if spreadBin, err = testbin.Build("spread.dev/spread/cmd/spread"); err != nil {
			return err
		}
		builtSpread = spreadBin
	}
	if echoBin == "" {
		if echoBin, err = testbin.Build(echotest.Package); err != nil {
			return err
		}
	}
	srv, err := echotest.Run(echotest.Config{Bin: echoBin, Pod: "bench", TLS: echotest.Off, H3: echotest.Off,
		Args: []string{"--delay", "0"}, ReadyTimeout: 30 * time.Second})
	if err != nil {
		return err
	}
	defer srv.Kill()
	script := filepath.Join(tmp, "get.js")
	if err := os.WriteFile(script, []byte("import http from 'k6/http';\nexport default function () { http.get(__ENV.TARGET); }\n"), 0o600); err != nil {
		return err
	}
	target := srv.HTTPURL() + "/"
	secs := strconv.Itoa(int(d.Seconds())) + "s"
	type tool struct {
		name  string
		args  []string
		parse func(stdout string, tmp string) (requests, seconds, errors float64, err error)
		env   []string
	}
	tools := []tool{
		{"wrk", []string{"wrk", "-t2", "-c" + strconv.Itoa(conns), "-d" + secs, target}, parseWrk, nil},
		{"hey", []string{"hey", "-c", strconv.Itoa(conns), "-z", secs, target}, parseHey, nil},
		{"spread", []string{spreadBin, "run", "-q", "--no-summary", "-u", strconv.Itoa(conns), "-d", secs,
			"--summary-export", filepath.Join(tmp, "summary.json"), "-e", "TARGET=" + target, script}, parseSpread, nil},
	}
	// The web dashboard's cost (issue 14: within 3% of off): the same run
	// with it on, a server listening and no page connected.
	dash := tools[2]
	dash.name = "spread + web dashboard"
	dash.env = []string{"K6_WEB_DASHBOARD=true", "K6_WEB_DASHBOARD_PORT=0"}
	tools = append(tools, dash)
	if gogc != "" {
		sp := tools[2]
		sp.name = "spread GOGC=" + gogc
		sp.env = []string{"GOGC=" + gogc}
		tools = append(tools, sp)
	}
	all := map[string][]result{}
	load := testbin.LoadAvg()
	for r := 0; r < rounds; r++ {
		for _, tool := range tools {
			res, err := measure(srv, tool.name, tool.args, tool.env, tmp, tool.parse)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "round %d %-16s %8.0f req/s  client %6.1f µs/req  server %6.1f µs/req  conns %v errors %v\n",
				r+1, tool.name, res.RPS, us(res.CPUPerReq), us(res.SrvPerReq), res.ConnsOpen, res.Errors)
			all[tool.name] = append(all[tool.name], res)
		}
	}
	med := map[string]result{}
	for name, rs := range all {
		sort.Slice(rs, func(i, j int) bool { return rs[i].RPS < rs[j].RPS })
		med[name] = rs[len(rs)/2]
	}
	names := make([]string, len(tools))
	for i, t := range tools {
		names[i] = t.name
	}
	for name, r := range med {
		if builtSpread != "" {
			r.CommandStr = strings.ReplaceAll(r.CommandStr, builtSpread, "$TMP/spread")
		}
		r.CommandStr = strings.ReplaceAll(r.CommandStr, tmp, "$TMP")
		med[name] = r
	}
	md := report(med, names, conns, d, rounds, load)
	fmt.Print(md)
	if out != "" {
		if err := os.WriteFile(out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// measure runs one tool and reads its own count, its CPU (rusage of the
// child) and the server's CPU and connection count over the same span.
func measure(srv *echotest.Server, name string, args, env []string, tmp string,
	parse func(string, string) (float64, float64, float64, error)) (result, error) {
	connsBefore, err := connsOpened(srv)
	if err != nil {
		return result{}, err
	}
	srvBefore, err := procCPU(srv.Pid())
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout strings.Builder
	cmd.Stdout = &stdout
	cmd.Stderr = &stdout
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
	srvAfter, err := procCPU(srv.Pid())
	if err != nil {
		return result{}, err
	}
	connsAfter, err := connsOpened(srv)
	if err != nil {
		return result{}, err
	}
	reqs, secs, errs, err := parse(stdout.String(), tmp)
	if err != nil {
		return result{}, fmt.Errorf("%s: %v\n%s", name, err, stdout.String())
	}
	res := result{Tool: name, Requests: reqs, Seconds: secs, Errors: errs,
		ClientCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		ServerCPU: srvAfter - srvBefore, ConnsOpen: connsAfter - connsBefore,
		CommandStr: strings.TrimSpace(strings.Join(env, " ") + " " + strings.Join(args, " "))}
	if secs > 0 {
		res.RPS = reqs / secs
	}
	if reqs > 0 {
		res.CPUPerReq = time.Duration(float64(res.ClientCPU) / reqs)
		res.SrvPerReq = time.Duration(float64(res.ServerCPU) / reqs)
	}
	return res, nil
}

var (
	wrkTotal = regexp.MustCompile(`(\d+) requests in ([\d.]+)(us|ms|s|m)`)
	wrkErr   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	heyTotal = regexp.MustCompile(`Total:\s+([\d.]+) secs`)
	heyOK    = regexp.MustCompile(`\[(\d+)\]\s+(\d+) responses`)
	heyErr   = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+Get `)
)

func parseWrk(s, _ string) (float64, float64, float64, error) {
	m := wrkTotal.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, errors.New("no `N requests in T` line")
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	t, _ := strconv.ParseFloat(m[2], 64)
	switch m[3] {
	case "us":
		t /= 1e6
	case "ms":
		t /= 1e3
	case "m":
		t *= 60
	}
	var errs float64
	for _, e := range wrkErr.FindAllStringSubmatch(s, -1) {
		for _, x := range e[1:] {
			v, _ := strconv.ParseFloat(x, 64)
			errs += v
		}
	}
	return n, t, errs, nil
}

func parseHey(s, _ string) (float64, float64, float64, error) {
	m := heyTotal.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, 0, errors.New("no `Total: T secs` line")
	}
	t, _ := strconv.ParseFloat(m[1], 64)
	var ok, errs float64
	for _, c := range heyOK.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(c[2], 64)
		if c[1] == "200" {
			ok += v
		} else {
			errs += v
		}
	}
	errs += float64(len(heyErr.FindAllString(s, -1)))
	return ok, t, errs, nil
}

func parseSpread(_ string, tmp string) (float64, float64, float64, error) {
	raw, err := os.ReadFile(filepath.Join(tmp, "summary.json"))
	if err != nil {
		return 0, 0, 0, err
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(raw, &sum); err != nil {
		return 0, 0, 0, err
	}
	num := func(m, k string) float64 { v, _ := sum.Metrics[m][k].(float64); return v }
	count, rate := num("http_reqs", "count"), num("http_reqs", "rate")
	if count == 0 || rate == 0 {
		return 0, 0, 0, errors.New("summary export has no http_reqs")
	}
	return count, count / rate, num("http_req_failed", "passes"), nil
}

// report renders the Markdown section.
func report(med map[string]result, names []string, conns int, d time.Duration, rounds int, load string) string {
	var b strings.Builder
	sp, wrk, hey := med["spread"], med["wrk"], med["hey"]
	fmt.Fprintf(&b, "## k6/http (HTTP/1.1 keep-alive) vs wrk and hey\n\n")
	fmt.Fprintf(&b, "Measured %s on %s/%s, %d CPUs (load average at start: %s), against one echo-server `--delay 0` on loopback; "+
		"%d connections each (wrk -t2 -c%d, hey -c %d, spread -u %d), %s per run, %d rounds alternating the tools; each row is the tool's median round by requests/s. "+
		"Client CPU is the child's rusage (user+system); server CPU is echo-server's /proc time over the same run. "+
		"The machine is shared by client and server (and by whatever else runs), so only ratios measured in the same run mean anything.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load,
		conns, conns, conns, conns, d, rounds)
	fmt.Fprintf(&b, "| tool | requests | requests/s | vs wrk | vs hey | client CPU µs/request | server CPU µs/request | connections opened | errors |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, name := range names {
		r := med[name]
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f | %.0f | %.0f |\n", name, r.Requests, r.RPS,
			ratio(r.RPS, wrk.RPS), ratio(r.RPS, hey.RPS), us(r.CPUPerReq), us(r.SrvPerReq), r.ConnsOpen, r.Errors)
	}
	fmt.Fprintf(&b, "\nGoals: spread ≥ 0.5 × wrk: **%s** (%.2f); spread ahead of hey: **%s** (%.2f).\n",
		yes(ratio(sp.RPS, wrk.RPS) >= 0.5), ratio(sp.RPS, wrk.RPS), yes(sp.RPS > hey.RPS), ratio(sp.RPS, hey.RPS))
	fmt.Fprintf(&b, "\nspread's script: `import http from 'k6/http'; export default function () { http.get(__ENV.TARGET); }` "+
		"(each request also builds k6's response object and emits the 9 http_req* samples plus data_sent/data_received).\n")
	gogcFlag := ""
	for _, n := range names[3:] {
		gogcFlag = " -gogc " + strings.TrimPrefix(n, "spread GOGC=")
	}
	fmt.Fprintf(&b, "\nRerun: `go run ./spread/internal/modules/k6http/bench -c %d -d %s -rounds %d%s -out docs/bench/k6http.md` (needs Debian packages wrk and hey).\n\nCommands (median rounds; $TMP holds the binaries built from the workspace and the script):\n\n",
		conns, d, rounds, gogcFlag)
	for _, name := range names {
		fmt.Fprintf(&b, "    %s\n", med[name].CommandStr)
	}
	return b.String()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func yes(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// procCPU is a process's user+system CPU time from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration((ut + st) / clkTck * float64(time.Second)), nil
}

// connsOpened reads echo_connections_opened_total{proto="h1"}.
func connsOpened(srv *echotest.Server) (float64, error) {
	text, err := srv.Scrape()
	if err != nil {
		return 0, err
	}
	return echotest.SeriesValue(text, `echo_connections_opened_total{proto="h1"}`)
}
