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
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
}

func run() error {
	dur := flag.Duration("d", 5*time.Second, "duration of each measurement")
	vus := flag.Int("u", 8, "VUs / loop goroutines (= connections in single-connection)")
	out := flag.String("out", "", "write the markdown table to this file too")
	rounds := flag.Int("rounds", 3, "measurements per cell (the median is reported)")
	only := flag.String("only", "", "debug: run only the policies whose name contains this, twice, without spread")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "xk6-http3-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	defer testbin.Cleanup()
	e := &env{dur: *dur, vus: *vus, workDir: tmp}
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
	udp, tcp := srv.H3, srv.TLS
	e.h3URL, e.h1URL = "https://"+udp+"/", "https://"+tcp+"/"
	if err := waitReady(e); err != nil {
		return err
	}

	type row struct {
		name                string
		conns               string
		loop, gocl, spreadr float64
	}
	var rows []row
	// Each cell is the median of `rounds` measurements, the three sides
	// interleaved, so a burst of load from elsewhere hits all of them.
	measure := func(name, conns string, loop func() (float64, error), opts client.Options, jsOpts string) error {
		var ls, gs, ss []float64
		for i := range *rounds {
			fmt.Fprintf(os.Stderr, "%s (round %d/%d)...\n", name, i+1, *rounds)
			l, err := loop()
			if err != nil {
				return fmt.Errorf("%s loop: %w", name, err)
			}
			g, err := goClient(e, opts)
			if err != nil {
				return fmt.Errorf("%s client: %w", name, err)
			}
			sp, err := spreadRun(e, jsOpts)
			if err != nil {
				return fmt.Errorf("%s spread: %w", name, err)
			}
			ls, gs, ss = append(ls, l), append(gs, g), append(ss, sp)
		}
		rows = append(rows, row{name: name, conns: conns, loop: median(ls), gocl: median(gs), spreadr: median(ss)})
		return nil
	}
	n := fmt.Sprint(e.vus)
	steps := []struct {
		name, conns string
		loop        func() (float64, error)
		opts        client.Options
		js          string
	}{
		{"single-connection", n, func() (float64, error) { return loopPerVU(e) }, client.Options{Mode: client.SingleConnection}, `{"mode":"single-connection"}`},
		{"multiplexed (1 connection)", "1", func() (float64, error) { return loopShared(e) }, client.Options{Mode: client.Multiplexed}, `{"mode":"multiplexed"}`},
		{"per-request, fresh socket", "1/request", func() (float64, error) { return loopFresh(e, false) }, client.Options{Mode: client.PerRequest}, `{"mode":"per-request"}`},
		{"per-request, shared socket", "1/request", func() (float64, error) { return loopSharedSocket(e) }, client.Options{Mode: client.PerRequest, Socket: client.SharedSocket}, `{"mode":"per-request","socket":"shared"}`},
		{"per-request, 0-RTT", "1/request", func() (float64, error) { return loopFresh(e, true) }, client.Options{Mode: client.PerRequest, ZeroRTT: true}, `{"mode":"per-request","zeroRTT":true}`},
	}
	if *only != "" {
		for _, s := range steps {
			if strings.Contains(s.name, *only) {
				for range 2 {
					l, err := s.loop()
					if err != nil {
						return err
					}
					g, err := goClient(e, s.opts)
					if err != nil {
						return err
					}
					fmt.Printf("%s: loop %.0f client %.0f\n", s.name, l, g)
				}
			}
		}
		return nil
	}
	for _, s := range steps {
		if err := measure(s.name, s.conns, s.loop, s.opts, s.js); err != nil {
			return err
		}
	}
	var h1s []float64
	for i := range *rounds {
		fmt.Fprintf(os.Stderr, "HTTP/1.1 Connection: close (round %d/%d)...\n", i+1, *rounds)
		h, err := loopH1Close(e)
		if err != nil {
			return err
		}
		h1s = append(h1s, h)
	}
	h1 := median(h1s)

	var b strings.Builder
	fmt.Fprintf(&b, "## HTTP/3 client (xk6-http3)\n\n")
	fmt.Fprintf(&b, "Measured %s on this machine (%d CPUs, %s/%s, %s): echo-server `--delay 0` on loopback, client and server sharing the CPUs; %d VUs / goroutines; requests/s, median of %d interleaved runs of %s per cell. Load average at the end: %s (the machine was shared with other work, so expect noise).\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), e.vus, *rounds, e.dur, testbin.LoadAvg())
	fmt.Fprintf(&b, "| policy | connections | quic-go http3 loop | client package | `spread run` + k6/x/http3 | client / loop | spread / loop |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %.2f | %.2f |\n", r.name, r.conns, r.loop, r.gocl, r.spreadr, r.gocl/r.loop, r.spreadr/r.loop)
	}
	fresh, zero := rows[2], rows[4]
	fmt.Fprintf(&b, "\nWhat a new connection per request costs (hand-written loops, %d goroutines):\n\n", e.vus)
	fmt.Fprintf(&b, "| new connection per request | requests/s | vs HTTP/1.1 close |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| HTTP/3, new UDP socket, full handshake | %.0f | %.2f |\n", fresh.loop, fresh.loop/h1)
	fmt.Fprintf(&b, "| HTTP/3, new UDP socket, 0-RTT resumption | %.0f | %.2f |\n", zero.loop, zero.loop/h1)
	fmt.Fprintf(&b, "| HTTP/1.1 over TLS, `Connection: close` (new TCP connection) | %.0f | 1.00 |\n", h1)
	fmt.Fprintf(&b, "\nThe loop is the ceiling of this stack: quic-go's `http3.Transport` with nothing around it (one Transport per goroutine for single-connection, one shared for multiplexed, a new Transport per request for fresh sockets, `CloseIdleConnections` after each request for the shared socket, `quic.DialAddrEarly` + `GET_0RTT` with a shared session cache for 0-RTT). \"client package\" drives `spread.dev/xk6-http3/client` as the JS module does (a Client per VU, one pool for multiplexed); \"spread run\" is the real engine running `client.get()` in a loop (goja, metrics, summary included).\n")
	fmt.Fprintf(&b, "\nReading it: the client package sits at or near the loop (it dials each connection itself and adds only bookkeeping); under `spread run` the engine adds its per-request work (a goja call per iteration, a k6-shaped response object built lazily, one batch of samples into the metrics pipeline), on 2 CPUs that the server also uses. New-connection rows are bound by handshakes (ECDSA P-256) on both sides. The machine is shared and noisy: compare ratios across several runs, not single cells.\n")
	fmt.Fprintf(&b, "\nRerun: `go run ./xk6-http3/bench -d %s -u %d -rounds %d -out docs/bench/http3.md` from the workspace root (what `make bench` runs for this module).\n", e.dur, e.vus, *rounds)
	fmt.Print(b.String())
	if *out != "" {
		return os.WriteFile(*out, []byte(b.String()), 0o644)
	}
	return nil
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

// loop runs fn from e.vus goroutines for e.dur and returns requests/s.
func loop(e *env, fn func(worker int) error) (float64, error) {
	var (
		count   atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
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
	if first != nil {
		return 0, first
	}
	return float64(count.Load()) / time.Since(start).Seconds(), nil
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
func loopPerVU(e *env) (float64, error) {
	trs := make([]*http3.Transport, e.vus)
	for i := range trs {
		trs[i] = &http3.Transport{TLSClientConfig: e.tlsConf()}
		defer trs[i].Close()
	}
	return loop(e, func(w int) error { return get(trs[w], http.MethodGet, e.h3URL) })
}

// loopShared: one http3.Transport (one connection) for every goroutine.
func loopShared(e *env) (float64, error) {
	tr := &http3.Transport{TLSClientConfig: e.tlsConf()}
	defer tr.Close()
	return loop(e, func(int) error { return get(tr, http.MethodGet, e.h3URL) })
}

// loopFresh: a new Transport (so a new UDP socket and connection) per
// request; with zeroRTT the goroutines share a session cache and send
// GET_0RTT.
func loopFresh(e *env, zeroRTT bool) (float64, error) {
	conf := e.tlsConf()
	method := http.MethodGet
	if zeroRTT {
		conf.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		method = http3.MethodGet0RTT
	}
	return loop(e, func(int) error {
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
func loopSharedSocket(e *env) (float64, error) {
	trs := make([]*http3.Transport, e.vus)
	for i := range trs {
		trs[i] = &http3.Transport{TLSClientConfig: e.tlsConf()}
		defer trs[i].Close()
	}
	return loop(e, func(w int) error {
		err := get(trs[w], http.MethodGet, e.h3URL)
		trs[w].CloseIdleConnections()
		return err
	})
}

// loopH1Close: net/http over TLS with keep-alives off: a new TCP
// connection and TLS handshake per request.
func loopH1Close(e *env) (float64, error) {
	tr := &http.Transport{TLSClientConfig: e.tlsConf(), DisableKeepAlives: true,
		TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}} // HTTP/1.1 only
	defer tr.CloseIdleConnections()
	return loop(e, func(int) error { return get(tr, http.MethodGet, e.h1URL) })
}

// goClient drives the client package like the JS module does: a Client per
// VU, except the multiplexed pool shared by all.
func goClient(e *env, opts client.Options) (float64, error) {
	opts.CACerts = e.ca
	clients := make([]*client.Client, e.vus)
	for i := range clients {
		if i > 0 && opts.Mode == client.Multiplexed {
			clients[i] = clients[0]
			continue
		}
		c, err := client.New(opts)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		clients[i] = c
	}
	ctx := context.Background()
	return loop(e, func(w int) error {
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
// rate from the summary export.
func spreadRun(e *env, jsOpts string) (float64, error) {
	script := filepath.Join(e.workDir, "bench.js")
	if err := os.WriteFile(script, []byte(benchScript), 0o644); err != nil {
		return 0, err
	}
	sum := filepath.Join(e.workDir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), e.dur+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.spread, "run", "-q", "--no-summary", "--summary-export", sum,
		"-u", fmt.Sprint(e.vus), "-d", e.dur.String(), "-e", "URL="+e.h3URL, "-e", "CA="+e.caPath, "-e", "OPTS="+jsOpts, script)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("spread run: %v\n%s", err, b)
	}
	var doc struct {
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	b, err := os.ReadFile(sum)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return 0, err
	}
	if f := doc.Metrics["http_req_failed"]; f["passes"] > 0 {
		return 0, fmt.Errorf("spread run had %v failed requests", f["passes"])
	}
	return doc.Metrics["http_reqs"]["rate"], nil
}
