package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"spread.dev/echo-server/grpcecho/echopb"
	"spread.dev/echo-server/testbin"
)

// grpcConns dials both gRPC listeners of p: "h2c" (cleartext) and "tls".
func grpcConns(t *testing.T, p *proc) map[string]*grpc.ClientConn {
	t.Helper()
	h2c, err := grpc.NewClient("passthrough:///"+p.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := grpc.NewClient("passthrough:///"+p.tls, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(t), ServerName: "localhost"})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h2c.Close(); _ = tc.Close() })
	return map[string]*grpc.ClientConn{"h2c": h2c, "tls": tc}
}

// TestGRPCServices: Echo, EchoStream and Chat name the pod in every reply
// and in x-served-by, health says SERVING, on both listeners.
func TestGRPCServices(t *testing.T) {
	p := start(t, "pod-grpc")
	if p.GRPC == "" {
		t.Fatal("no grpc listening line")
	}
	for name, cc := range grpcConns(t, p) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := echopb.NewEchoClient(cc)
			var hdr metadata.MD
			r, err := c.Echo(ctx, &echopb.EchoRequest{Message: "hi"}, grpc.Header(&hdr))
			if err != nil {
				t.Fatal(err)
			}
			wantProto := map[string]string{"h2c": "grpc", "tls": "grpc+tls"}[name]
			if r.Hostname != "pod-grpc" || r.Message != "hi" || r.Proto != wantProto || r.Seq != 1 || r.RemoteAddr == "" {
				t.Errorf("Echo reply %v", r)
			}
			if got := hdr.Get("x-served-by"); len(got) != 1 || got[0] != "pod-grpc" {
				t.Errorf("x-served-by %q", got)
			}

			ss, err := c.EchoStream(ctx, &echopb.EchoStreamRequest{Message: "s", Count: 3, IntervalMs: 10})
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for {
				m, err := ss.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if m.Hostname != "pod-grpc" || m.Message != "s" {
					t.Errorf("stream reply %v", m)
				}
				seqs = append(seqs, m.Seq)
			}
			if fmt.Sprint(seqs) != "[1 2 3]" {
				t.Errorf("stream seqs %v", seqs)
			}
			// On a server stream the error arrives with the first Recv.
			bad, _ := c.EchoStream(ctx, &echopb.EchoStreamRequest{Count: 1 << 30})
			if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
				t.Errorf("huge count: %v, want InvalidArgument", err)
			}

			chat, err := c.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := chat.Send(&echopb.EchoRequest{Message: fmt.Sprint("m", i)}); err != nil {
					t.Fatal(err)
				}
				m, err := chat.Recv()
				if err != nil {
					t.Fatal(err)
				}
				if m.Message != fmt.Sprint("m", i) || m.Seq != int64(i+1) || m.Hostname != "pod-grpc" {
					t.Errorf("chat reply %v", m)
				}
			}
			if err := chat.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := chat.Recv(); !errors.Is(err, io.EOF) {
				t.Errorf("chat end: %v, want EOF", err)
			}

			hc := healthpb.NewHealthClient(cc)
			for _, svc := range []string{"", "spread.echo.v1.Echo"} {
				h, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
				if err != nil || h.Status != healthpb.HealthCheckResponse_SERVING {
					t.Errorf("health %q: %v %v", svc, h, err)
				}
			}
		})
	}
	// Only the echo service's RPCs count as requests (per listener: Echo,
	// EchoStream and Chat OK, one InvalidArgument), not health checks.
	if got := p.metric(`echo_requests_total{code="OK",proto="grpc"}`); got != 6 {
		t.Errorf("echo_requests_total OK = %v, want 6", got)
	}
	if got := p.metric(`echo_requests_total{code="InvalidArgument",proto="grpc"}`); got != 2 {
		t.Errorf("echo_requests_total InvalidArgument = %v, want 2", got)
	}
	if got := p.metric(`echo_connections_opened_total{proto="grpc"}`); got != 2 {
		t.Errorf("grpc connections opened = %v, want 2", got)
	}
}

// TestGRPCDrain: SIGTERM under steady unary load on both listeners. Health
// turns NOT_SERVING at once, RPCs go on until the drain ends, no RPC fails
// before the GOAWAY, and every RPC in flight at the GOAWAY completes.
func TestGRPCDrain(t *testing.T) {
	const drain, delay = time.Second, 200 * time.Millisecond
	p := start(t, "pod-grpc-term", "--delay", delay.String(), "--drain", drain.String(), "--shutdown-timeout", "3s")
	conns := grpcConns(t, p)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type outcome struct {
		start time.Time
		err   error
	}
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	for _, cc := range conns {
		c := echopb.NewEchoClient(cc)
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					o := outcome{start: time.Now()}
					rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
					// No WaitForReady: once the server has gone, RPCs fail
					// fast instead of queueing, so failures are visible.
					_, o.err = c.Echo(rctx, &echopb.EchoRequest{Message: "x"})
					rcancel()
					mu.Lock()
					outcomes = append(outcomes, o)
					mu.Unlock()
					if o.err != nil {
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
		}
	}
	time.Sleep(600 * time.Millisecond)
	sigAt := time.Now()
	p.signal(syscall.SIGTERM)
	hc := healthpb.NewHealthClient(conns["h2c"])
	var notServing time.Duration
	for i := 0; i < 50; i++ {
		hctx, hcancel := context.WithTimeout(context.Background(), time.Second)
		h, err := hc.Check(hctx, &healthpb.HealthCheckRequest{})
		hcancel()
		if err == nil && h.Status == healthpb.HealthCheckResponse_NOT_SERVING {
			notServing = time.Since(sigAt)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if notServing == 0 || notServing > drain/2 {
		t.Errorf("health NOT_SERVING after %v (want well within the %v drain)", notServing, drain)
	}
	select {
	case <-p.Done():
	case <-time.After(drain + 6*time.Second):
		t.Fatal("echo-server did not exit after SIGTERM")
	}
	cancel()
	wg.Wait()
	if err := p.ExitErr(); err != nil {
		t.Errorf("exit: %v", err)
	}
	goaway := sigAt.Add(drain)
	var ok, failedEarly int
	for _, o := range outcomes {
		switch {
		case o.err == nil:
			ok++
		case o.start.Before(goaway):
			// Started before the GOAWAY: must have been served.
			failedEarly++
			t.Logf("RPC started %v after SIGTERM failed: %v", o.start.Sub(sigAt), o.err)
		}
	}
	if ok < 16 || failedEarly > 0 {
		t.Errorf("%d RPCs ok, %d started before the GOAWAY failed (want 0)", ok, failedEarly)
	}
}

// TestGRPCMaxConnAge: --max-conn-age recycles gRPC connections with GOAWAY
// on both listeners; a client that keeps calling sees new connections and
// no failed RPC. --max-conn-requests applies on the TLS listener.
func TestGRPCMaxConnAge(t *testing.T) {
	p := start(t, "pod-grpc-age", "--max-conn-age", "300ms", "--max-conn-age-grace", "2s", "--delay", "5ms")
	conns := grpcConns(t, p)
	deadline := time.Now().Add(1500 * time.Millisecond)
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, cc := range conns {
		c := echopb.NewEchoClient(cc)
		for range 2 {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					// WaitForReady: an RPC issued in the instant between the
					// GOAWAY and the new connection waits for it, as a
					// client of a recycling server should.
					_, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
					cancel()
					if err != nil {
						failed.Add(1)
						t.Logf("RPC failed: %v", err)
					}
				}
			})
		}
	}
	wg.Wait()
	opened := p.metric(`echo_connections_opened_total{proto="grpc"}`)
	recycledTLS := p.metric(`echo_connections_recycled_total{proto="grpc",reason="max_age"}`)
	if opened < 4 || recycledTLS < 1 || failed.Load() > 0 {
		t.Errorf("connections opened %v (want >= 4), TLS recycled by age %v (want >= 1), failed RPCs %d (want 0)", opened, recycledTLS, failed.Load())
	}

	q := start(t, "pod-grpc-reqs", "--max-conn-requests", "5", "--delay", "0")
	c := echopb.NewEchoClient(grpcConns(t, q)["tls"])
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := c.Echo(ctx, &echopb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatalf("RPC %d: %v", i, err)
		}
	}
	if got := q.metric(`echo_connections_recycled_total{proto="grpc",reason="max_requests"}`); got < 3 {
		t.Errorf("TLS connections recycled after 5 requests: %v, want >= 3 for 20 RPCs", got)
	}
}

// TestGRPCOversized: a message over --grpc-max-msg-bytes fails with
// RESOURCE_EXHAUSTED and the same connection (and others) go on serving.
func TestGRPCOversized(t *testing.T) {
	p := start(t, "pod-grpc-big", "--grpc-max-msg-bytes", "65536")
	for name, cc := range grpcConns(t, p) {
		c := echopb.NewEchoClient(cc)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Echo(ctx, &echopb.EchoRequest{Message: strings.Repeat("x", 1<<20)})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("%s: 1 MiB message: %v, want ResourceExhausted", name, err)
		}
		if r, err := c.Echo(ctx, &echopb.EchoRequest{Message: "small"}); err != nil || r.Hostname != "pod-grpc-big" {
			t.Errorf("%s: after the oversized one: %v %v", name, r, err)
		}
		cancel()
	}
}

// TestGRPCRapidReset: a client opening and at once resetting streams as
// fast as it can (CVE-2023-44487) does not starve a legitimate client, on
// the h2c listener (grpc-go) and on the TLS one (net/http).
func TestGRPCRapidReset(t *testing.T) {
	p := start(t, "pod-grpc-rr", "--access-log=false")
	conns := grpcConns(t, p)
	for name, addr := range map[string]string{"h2c": p.GRPC, "tls": p.tls} {
		t.Run(name, func(t *testing.T) {
			// The attack runs until the legitimate client is done (at most 15 s).
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var sent atomic.Int64
			attackDone := make(chan error, 1)
			go func() { attackDone <- rapidReset(ctx, t, addr, name == "tls", &sent) }()
			time.Sleep(200 * time.Millisecond) // the attack is under way
			c := echopb.NewEchoClient(conns[name])
			var worst time.Duration
			served := 0
			for i := 0; i < 50 && ctx.Err() == nil; i++ {
				t0 := time.Now()
				// 5 s: generous for a loaded 2-core CI machine, far below
				// what a starved client would wait (until the attack ends).
				rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
				_, err := c.Echo(rctx, &echopb.EchoRequest{Message: "legit"})
				rcancel()
				if err != nil {
					t.Fatalf("legitimate RPC %d during the attack: %v", i, err)
				}
				worst = max(worst, time.Since(t0))
				served++
			}
			cancel()
			err := <-attackDone
			t.Logf("%s: %d streams opened and reset by the attacker (%v); %d legitimate RPCs served, slowest %v", name, sent.Load(), err, served, worst)
			if sent.Load() < 1000 {
				t.Errorf("the attack opened only %d streams: it did not test anything", sent.Load())
			}
			if served < 50 {
				t.Errorf("only %d legitimate RPCs served", served)
			}
		})
	}
}

// rapidReset opens streams (HEADERS of an Echo call) and resets each at
// once, until ctx ends, the server closes the connection or 200,000
// streams; it reports why it stopped.
func rapidReset(ctx context.Context, t *testing.T, addr string, useTLS bool, sent *atomic.Int64) error {
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: caPool(t), ServerName: "localhost", NextProtos: []string{"h2"}})
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	go func() { <-ctx.Done(); _ = conn.Close() }()
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	go func() { // drain what the server sends, so its writes never block us
		for {
			if _, err := fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	for _, f := range [][2]string{
		{":method", "POST"}, {":scheme", "http"}, {":authority", addr},
		{":path", "/spread.echo.v1.Echo/Echo"}, {"content-type", "application/grpc"}, {"te", "trailers"},
	} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	block := hbuf.Bytes()
	for id := uint32(1); id < 400000 && ctx.Err() == nil; id += 2 {
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true}); err != nil {
			return err
		}
		if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			return err
		}
		sent.Add(1)
	}
	return ctx.Err()
}

// grpcurlPkg is the independent gRPC client the tests run: grpcurl, built
// from the Go module proxy (not in Debian; CI has no other copy).
const grpcurlPkg = "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4"

// TestGRPCurl: grpcurl, a client none of us wrote, lists the services by
// reflection, describes and calls Echo, and checks health, on the h2c and
// the TLS listener.
func TestGRPCurl(t *testing.T) {
	bin, err := testbin.Install(grpcurlPkg)
	if err != nil {
		t.Fatal(err)
	}
	p := start(t, "pod-grpcurl", "--drain", "2s")
	ca := filepath.Join(certDir, "ca.pem")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	for _, conn := range [][]string{{"-plaintext", p.GRPC}, {"-cacert", ca, "-servername", "localhost", p.tls}} {
		flags, addr := conn[:len(conn)-1], conn[len(conn)-1]
		// grpcurl [flags] ADDRESS [list|describe|METHOD] [SYMBOL]
		cmd := func(opts []string, rest ...string) []string {
			return append(append(append(append([]string{}, flags...), opts...), addr), rest...)
		}
		list := run(cmd(nil, "list")...)
		for _, svc := range []string{"spread.echo.v1.Echo", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
			if !strings.Contains(list, svc) {
				t.Errorf("%s: grpcurl list lacks %s:\n%s", addr, svc, list)
			}
		}
		if d := run(cmd(nil, "describe", "spread.echo.v1.Echo")...); !strings.Contains(d, "rpc Chat ( stream .spread.echo.v1.EchoRequest ) returns ( stream .spread.echo.v1.EchoReply )") {
			t.Errorf("%s: describe:\n%s", addr, d)
		}
		out := run(cmd([]string{"-v", "-d", `{"message":"from grpcurl"}`}, "spread.echo.v1.Echo/Echo")...)
		if !strings.Contains(out, `"hostname": "pod-grpcurl"`) || !strings.Contains(out, `"message": "from grpcurl"`) || !strings.Contains(out, "x-served-by: pod-grpcurl") {
			t.Errorf("%s: Echo:\n%s", addr, out)
		}
		out = run(cmd([]string{"-d", `{"count":3}`}, "spread.echo.v1.Echo/EchoStream")...)
		if strings.Count(out, `"hostname": "pod-grpcurl"`) != 3 {
			t.Errorf("%s: EchoStream:\n%s", addr, out)
		}
		if out := run(cmd(nil, "grpc.health.v1.Health/Check")...); !strings.Contains(out, `"status": "SERVING"`) {
			t.Errorf("%s: health:\n%s", addr, out)
		}
	}
	// Draining: health says NOT_SERVING (what a gRPC readiness probe reads).
	p.signal(syscall.SIGTERM)
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		out := run("-plaintext", "-d", `{"service":"spread.echo.v1.Echo"}`, p.GRPC, "grpc.health.v1.Health/Check")
		if strings.Contains(out, `"status": "NOT_SERVING"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health still %s after SIGTERM", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
