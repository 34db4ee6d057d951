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
	"syscall"
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
		many     = flag.Int("many", 10000, "VUs of the many-connections run (each holds a keep-alive connection); 0 skips it")
	)
	flag.Parse()
	manyN, noMany = *many, *many <= 0
	if err := run(*conns, *duration, *rounds, *out, *spread, *echo, *gogc); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var (
	manyN  int
	noMany bool
)

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
	for _, tool := range []string{"wrk", "hey", "h2load"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found on PATH: apt-get install -y wrk hey nghttp2-client", tool)
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
	srv, err := echotest.Run(echotest.Config{Bin: echoBin, Pod: "bench", H3: echotest.Off,
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
	tlsTarget := srv.HTTPSURL() + "/"
	secs := strconv.Itoa(int(d.Seconds())) + "s"
	c := strconv.Itoa(conns)
	summary := filepath.Join(tmp, "summary.json")
	spreadArgs := func(target string, extra ...string) []string {
		a := []string{spreadBin, "run", "-q", "--no-summary", "-u", c, "-d", secs, "--summary-export", summary, "-e", "TARGET=" + target}
		return append(append(a, extra...), script)
	}
	// Three sections, each with its peer in the same rounds: cleartext
	// HTTP/1.1 (wrk, hey), HTTP/1.1 over TLS (wrk over https; spread with
	// GODEBUG=http2client=0, k6's documented way to keep HTTP/1.1 on
	// https), HTTP/2 with one connection per VU and one stream at a time
	// (h2load -m1 with the same connections).
	sections := []section{
		{title: "HTTP/1.1 keep-alive, cleartext", peer: "wrk", tools: []tool{
			{"wrk", []string{"wrk", "-t2", "-c" + c, "-d" + secs, target}, parseWrk, nil},
			{"hey", []string{"hey", "-c", c, "-z", secs, target}, parseHey, nil},
			{"spread", spreadArgs(target), parseSpread, nil},
		}},
		{title: "HTTP/1.1 keep-alive over TLS", peer: "wrk https", goal: 0.85, tools: []tool{
			{"wrk https", []string{"wrk", "-t2", "-c" + c, "-d" + secs, tlsTarget}, parseWrk, nil},
			{"spread https (HTTP/1.1)", spreadArgs(tlsTarget, "--insecure-skip-tls-verify"), parseSpread, []string{"GODEBUG=http2client=0"}},
		}},
		{title: "HTTP/2, one connection per VU, one stream at a time", peer: "h2load -m1", goal: 0.9, tools: []tool{
			{"h2load -m1", []string{"h2load", "-c" + c, "-m1", "-t2", "-D" + strconv.Itoa(int(d.Seconds())), tlsTarget}, parseH2load, nil},
			{"spread https (HTTP/2)", spreadArgs(tlsTarget, "--insecure-skip-tls-verify"), parseSpread, nil},
		}},
	}
	sections[0].goal = 0.9
	// The web dashboard's cost (issue 14: within 3% of off): the same run
	// with it on, a server listening and no page connected.
	dash := sections[0].tools[2]
	dash.name = "spread + web dashboard"
	dash.env = []string{"K6_WEB_DASHBOARD=true", "K6_WEB_DASHBOARD_PORT=0"}
	sections[0].tools = append(sections[0].tools, dash)
	if gogc != "" {
		sp := sections[0].tools[2]
		sp.name = "spread GOGC=" + gogc
		sp.env = []string{"GOGC=" + gogc}
		sections[0].tools = append(sections[0].tools, sp)
	}
	load := testbin.LoadAvg()
	var md strings.Builder
	fmt.Fprintf(&md, "## k6/http vs wrk, hey and h2load\n\n")
	fmt.Fprintf(&md, "Measured %s on %s/%s, %d CPUs (load average at start: %s), against one echo-server `--delay 0` on loopback; "+
		"%d connections each (wrk -t2 -c%d, hey -c %d, h2load -c%d -m1, spread -u %d), %s per run, %d rounds alternating the tools of a section; "+
		"each row is the tool's median round by requests/s, and the ratio range is over the rounds (each round's ratio against the peer of the same round). "+
		"Client CPU is the child's rusage (user+system); server CPU is echo-server's /proc time over the same run. "+
		"The machine is shared by client and server (and by whatever else runs), so only ratios measured in the same run mean anything. "+
		"spread runs with its metrics, tags and the summary export on.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load,
		conns, conns, conns, conns, conns, d, rounds)
	for _, sec := range sections {
		all := map[string][]result{}
		for r := 0; r < rounds; r++ {
			for _, tool := range sec.tools {
				res, err := measure(srv, tool.name, tool.args, tool.env, tmp, tool.parse)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "round %d %-24s %8.0f req/s  client %6.1f µs/req  server %6.1f µs/req  conns %v errors %v\n",
					r+1, tool.name, res.RPS, us(res.CPUPerReq), us(res.SrvPerReq), res.ConnsOpen, res.Errors)
				all[tool.name] = append(all[tool.name], res)
			}
		}
		md.WriteString(sec.report(all, rounds, builtSpread, tmp))
	}
	if !noMany {
		s, err := manyVUs(spreadBin, srv, tmp, manyN, builtSpread)
		if err != nil {
			return err
		}
		md.WriteString(s)
	}
	fmt.Fprintf(&md, "\nspread's script: `import http from 'k6/http'; export default function () { http.get(__ENV.TARGET); }` "+
		"(each request also builds k6's response object and emits the 9 http_req* samples plus data_sent/data_received).\n")
	gogcFlag := ""
	if gogc != "" {
		gogcFlag = " -gogc " + gogc
	}
	fmt.Fprintf(&md, "\nRerun: `go run ./spread/internal/modules/k6http/bench -c %d -d %s -rounds %d%s -out docs/bench/k6http.md` (needs Debian packages wrk, hey and nghttp2-client).\n",
		conns, d, rounds, gogcFlag)
	fmt.Print(md.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// tool is one load generator's command line and how to read its count.
type tool struct {
	name  string
	args  []string
	parse func(stdout string, tmp string) (requests, seconds, errors float64, err error)
	env   []string
}

// section is one table: tools measured in the same rounds against a peer.
type section struct {
	title string
	peer  string
	goal  float64 // spread/peer requests/s goal (issue 17)
	tools []tool
}

func (sec section) report(all map[string][]result, rounds int, builtSpread, tmp string) string {
	// Per-round ratios against the peer of the same round: the range.
	ratios := map[string][]float64{}
	for name, rs := range all {
		for i, r := range rs {
			ratios[name] = append(ratios[name], ratio(r.RPS, all[sec.peer][i].RPS))
		}
	}
	med := map[string]result{}
	for name, rs := range all {
		sorted := append([]result(nil), rs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].RPS < sorted[j].RPS })
		r := sorted[len(sorted)/2]
		r.CommandStr = shown(r.CommandStr, builtSpread, tmp)
		med[name] = r
	}
	var b strings.Builder
	peer := med[sec.peer]
	fmt.Fprintf(&b, "\n### %s\n\n", sec.title)
	fmt.Fprintf(&b, "| tool | requests | requests/s | vs %s (median round) | vs %s, rounds' range | client CPU µs/request | server CPU µs/request | connections opened | errors |\n", sec.peer, sec.peer)
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range sec.tools {
		r := med[t.name]
		lo, hi := minMax(ratios[t.name])
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f | %.2f–%.2f | %.1f | %.1f | %.0f | %.0f |\n", t.name, r.Requests, r.RPS,
			ratio(r.RPS, peer.RPS), lo, hi, us(r.CPUPerReq), us(r.SrvPerReq), r.ConnsOpen, r.Errors)
	}
	for _, t := range sec.tools {
		if !strings.HasPrefix(t.name, "spread") {
			continue
		}
		lo, _ := minMax(ratios[t.name])
		r := med[t.name]
		fmt.Fprintf(&b, "\nGoal for %s: ≥ %.2f × %s in every round: **%s** (%.2f in the worst round; client CPU per request %.2f× the peer's).\n",
			t.name, sec.goal, sec.peer, yes(lo >= sec.goal), lo, ratio(float64(r.CPUPerReq), float64(peer.CPUPerReq)))
		break
	}
	fmt.Fprintf(&b, "\nCommands (median rounds; $TMP holds the binaries built from the workspace and the script):\n\n")
	for _, t := range sec.tools {
		fmt.Fprintf(&b, "    %s\n", med[t.name].CommandStr)
	}
	return b.String()
}

// shown hides the per-run temporary paths of a command line.
func shown(cmd, builtSpread, tmp string) string {
	if builtSpread != "" {
		cmd = strings.ReplaceAll(cmd, builtSpread, "$TMP/spread")
	}
	return strings.ReplaceAll(cmd, tmp, "$TMP")
}

func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
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

var (
	h2Rate = regexp.MustCompile(`finished in [\d.]+\w+, ([\d.]+) req/s`)
	h2Reqs = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
)

func parseH2load(s, _ string) (float64, float64, float64, error) {
	r, q := h2Rate.FindStringSubmatch(s), h2Reqs.FindStringSubmatch(s)
	if r == nil || q == nil {
		return 0, 0, 0, errors.New("no `finished in` / `requests:` lines")
	}
	rate, _ := strconv.ParseFloat(r[1], 64)
	ok, _ := strconv.ParseFloat(q[1], 64)
	var errs float64
	for _, x := range q[2:] {
		v, _ := strconv.ParseFloat(x, 64)
		errs += v
	}
	if rate == 0 {
		return 0, 0, 0, errors.New("h2load measured 0 req/s")
	}
	return ok, ok / rate, errs, nil
}

// manyVUs runs n VUs that each make a request and sleep, so every VU holds
// one keep-alive connection for the whole run, and reports the process's
// peak RSS and how long after the process started the server had seen all
// n connections (issue 17: ≤ 1 GiB, within 10 s).
func manyVUs(spreadBin string, srv *echotest.Server, tmp string, n int, builtSpread string) (string, error) {
	script := filepath.Join(tmp, "many.js")
	if err := os.WriteFile(script, []byte("import http from 'k6/http';\nimport { sleep } from 'k6';\n"+
		"export default function () { http.get(__ENV.TARGET); sleep(5); }\n"), 0o600); err != nil {
		return "", err
	}
	const runFor = 20 * time.Second
	target := srv.HTTPURL() + "/"
	summary := filepath.Join(tmp, "many-summary.json")
	args := []string{spreadBin, "run", "-q", "--no-summary", "-u", strconv.Itoa(n), "-d", runFor.String(),
		"--summary-export", summary, "-e", "TARGET=" + target, script}
	before, err := connsOpened(srv)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var allAt time.Duration // 0: never
	var peakRSS int64       // KiB, sampled
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var runErr error
wait:
	for {
		select {
		case runErr = <-done:
			break wait
		case <-tick.C:
			if rss := testbin.RSSKB(cmd.Process.Pid); rss > peakRSS {
				peakRSS = rss
			}
			if allAt == 0 {
				if now, err := connsOpened(srv); err == nil && now-before >= float64(n) {
					allAt = time.Since(start)
				}
			}
		}
	}
	if runErr != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), runErr, stdout.String())
	}
	after, err := connsOpened(srv)
	if err != nil {
		return "", err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peakRSS {
		peakRSS = ru.Maxrss // kernel's high-water mark, KiB
	}
	reqs, _, errs, err := parseSpread("", tmp+"/many")
	if err != nil {
		return "", err
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	fmt.Fprintf(os.Stderr, "many VUs: %d VUs, all connected after %v, peak RSS %d KiB, %v connections, %v requests, %v errors\n",
		n, allAt, peakRSS, after-before, reqs, errs)
	var b strings.Builder
	fmt.Fprintf(&b, "\n### %d VUs, each holding a keep-alive connection\n\n", n)
	fmt.Fprintf(&b, "Each VU makes a request and sleeps 5 s, for %s, so it keeps one connection open for the whole run (the server counts the connections it opened). "+
		"Peak RSS is the kernel's high-water mark of the spread process (rusage maxrss).\n\n", runFor)
	allStr := "never (within the run)"
	if allAt > 0 {
		allStr = allAt.Round(100 * time.Millisecond).String()
	}
	fmt.Fprintf(&b, "| VUs | all %d connections open after (from process start) | peak RSS | RSS per VU | connections opened | requests | errors | CPU |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n", n)
	fmt.Fprintf(&b, "| %d | %s | %.0f MiB | %.1f KiB | %.0f | %.0f | %.0f | %v |\n", n, allStr, float64(peakRSS)/1024,
		float64(peakRSS)/float64(n), after-before, reqs, errs, cpu.Round(10*time.Millisecond))
	fmt.Fprintf(&b, "\nGoal: ≤ 1 GiB RSS: **%s**; all started within 10 s: **%s**.\n\nCommand:\n\n    %s\n",
		yes(peakRSS <= 1<<20), yes(allAt > 0 && allAt <= 10*time.Second),
		shown(strings.Join(args, " "), builtSpread, tmp))
	return b.String(), nil
}

// parseSpread reads TMP/summary.json (or PREFIX-summary.json when tmp is
// TMP/PREFIX).
func parseSpread(_ string, tmp string) (float64, float64, float64, error) {
	path := filepath.Join(tmp, "summary.json")
	if st, err := os.Stat(tmp); err != nil || !st.IsDir() {
		path = tmp + "-summary.json"
	}
	raw, err := os.ReadFile(path)
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

// connsOpened sums echo_connections_opened_total over its protocols
// (cleartext h1 and the TLS listener's).
func connsOpened(srv *echotest.Server) (float64, error) {
	text, err := srv.Scrape()
	if err != nil {
		return 0, err
	}
	var n float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "echo_connections_opened_total{") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metrics line %q: %v", line, err)
		}
		n += v
	}
	return n, nil
}
