// Command bench measures the requests/s of each k6/x/http3 connection
// policy against a real echo-server (--delay 0), next to a minimal
// hand-written quic-go http3 loop with the same connection count, and the
// cost of a new connection per request: HTTP/3 fresh socket, HTTP/3 0-RTT,
// HTTP/1.1 Connection: close over TLS. It is a benchmark, not a test.
//
//	go run ./xk6-http3/bench -d 5s -u 8 -out docs/bench/http3.md   (from the workspace root)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
	"spread.dev/xk6-http3/client"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type env struct {
	dur     time.Duration
	vus     int
	h3URL   string
	h1URL   string
	ca      []byte
	caPath  string
	spread  string
	workDir string
	srvPid  int    // echo-server, for its CPU per request
	cpuprof string // profile prefix, "" = none
	profTag string // the policy being profiled, set for the last round
}

func run() error {
	dur := flag.Duration("d", 5*time.Second, "duration of each measurement")
	vus := flag.Int("u", 8, "VUs / loop goroutines (= connections in single-connection)")
	out := flag.String("out", "", "write the markdown table to this file too")
	rounds := flag.Int("rounds", 3, "measurements per cell (the median and the range of the per-round ratios are reported)")
	only := flag.String("only", "", "run only the policies whose name contains this (and skip HTTP/1.1)")
	cpuprof := flag.String("cpuprofile", "", "write CPU profiles of the last round to PREFIX-{loop,client,spread}-POLICY.pprof")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "xk6-http3-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer testbin.Cleanup()
	e := &env{dur: *dur, vus: *vus, workDir: tmp, cpuprof: *cpuprof}
	fmt.Fprintln(os.Stderr, "building echo-server and spread...")
	echoBin, err := testbin.Build(echotest.Package)
	if err != nil {
		return err
	}
	if e.spread, err = testbin.Build("spread.dev/spread/cmd/spread"); err != nil {
		return err
	}
	pki, err := echotest.MakeCerts(echoBin, filepath.Join(tmp, "certs"), "localhost", "127.0.0.1")
	if err != nil {
		return err
	}
	e.caPath = pki.CA
	if e.ca, err = os.ReadFile(e.caPath); err != nil {
		return err
	}
	srv, err := echotest.Run(echotest.Config{Bin: echoBin, Pod: "bench", PKI: pki, H1: echotest.Off, Args: []string{"--delay", "0"}})
	if err != nil {
		return err
	}
	defer srv.Kill()
	e.srvPid = srv.Pid()
	udp, tcp := srv.H3, srv.TLS
	e.h3URL, e.h1URL = "https://"+udp+"/", "https://"+tcp+"/"
	if err := waitReady(e); err != nil {
		return err
	}

	type row struct {
		name            string
		conns           string
		loop, gocl, spr []meas // one per round
	}
	var rows []row
	// Each round measures the three sides back to back, starting with a
	// different side each round, so a burst of load from elsewhere (or the
	// wake of the previous side) does not always hit the same one; the
	// ratios are taken per round, where the sides saw the same machine.
	measure := func(name, conns string, loop func() (meas, error), opts client.Options, jsOpts string) error {
		r := row{name: name, conns: conns}
		for i := range *rounds {
			fmt.Fprintf(os.Stderr, "%s (round %d/%d)...\n", name, i+1, *rounds)
			e.profTag = ""
			if e.cpuprof != "" && i == *rounds-1 {
				e.profTag = strings.NewReplacer(" ", "", ",", "-", "(", "", ")", "").Replace(name)
			}
			var l, g, sp meas
			for k := range 3 {
				var err error
				switch (i + k) % 3 {
				case 0:
					if l, err = loop(); err != nil {
						return fmt.Errorf("%s loop: %w", name, err)
					}
				case 1:
					if g, err = goClient(e, opts); err != nil {
						return fmt.Errorf("%s client: %w", name, err)
					}
				case 2:
					if sp, err = spreadRun(e, jsOpts); err != nil {
						return fmt.Errorf("%s spread: %w", name, err)
					}
				}
			}
			r.loop, r.gocl, r.spr = append(r.loop, l), append(r.gocl, g), append(r.spr, sp)
		}
		rows = append(rows, r)
		return nil
	}
	n := fmt.Sprint(e.vus)
	steps := []struct {
		name, conns string
		loop        func() (meas, error)
		opts        client.Options
		js          string
	}{
		{"single-connection", n, func() (meas, error) { return loopPerVU(e) }, client.Options{Mode: client.SingleConnection}, `{"mode":"single-connection"}`},
		{"multiplexed (1 connection)", "1", func() (meas, error) { return loopShared(e) }, client.Options{Mode: client.Multiplexed}, `{"mode":"multiplexed"}`},
		{"per-request, fresh socket", "1/request", func() (meas, error) { return loopFresh(e, false) }, client.Options{Mode: client.PerRequest}, `{"mode":"per-request"}`},
		{"per-request, shared socket", "1/request", func() (meas, error) { return loopSharedSocket(e) }, client.Options{Mode: client.PerRequest, Socket: client.SharedSocket}, `{"mode":"per-request","socket":"shared"}`},
		{"per-request, 0-RTT", "1/request", func() (meas, error) { return loopFresh(e, true) }, client.Options{Mode: client.PerRequest, ZeroRTT: true}, `{"mode":"per-request","zeroRTT":true}`},
	}
	for _, s := range steps {
		if *only != "" && !strings.Contains(s.name, *only) {
			continue
		}
		if err := measure(s.name, s.conns, s.loop, s.opts, s.js); err != nil {
			return err
		}
	}
	var h1s []meas
	for i := range *rounds {
		if *only != "" {
			break
		}
		fmt.Fprintf(os.Stderr, "HTTP/1.1 Connection: close (round %d/%d)...\n", i+1, *rounds)
		e.profTag = ""
		h, err := loopH1Close(e)
		if err != nil {
			return err
		}
		h1s = append(h1s, h)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "## HTTP/3 client (xk6-http3)\n\n")
	fmt.Fprintf(&b, "Measured %s on this machine (%d CPUs, %s/%s, %s): echo-server `--delay 0` on loopback, client and server sharing the CPUs; %d VUs / goroutines; %d rounds of %s per side, the three sides back to back in each round (the side that goes first rotates). Load average at the end: %s (the machine was shared with other work, so expect noise).\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), e.vus, *rounds, e.dur, testbin.LoadAvg())
	fmt.Fprintf(&b, "Requests/s (median of the rounds) and the ratio to the loop in each round: median, then the range over the rounds (the goal is about every round).\n\n")
	fmt.Fprintf(&b, "| policy | connections | quic-go http3 loop | client package | `spread run` + k6/x/http3 | client / loop | spread / loop |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %s | %s |\n", r.name, r.conns,
			median(rps(r.loop)), median(rps(r.gocl)), median(rps(r.spr)), ratioRange(r.gocl, r.loop), ratioRange(r.spr, r.loop))
	}
	fmt.Fprintf(&b, "\nCPU time per request in µs (user + system, median of the rounds): the client side (the bench process for the loop and the client package, the `spread` process, start-up included, for spread run) and the echo-server while serving that side. CPU per request is steadier than requests/s on a shared machine.\n\n")
	fmt.Fprintf(&b, "| policy | loop | client package | spread run | server (loop) | server (client package) | server (spread run) |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", r.name,
			median(cliCPU(r.loop)), median(cliCPU(r.gocl)), median(cliCPU(r.spr)),
			median(srvCPU(r.loop)), median(srvCPU(r.gocl)), median(srvCPU(r.spr)))
	}
	var fresh, zero *row
	for i := range rows {
		switch rows[i].name {
		case "per-request, fresh socket":
			fresh = &rows[i]
		case "per-request, 0-RTT":
			zero = &rows[i]
		}
	}
	if fresh != nil && zero != nil && len(h1s) > 0 {
		h1 := median(rps(h1s))
		fl, zl := median(rps(fresh.loop)), median(rps(zero.loop))
		fmt.Fprintf(&b, "\nWhat a new connection per request costs (hand-written loops, %d goroutines):\n\n", e.vus)
		fmt.Fprintf(&b, "| new connection per request | requests/s | vs HTTP/1.1 close | client CPU µs/request | server CPU µs/request |\n|---|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| HTTP/3, new UDP socket, full handshake | %.0f | %.2f | %.0f | %.0f |\n", fl, fl/h1, median(cliCPU(fresh.loop)), median(srvCPU(fresh.loop)))
		fmt.Fprintf(&b, "| HTTP/3, new UDP socket, 0-RTT resumption | %.0f | %.2f | %.0f | %.0f |\n", zl, zl/h1, median(cliCPU(zero.loop)), median(srvCPU(zero.loop)))
		fmt.Fprintf(&b, "| HTTP/1.1 over TLS, `Connection: close` (new TCP connection) | %.0f | 1.00 | %.0f | %.0f |\n", h1, median(cliCPU(h1s)), median(srvCPU(h1s)))
	}
	fmt.Fprintf(&b, "\nThe loop is the ceiling of this stack: quic-go's `http3.Transport` with nothing around it (one Transport per goroutine for single-connection, one shared for multiplexed, a new Transport per request for fresh sockets, `CloseIdleConnections` after each request for the shared socket, `quic.DialAddrEarly` + `GET_0RTT` with a shared session cache for 0-RTT), verifying the server's certificate against the test CA as the client does. \"client package\" drives `spread.dev/xk6-http3/client` as the JS module does (a Client per VU, one pool for multiplexed); \"spread run\" is the real engine running `client.get()` in a loop (goja, metrics, summary included).\n")
	fmt.Fprintf(&b, "\nReading it: the client package sits at or near the loop (it dials each connection itself and adds only bookkeeping); under `spread run` the engine adds its per-request work (a goja call per iteration, a k6-shaped response object built lazily, one batch of samples into the metrics pipeline), on 2 CPUs that the server also uses. New-connection rows are bound by handshakes (ECDSA P-256) on both sides. The machine is shared and noisy: compare ratios across several runs, not single cells.\n")
	fmt.Fprintf(&b, "\nRerun: `go run ./xk6-http3/bench -d %s -u %d -rounds %d -out docs/bench/http3.md` from the workspace root (what `make bench` runs for this module); `-only single -cpuprofile /tmp/h3` profiles the last round of each side.\n", e.dur, e.vus, *rounds)
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
}

// meas is one measurement of one side: requests/s, and CPU time per
// request (µs) of the client side and of the echo-server.
type meas struct{ rps, cli, srv float64 }

func rps(ms []meas) []float64    { return pick(ms, func(m meas) float64 { return m.rps }) }
func cliCPU(ms []meas) []float64 { return pick(ms, func(m meas) float64 { return m.cli }) }
func srvCPU(ms []meas) []float64 { return pick(ms, func(m meas) float64 { return m.srv }) }

func pick(ms []meas, f func(meas) float64) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

// ratioRange is "median (min–max)" of a[i].rps / b[i].rps over the rounds.
func ratioRange(a, b []meas) string {
	var rs []float64
	for i := range a {
		if i < len(b) && b[i].rps > 0 {
			rs = append(rs, a[i].rps/b[i].rps)
		}
	}
	if len(rs) == 0 {
		return "-"
	}
	lo, hi := rs[0], rs[0]
	for _, r := range rs {
		lo, hi = min(lo, r), max(hi, r)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f)", median(rs), lo, hi)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func waitReady(e *env) error {
	c, err := client.New(client.Options{CACerts: e.ca, HandshakeTimeout: 500 * time.Millisecond})
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < 50; i++ {
		if res, err := c.Do(context.Background(), &client.Request{URL: e.h3URL}); err == nil && res.Status == 200 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("echo-server did not answer over HTTP/3")
}

func (e *env) tlsConf() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.ca)
	return &tls.Config{RootCAs: pool}
}

// loop runs fn from e.vus goroutines for e.dur and measures it (side
// names the CPU profile, when one is asked for).
func loop(e *env, side string, fn func(worker int) error) (meas, error) {
	var (
		count   atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	stop, err := e.startProfile(side)
	if err != nil {
		return meas{}, err
	}
	cpu0, srv0 := selfCPU(), procCPU(e.srvPid)
	deadline := time.Now().Add(e.dur)
	start := time.Now()
	for w := range e.vus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := fn(w); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu, srv := selfCPU()-cpu0, procCPU(e.srvPid)-srv0
	stop()
	if first != nil {
		return meas{}, first
	}
	n := float64(count.Load())
	if n == 0 {
		return meas{}, errors.New("no request finished")
	}
	return meas{rps: n / elapsed.Seconds(), cli: us(cpu) / n, srv: us(srv) / n}, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// startProfile starts a CPU profile of this process when the round is
// profiled; the returned func stops it.
func (e *env) startProfile(side string) (func(), error) {
	if e.profTag == "" {
		return func() {}, nil
	}
	f, err := os.Create(e.profPath(side))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (e *env) profPath(side string) string {
	return fmt.Sprintf("%s-%s-%s.pprof", e.cpuprof, side, e.profTag)
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user+system CPU time from /proc/PID/stat (0 when
// unreadable: the server column then reads 0).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck
}

func get(rt http.RoundTripper, method, url string) error {
	req, _ := http.NewRequest(method, url, nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// loopPerVU: one http3.Transport (one connection) per goroutine.
func loopPerVU(e *env) (meas, error) {
	trs := make([]*http3.Transport, e.vus)
	for i := range trs {
		trs[i] = &http3.Transport{TLSClientConfig: e.tlsConf()}
		defer trs[i].Close()
	}
	return loop(e, "loop", func(w int) error { return get(trs[w], http.MethodGet, e.h3URL) })
}

// loopShared: one http3.Transport (one connection) for every goroutine.
func loopShared(e *env) (meas, error) {
	tr := &http3.Transport{TLSClientConfig: e.tlsConf()}
	defer tr.Close()
	return loop(e, "loop", func(int) error { return get(tr, http.MethodGet, e.h3URL) })
}

// loopFresh: a new Transport (so a new UDP socket and connection) per
// request; with zeroRTT the goroutines share a session cache and send
// GET_0RTT.
func loopFresh(e *env, zeroRTT bool) (meas, error) {
	conf := e.tlsConf()
	method := http.MethodGet
	if zeroRTT {
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		method = http3.MethodGet0RTT
	}
	return loop(e, "loop", func(int) error {
		tr := &http3.Transport{TLSClientConfig: conf}
		if zeroRTT {
			tr.Dial = func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (*quic.Conn, error) {
				return quic.DialAddrEarly(ctx, addr, tlsCfg, cfg)
			}
		}
		defer tr.Close()
		return get(tr, method, e.h3URL)
	})
}

// loopSharedSocket: one Transport per goroutine, a new connection per
// request on its one socket (CloseIdleConnections between requests).
func loopSharedSocket(e *env) (meas, error) {
	trs := make([]*http3.Transport, e.vus)
	for i := range trs {
		trs[i] = &http3.Transport{TLSClientConfig: e.tlsConf()}
		defer trs[i].Close()
	}
	return loop(e, "loop", func(w int) error {
		err := get(trs[w], http.MethodGet, e.h3URL)
		trs[w].CloseIdleConnections()
		return err
	})
}

// loopH1Close: net/http over TLS with keep-alives off: a new TCP
// connection and TLS handshake per request.
func loopH1Close(e *env) (meas, error) {
	tr := &http.Transport{TLSClientConfig: e.tlsConf(), DisableKeepAlives: true,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}} // HTTP/1.1 only
	defer tr.CloseIdleConnections()
	return loop(e, "h1", func(int) error { return get(tr, http.MethodGet, e.h1URL) })
}

// goClient drives the client package like the JS module does: a Client per
// VU, except the multiplexed pool shared by all.
func goClient(e *env, opts client.Options) (meas, error) {
	opts.CACerts = e.ca
	clients := make([]*client.Client, e.vus)
	for i := range clients {
		if i > 0 && opts.Mode == client.Multiplexed {
			clients[i] = clients[0]
			continue
		}
		c, err := client.New(opts)
		if err != nil {
			return meas{}, err
		}
		defer c.Close()
		clients[i] = c
	}
	ctx := context.Background()
	return loop(e, "client", func(w int) error {
		_, err := clients[w].Do(ctx, &client.Request{URL: e.h3URL})
		return err
	})
}

const benchScript = `
import http3 from 'k6/x/http3';
const opts = JSON.parse(__ENV.OPTS);
opts.caCerts = __ENV.CA;
const client = new http3.Client(opts);
export default function () { client.get(__ENV.URL); }
`

// spreadRun runs the JS module under the real engine and reads http_reqs'
// count and rate from the summary export; its CPU is the process's rusage
// (start-up and the summary included, which is what a user pays).
func spreadRun(e *env, jsOpts string) (meas, error) {
	script := filepath.Join(e.workDir, "bench.js")
	if err := os.WriteFile(script, []byte(benchScript), 0o644); err != nil {
		return meas{}, err
	}
	sum := filepath.Join(e.workDir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), e.dur+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.spread, "run", "-q", "--no-summary", "--summary-export", sum,
		"-u", fmt.Sprint(e.vus), "-d", e.dur.String(), "-e", "URL="+e.h3URL, "-e", "CA="+e.caPath, "-e", "OPTS="+jsOpts, script)
	if e.profTag != "" {
		cmd.Env = append(os.Environ(), "SPREAD_CPUPROFILE="+e.profPath("spread"))
	}
	srv0 := procCPU(e.srvPid)
	if b, err := cmd.CombinedOutput(); err != nil {
		return meas{}, fmt.Errorf("spread run: %v\n%s", err, b)
	}
	srv := procCPU(e.srvPid) - srv0
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	var doc struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		return meas{}, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return meas{}, err
	}
	if f := doc.Metrics["http_req_failed"]; f["passes"] > 0 {
		return meas{}, fmt.Errorf("spread run had %v failed requests", f["passes"])
	}
	n := doc.Metrics["http_reqs"]["count"]
	if n == 0 {
		return meas{}, errors.New("spread run: no http_reqs in the summary export")
	}
	return meas{rps: doc.Metrics["http_reqs"]["rate"], cli: us(cpu) / n, srv: us(srv) / n}, nil
}
