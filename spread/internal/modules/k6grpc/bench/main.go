// Command bench measures k6/net/grpc's unary requests/s under the real
// engine (`spread run`, one connection per VU, k6's default) against a
// bare grpc-go client loop with the same number of connections (one
// grpc.ClientConn and one goroutine per VU), both calling echo-server's
// spread.echo.v1.Echo/Echo with --delay 0 on its h2c listener. The median
// of -rounds measurements per side is reported, with the ratio (goal
// >= 0.8). Part of `make bench` (bench/parts/45-grpc.sh).
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
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/grpcecho/echopb"
	"spread.dev/echo-server/testbin"
)

const script = `
import grpc from 'k6/net/grpc';
const client = new grpc.Client();
client.load(['.'], 'echo.proto');
let connected = false;
export default function () {
  if (!connected) { client.connect(__ENV.ADDR, { plaintext: true }); connected = true; }
  const r = client.invoke('spread.echo.v1.Echo/Echo', { message: 'bench' });
  if (r.status !== grpc.StatusOK) throw new Error('status ' + r.status);
}
`

func main() {
	dur := flag.Duration("d", 4*time.Second, "duration of each measurement")
	vus := flag.Int("u", 8, "VUs = goroutines = connections")
	rounds := flag.Int("rounds", 3, "measurements per side (the median is reported)")
	out := flag.String("out", "", "write the markdown section to this file too")
	flag.Parse()
	if err := run(*dur, *vus, *rounds, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration, vus, rounds int, out string) error {
	defer testbin.Cleanup()
	echoBin, err := testbin.Build(echotest.Package)
	if err != nil {
		return err
	}
	spread, err := testbin.Build("spread.dev/spread/cmd/spread")
	if err != nil {
		return err
	}
	srv, err := echotest.Run(echotest.Config{Bin: echoBin, Pod: "bench", H1: echotest.Off, TLS: echotest.Off, H3: echotest.Off,
		Args: []string{"--delay", "0"}})
	if err != nil {
		return err
	}
	defer srv.Kill()
	work, err := os.MkdirTemp("", "grpc-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root, err := testbin.Root()
	if err != nil {
		return err
	}
	proto, err := os.ReadFile(filepath.Join(root, "echo-server", "grpcecho", "echopb", "echo.proto"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "echo.proto"), proto, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "bench.js"), []byte(script), 0o644); err != nil {
		return err
	}

	var js, bare []float64
	for i := 0; i < rounds; i++ { // interleaved, so drift hits both sides
		b, err := bareLoop(srv.GRPC, vus, dur)
		if err != nil {
			return fmt.Errorf("bare grpc-go loop: %w", err)
		}
		bare = append(bare, b)
		j, err := spreadRun(spread, work, srv.GRPC, vus, dur)
		if err != nil {
			return err
		}
		js = append(js, j)
		fmt.Fprintf(os.Stderr, "round %d: k6/net/grpc %.0f/s, grpc-go loop %.0f/s\n", i+1, j, b)
	}
	mj, mb := median(js), median(bare)
	var b strings.Builder
	fmt.Fprintf(&b, "# k6/net/grpc vs a bare grpc-go loop\n\n")
	fmt.Fprintf(&b, "Made by `go run ./spread/internal/modules/k6grpc/bench -d %s -u %d -rounds %d` on %s (%d cores, %s).\n",
		dur, vus, rounds, time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "Unary `spread.echo.v1.Echo/Echo` against echo-server (`--delay 0`, h2c listener, same machine),\n")
	fmt.Fprintf(&b, "%d connections either way: `spread run -u %d` with one `grpc.Client` connection per VU, and %d goroutines\n", vus, vus, vus)
	fmt.Fprintf(&b, "each with its own `grpc.ClientConn` calling `Echo` in a loop. Median of %d interleaved rounds of %s.\n\n", rounds, dur)
	fmt.Fprintf(&b, "| client | requests/s (median) | rounds |\n|---|--:|---|\n")
	fmt.Fprintf(&b, "| k6/net/grpc (`spread run`) | %.0f | %s |\n", mj, list(js))
	fmt.Fprintf(&b, "| bare grpc-go loop | %.0f | %s |\n", mb, list(bare))
	fmt.Fprintf(&b, "\nRatio k6/net/grpc / grpc-go: **%.2f** (goal >= 0.8). Client and server share the 2 cores, so the\n", mj/mb)
	fmt.Fprintf(&b, "ratio also carries the engine's per-iteration cost (JS call, request/reply mapping, metrics).\n")
	fmt.Print(b.String())
	if out != "" {
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, []byte(b.String()), 0o644)
	}
	return nil
}

// bareLoop is the peer: vus goroutines, each with its own connection.
func bareLoop(addr string, vus int, dur time.Duration) (float64, error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, vus)
	deadline := time.Now().Add(dur)
	for range vus {
		cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer cc.Close()
		c := echopb.NewEchoClient(cc)
		wg.Go(func() {
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.Echo(ctx, &echopb.EchoRequest{Message: "bench"})
				cancel()
				if err != nil {
					errs <- err
					return
				}
				n.Add(1)
			}
		})
	}
	start := time.Now()
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// spreadRun runs the script and reads the iteration rate (one RPC each).
func spreadRun(spread, dir, addr string, vus int, dur time.Duration) (float64, error) {
	sum := filepath.Join(dir, "summary.json")
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, spread, "run", "-q", "--no-summary", "--summary-export", sum,
		"-u", fmt.Sprint(vus), "-d", dur.String(), "-e", "ADDR="+addr, "bench.js")
	cmd.Dir = dir
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
	rate := doc.Metrics["iterations"]["rate"]
	if rate <= 0 {
		return 0, errors.New("spread run: no iterations")
	}
	return rate, nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func list(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(parts, ", ")
}
