// Command bench measures echo-server against the write-up's stack
// (Hypercorn + FastAPI) under the same HTTP/1.1 load, and echo-server's
// HTTP/1.1, HTTP/2 and HTTP/3 throughput, then writes a Markdown table.
//
//	go run ./echo-server/bench -duration 10s -out docs/bench/echo-server.md
//
// Needs wrk, h2load (nghttp2-client), python3-hypercorn and python3-fastapi.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

//go:embed app.py
var appPy []byte

type options struct {
	duration   time.Duration
	rounds     int
	conns      int
	out        string
	echoServer string
	python     string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each load run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of every measurement; tables show the median round")
	flag.IntVar(&o.conns, "conns", 32, "concurrent connections of each load run")
	flag.StringVar(&o.out, "out", "", "Markdown file to write (default: stdout only)")
	flag.StringVar(&o.echoServer, "echo-server", "", "echo-server binary (default: build spread.dev/echo-server/cmd/echo-server)")
	flag.StringVar(&o.python, "python", "/usr/bin/python3", "Python with Debian's hypercorn and fastapi")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// row is one measured configuration.
type row struct {
	name, client string
	rps          float64
	mean, p99    time.Duration // 0: not reported by the client
	ok, failed   int
	minRPS       float64 // lowest and highest req/s over the rounds
	maxRPS       float64
}

func run(o options) error {
	for _, tool := range []string{"wrk", "h2load"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (Debian packages wrk, nghttp2-client)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "echo-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer testbin.Cleanup()
	if o.echoServer == "" {
		if o.echoServer, err = testbin.Build(echotest.Package); err != nil {
			return err
		}
	}
	pki, err := echotest.MakeCerts(o.echoServer, filepath.Join(dir, "certs"), "127.0.0.1")
	if err != nil {
		return err
	}
	certs := pki.Dir
	if err := os.WriteFile(filepath.Join(dir, "app.py"), appPy, 0o644); err != nil {
		return err
	}
	d := strconv.Itoa(int(o.duration.Seconds()))
	c := strconv.Itoa(o.conns)
	// 1. Same HTTP/1.1 load on echo-server and on Hypercorn + FastAPI,
	// with keep-alive and with a new connection per request. The machine
	// may be shared: servers take turns, round after round, and each
	// result is the median round, so a busy moment hurts them all alike.
	servers := []struct {
		name  string
		start func() (string, func(), error)
	}{
		{"echo-server --delay 0 (Go, 2 cores)", func() (string, func(), error) { return startEcho(o, pki, nil) }},
		{"echo-server --delay 0, GOMAXPROCS=1", func() (string, func(), error) { return startEcho(o, pki, []string{"GOMAXPROCS=1"}) }},
		{"Hypercorn + FastAPI (1 worker)", func() (string, func(), error) { return startHypercorn(o, dir) }},
	}
	keep := make([][]row, len(servers))
	closing := make([][]row, len(servers))
	for round := range o.rounds {
		for i, srv := range servers {
			base, stop, err := srv.start()
			if err != nil {
				return fmt.Errorf("%s: %w", srv.name, err)
			}
			// Warm up (Python imports, Go's first allocations), then measure.
			_, _ = runWrk(o, base+"/", time.Second, false)
			r, err := runWrk(o, base+"/", o.duration, false)
			var rc row
			if err == nil {
				rc, err = runWrk(o, base+"/", o.duration, true)
			}
			stop()
			if err != nil {
				return fmt.Errorf("%s: %w", srv.name, err)
			}
			r.name, rc.name = srv.name, srv.name
			keep[i], closing[i] = append(keep[i], r), append(closing[i], rc)
			fmt.Fprintf(os.Stderr, "round %d: %s: keep-alive %.0f req/s p99 %v; close %.0f req/s p99 %v\n",
				round+1, srv.name, r.rps, r.p99, rc.rps, rc.p99)
		}
	}

	// 2. echo-server by protocol, taking turns the same way.
	ep, err := startEcho3(o, pki)
	if err != nil {
		return err
	}
	defer ep.Kill()
	loads := []struct {
		name string
		do   func() (row, error)
	}{
		{"HTTP/1.1 cleartext", func() (row, error) {
			return runH2load(append([]string{"--h1"}, "-c", c, "-t", "1", "-D", d, "http://"+ep.H1+"/"))
		}},
		{"HTTP/1.1 over TLS", func() (row, error) {
			return runH2load(append([]string{"--h1"}, "-c", c, "-t", "1", "-D", d, "https://"+ep.TLS+"/"))
		}},
		{"HTTP/2 (1 stream per connection)", func() (row, error) {
			return runH2load([]string{"-c", c, "-m", "1", "-t", "1", "-D", d, "https://" + ep.TLS + "/"})
		}},
		{"HTTP/3 (1 stream per connection)", func() (row, error) { return runH3(o, certs, "https://"+ep.H3+"/") }},
	}
	byProto := make([][]row, len(loads))
	for round := range o.rounds {
		for i, m := range loads {
			r, err := m.do()
			if err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			r.name = m.name
			byProto[i] = append(byProto[i], r)
			fmt.Fprintf(os.Stderr, "round %d: %s: %.0f req/s\n", round+1, r.name, r.rps)
		}
	}
	peers, peersClose, protos := medians(keep), medians(closing), medians(byProto)

	md := report(o, peers, peersClose, protos)
	fmt.Print(md)
	if o.out != "" {
		return os.WriteFile(o.out, []byte(md), 0o644)
	}
	return nil
}

// medians picks, for each configuration, the round with the median req/s
// (its latency figures come with it).
func medians(rounds [][]row) []row {
	out := make([]row, len(rounds))
	for i, rs := range rounds {
		rs = slices.Clone(rs)
		slices.SortFunc(rs, func(a, b row) int { return cmp.Compare(a.rps, b.rps) })
		out[i] = rs[len(rs)/2]
		out[i].minRPS, out[i].maxRPS = rs[0].rps, rs[len(rs)-1].rps
		for _, r := range rs {
			out[i].failed = max(out[i].failed, r.failed) // report the worst round's errors
		}
	}
	return out
}

func report(o options, peers, peersClose, protos []row) string {
	var b strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "# echo-server benchmarks\n\n")
	fmt.Fprintf(&b, "Measured %s on %s (%d CPUs, %s), load generator and servers on the same machine, loopback; load average at the end: %s.\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, runtime.NumCPU(), runtime.Version(), testbin.LoadAvg())
	fmt.Fprintf(&b, "Rerun: `go run ./echo-server/bench -duration %s -rounds %d -conns %d -out docs/bench/echo-server.md` (from the repository root; `make bench`).\n", o.duration, o.rounds, o.conns)
	fmt.Fprintf(&b, "Each figure is the median of %d rounds; in each round the servers (or protocols) take turns, so load from other processes on the machine falls on all of them alike. Error counts are the worst round's.\n\n", o.rounds)

	fmt.Fprintf(&b, "## echo-server vs the write-up's stack (HTTP/1.1, same load, same run)\n\n")
	fmt.Fprintf(&b, "Load: `wrk -t1 -c%d -d%s --latency http://127.0.0.1:PORT/` after a 1 s warm-up; `GET /` answers `{\"hostname\": ...}` at once (echo-server `--delay 0 --access-log=false`; Hypercorn + FastAPI from Debian 12, `echo-server/bench/app.py`, one worker, no access log).\n\n", o.conns, o.duration)
	table := func(title string, rows []row) {
		fmt.Fprintf(&b, "%s\n\n| server | req/s | rounds' range | p99 | req/s vs Hypercorn | socket errors / non-2xx |\n|---|---:|---:|---:|---:|---:|\n", title)
		base := rows[len(rows)-1].rps
		for _, r := range rows {
			fmt.Fprintf(&b, "| %s | %.0f | %.0f–%.0f | %s | %.1fx | %d |\n", r.name, r.rps, r.minRPS, r.maxRPS, fmtDur(r.p99), r.rps/base, r.failed)
		}
		b.WriteString("\n")
	}
	table("Keep-alive (wrk's default):", peers)
	table("A new connection per request (`-H 'Connection: close'`):", peersClose)
	b.WriteString("Note: Debian 12's Hypercorn 0.13.2 with h11 0.14.0 closes every HTTP/1.1 connection after its first response, so under keep-alive load wrk counts one read error per request and reconnects (curl shows \"Connection died, retrying a fresh connect\" on reuse). Its keep-alive row is therefore really connection-per-request; the second table compares both servers on equal terms.\n")
	fmt.Fprintf(&b, "\n## echo-server by protocol\n\n")
	fmt.Fprintf(&b, "%d connections, one request at a time on each, %s per run, `--delay 0 --access-log=false`. HTTP/1.1 and HTTP/2: `h2load -c%d -m1 -t1 -D%d` (C, nghttp2); HTTP/3: a quic-go `http3.Transport` loop per connection (h2load here cannot do HTTP/3), which spends more CPU per request than h2load on this shared machine, so HTTP/3 is measured with a heavier client.\n\n",
		o.conns, o.duration, o.conns, int(o.duration.Seconds()))
	fmt.Fprintf(&b, "| protocol | client | req/s | rounds' range | mean | p99 | vs HTTP/1.1 | failed |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range protos {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f–%.0f | %s | %s | %.2fx | %d |\n", r.name, r.client, r.rps, r.minRPS, r.maxRPS, fmtDur(r.mean), fmtDur(r.p99), r.rps/protos[0].rps, r.failed)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startEcho3 runs echo-server with every listener but metrics on
// kernel-chosen ports; env is added to its environment.
func startEcho3(o options, pki *echotest.PKI, env ...string) (*echotest.Server, error) {
	return echotest.Run(echotest.Config{Bin: o.echoServer, Pod: "bench", PKI: pki, Env: env,
		Metrics: echotest.Off, Args: []string{"--delay", "0"}})
}

// startEcho runs echo-server and returns the base URL of its cleartext listener.
func startEcho(o options, pki *echotest.PKI, env []string) (string, func(), error) {
	e, err := startEcho3(o, pki, env...)
	if err != nil {
		return "", nil, err
	}
	return e.HTTPURL(), e.Kill, nil
}

// startHypercorn runs the write-up's app and waits until it answers.
func startHypercorn(o options, dir string) (string, func(), error) {
	addr, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(o.python, "-m", "hypercorn", "--workers", "1", "--bind", addr, "app:app")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POD_NAME=bench")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start hypercorn (Debian python3-hypercorn, python3-fastapi): %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return "http://" + addr, stop, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("hypercorn did not answer within 20s")
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkP99     = regexp.MustCompile(`(?m)^\s+99%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkTotal   = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func runWrk(o options, url string, d time.Duration, closeConns bool) (row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	args := []string{"-t1", "-c" + strconv.Itoa(o.conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	if closeConns {
		args = append(args, "-H", "Connection: close")
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return row{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	r := row{client: "wrk"}
	m := wrkRPS.FindStringSubmatch(s)
	p := wrkP99.FindStringSubmatch(s)
	if m == nil || p == nil {
		return row{}, fmt.Errorf("cannot parse wrk output:\n%s", s)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.p99 = parseDur(p[1], p[2])
	if m := wrkTotal.FindStringSubmatch(s); m != nil {
		r.ok, _ = strconv.Atoi(m[1])
	}
	if m := wrkNon2xx.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.failed += n
	}
	if m := wrkSockErr.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.failed += n
		}
	}
	return r, nil
}

func parseDur(v, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	default:
		return time.Duration(f * float64(time.Second))
	}
}

var (
	h2RPS  = regexp.MustCompile(`finished in [\d.]+s, ([\d.]+) req/s`)
	h2Req  = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
	h2Mean = regexp.MustCompile(`time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)`)
)

func runH2load(args []string) (row, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "h2load", args...).CombinedOutput()
	if err != nil {
		return row{}, fmt.Errorf("h2load %v: %v\n%s", args, err, out)
	}
	s := string(out)
	m, q := h2RPS.FindStringSubmatch(s), h2Req.FindStringSubmatch(s)
	if m == nil || q == nil {
		return row{}, fmt.Errorf("cannot parse h2load output:\n%s", s)
	}
	r := row{client: "h2load"}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.ok, _ = strconv.Atoi(q[1])
	f1, _ := strconv.Atoi(q[2])
	f2, _ := strconv.Atoi(q[3])
	r.failed = f1 + f2
	if mm := h2Mean.FindStringSubmatch(s); mm != nil {
		r.mean = parseDur(mm[1], mm[2])
	}
	return r, nil
}

// runH3 is h2load's model over HTTP/3: o.conns connections (one quic-go
// transport and UDP socket each), one request at a time on each.
func runH3(o options, certs, url string) (row, error) {
	pem, err := os.ReadFile(filepath.Join(certs, "ca.pem"))
	if err != nil {
		return row{}, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	var wg sync.WaitGroup
	begin := time.Now()
	for range o.conns {
		wg.Go(func() {
			tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			defer tr.Close()
			c := &http.Client{Transport: tr}
			var mine []time.Duration
			bad := 0
			for ctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				switch {
				case err == nil:
					mine = append(mine, time.Since(t0))
				case ctx.Err() == nil:
					bad++
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	if len(lat) == 0 {
		return row{}, errors.New("no HTTP/3 request succeeded")
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	return row{
		client: "quic-go loop",
		rps:    float64(len(lat)) / elapsed.Seconds(),
		mean:   sum / time.Duration(len(lat)),
		p99:    lat[len(lat)*99/100],
		ok:     len(lat),
		failed: failed,
	}, nil
}
