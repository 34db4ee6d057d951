package client

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"spread.dev/spread/ext/httpkit"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// run sends n GET requests from `workers` goroutines and returns the
// results (failing the test on any request error unless allowErr).
func run(t *testing.T, c *Client, url string, n, workers int) []*Result {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	var (
		mu  sync.Mutex
		out []*Result
		wg  sync.WaitGroup
	)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				res, err := c.Do(ctx, &Request{Method: "GET", URL: url})
				if err != nil {
					t.Errorf("request failed: %v (code %d)", err, res.ErrorCode)
				}
				mu.Lock()
				out = append(out, res)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// freshPorts reports whether conns connections dialled one after another,
// each on a socket of its own, plausibly showed ports distinct client
// ports: the kernel may give a port freed by an earlier, closed socket to
// a later one (seen in a few percent of 30-connection runs), so a few
// repeats are allowed, while a socket reused for re-dials shows one port.
func freshPorts(ports, conns int) bool {
	return ports <= conns && ports >= conns-max(1, conns/10)
}

func distinctPorts(recs []*connRecord) int {
	seen := map[string]bool{}
	for _, r := range recs {
		seen[r.remote] = true
	}
	return len(seen)
}

func TestPolicies(t *testing.T) {
	pki := newPKI(t)
	cases := []struct {
		name      string
		opts      Options
		n         int
		workers   int
		delay     time.Duration
		wantConns int // connections the server saw
		wantPorts int // distinct client UDP ports the server saw
		wantConc  int64
	}{
		{name: "single-connection", opts: Options{Mode: SingleConnection}, n: 20, workers: 1, wantConns: 1, wantPorts: 1},
		{name: "single-connection batch", opts: Options{Mode: SingleConnection}, n: 8, workers: 8, delay: 100 * time.Millisecond, wantConns: 1, wantPorts: 1, wantConc: 2},
		{name: "per-request fresh", opts: Options{Mode: PerRequest}, n: 10, workers: 1, wantConns: 10, wantPorts: 10},
		{name: "per-request shared", opts: Options{Mode: PerRequest, Socket: SharedSocket}, n: 10, workers: 1, wantConns: 10, wantPorts: 1},
		{name: "multiplexed", opts: Options{Mode: Multiplexed}, n: 16, workers: 8, delay: 100 * time.Millisecond, wantConns: 1, wantPorts: 1, wantConc: 4},
		{name: "multiplexed pool", opts: Options{Mode: Multiplexed, Connections: 3}, n: 12, workers: 6, delay: 50 * time.Millisecond, wantConns: 3, wantPorts: 3},
		{name: "rotation by requests", opts: Options{Mode: SingleConnection, MaxRequestsPerConnection: 5}, n: 20, workers: 1, wantConns: 4, wantPorts: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, pki, "", func(s *testServer) { s.delay = tc.delay })
			tc.opts.CACerts = pki.caPEM
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			results := run(t, c, srv.url(), tc.n, tc.workers)
			recs := srv.records()
			if len(recs) != tc.wantConns {
				t.Errorf("server saw %d connections, want %d", len(recs), tc.wantConns)
			}
			// Connections that replaced closed ones may meet a recycled port.
			redials := tc.wantPorts == tc.wantConns && tc.wantConns > 1 && tc.opts.Mode != Multiplexed
			if p := distinctPorts(recs); p != tc.wantPorts && !(redials && freshPorts(p, len(recs))) {
				t.Errorf("server saw %d client ports, want %d", p, tc.wantPorts)
			}
			if tc.wantConc > 0 && srv.maxConc < tc.wantConc {
				t.Errorf("server saw at most %d concurrent requests, want >= %d", srv.maxConc, tc.wantConc)
			}
			if got := c.Stats().ConnectionsOpened; got != int64(tc.wantConns) {
				t.Errorf("client opened %d connections, want %d", got, tc.wantConns)
			}
			newConns := 0
			var sent, recv int64
			for _, r := range results {
				if r.Status != 200 || r.Proto != "HTTP/3.0" || r.TLSVersion != "tls1.3" {
					t.Errorf("result %d %s %s", r.Status, r.Proto, r.TLSVersion)
				}
				if r.NewConn {
					newConns++
					if r.Timings.Connecting <= 0 || r.Conn.Handshake <= 0 {
						t.Errorf("new connection without handshake timing: %+v %+v", r.Timings, r.Conn)
					}
				} else if r.Timings.Connecting != 0 {
					t.Errorf("reused connection with connecting %s", r.Timings.Connecting)
				}
				sent += r.BytesSent
				recv += r.BytesRecv
				if tc.workers == 1 && (r.BytesSent <= 0 || r.BytesRecv <= 0) {
					t.Errorf("no wire bytes attributed: sent %d recv %d", r.BytesSent, r.BytesRecv)
				}
			}
			// a request's bytes may be counted by a concurrent neighbour, but
			// every request moves a few hundred bytes each way
			if sent < int64(tc.n)*50 || recv < int64(tc.n)*100 {
				t.Errorf("wire bytes: sent %d recv %d for %d requests", sent, recv, tc.n)
			}
			if newConns != tc.wantConns {
				t.Errorf("%d results opened a connection, want %d", newConns, tc.wantConns)
			}
		})
	}
}

func TestRotationByAge(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, "", nil)
	c, err := New(Options{CACerts: pki.caPEM, MaxConnectionAge: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testCtx(t, 20*time.Second)
	for range 10 {
		if _, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	recs := srv.records()
	if len(recs) < 3 || !freshPorts(distinctPorts(recs), len(recs)) {
		t.Fatalf("server saw %d connections on %d ports, want >= 3 on distinct ports", len(recs), distinctPorts(recs))
	}
}

func TestServerRecycling(t *testing.T) {
	pki := newPKI(t)
	for _, workers := range []int{1, 4} {
		t.Run("workers="+string(rune('0'+workers)), func(t *testing.T) {
			srv := startServer(t, pki, "", func(s *testServer) { s.maxConnRequests = 3; s.delay = 2 * time.Millisecond })
			c, err := New(Options{CACerts: pki.caPEM})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			results := run(t, c, srv.url(), 30*workers, workers)
			for _, r := range results {
				if r.Status != 200 {
					t.Fatalf("failed request: %+v", r)
				}
			}
			recs := srv.records()
			if len(recs) < 4 {
				t.Errorf("server saw %d connections, want >= 4 (it recycles every 3 requests)", len(recs))
			}
			if !freshPorts(distinctPorts(recs), len(recs)) {
				t.Errorf("re-dials reused a port: %d connections, %d ports", len(recs), distinctPorts(recs))
			}
		})
	}
}

// TestNoRetryAfterResponse: a response cut after its headers arrived was
// processed by the server, so it fails with the status kept and is not
// sent again, even for a GET on a connection closed with H3_NO_ERROR.
func TestNoRetryAfterResponse(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, "", func(s *testServer) { s.cutBody = true })
	c, err := New(Options{CACerts: pki.caPEM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url()})
	if err == nil || res.Status != 200 || res.Retries != 0 || res.ErrorCode != httpkit.CodeGracefulClose {
		t.Fatalf("got err %v, status %d, retries %d, code %d; want a failure with status 200, no retry, code %d",
			err, res.Status, res.Retries, res.ErrorCode, httpkit.CodeGracefulClose)
	}
	if n := len(srv.records()); n != 1 {
		t.Errorf("server saw %d connections, want 1 (no retry)", n)
	}
}

func TestZeroRTT(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, "", nil)
	c, err := New(Options{Mode: PerRequest, ZeroRTT: true, CACerts: pki.caPEM})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	results := run(t, c, srv.url(), 6, 1)
	if results[0].Conn.Resumed || results[0].Conn.Used0RTT {
		t.Errorf("first connection cannot resume: %+v", results[0].Conn)
	}
	zero := 0
	for _, r := range results[1:] {
		if !r.Conn.Resumed {
			t.Errorf("later connection did not resume: %+v", r.Conn)
		}
		if r.Conn.Used0RTT {
			zero++
		}
	}
	if zero == 0 {
		t.Errorf("no connection used 0-RTT")
	}
	srvZero := 0
	for _, rec := range srv.records() {
		if rec.conn.ConnectionState().Used0RTT {
			srvZero++
		}
	}
	if srvZero != zero {
		t.Errorf("server saw %d 0-RTT connections, client %d", srvZero, zero)
	}
}

func TestErrors(t *testing.T) {
	pki := newPKI(t)
	other := newPKI(t)
	srv := startServer(t, pki, "", nil)
	dead := startServer(t, pki, "", nil)
	dead.stop()
	cases := []struct {
		name string
		opts Options
		url  string
		want int
	}{
		{"wrong CA", Options{CACerts: other.caPEM}, srv.url(), httpkit.CodeTLSUnknownAuth},
		{"server name mismatch", Options{CACerts: pki.caPEM, ServerName: "example.com"}, srv.url(), httpkit.CodeTLSHostMismatch},
		{"no server", Options{CACerts: pki.caPEM, HandshakeTimeout: 300 * time.Millisecond}, dead.url(), httpkit.CodeHandshakeTimeout},
		{"http scheme", Options{}, "http://127.0.0.1/", httpkit.CodeInvalidURL},
		{"bad url", Options{}, "https://[::1", httpkit.CodeInvalidURL},
		{"request timeout", Options{CACerts: pki.caPEM, Timeout: 50 * time.Millisecond, HandshakeTimeout: 2 * time.Second}, dead.url(), httpkit.CodeRequestTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: tc.url})
			if err == nil || res.ErrorCode != tc.want {
				t.Fatalf("got code %d (%v), want %d", res.ErrorCode, err, tc.want)
			}
			if time.Since(start) > 3*time.Second {
				t.Errorf("failure took %s", time.Since(start))
			}
		})
	}
	t.Run("insecure skip verify", func(t *testing.T) {
		c, _ := New(Options{InsecureSkipTLSVerify: true})
		defer c.Close()
		if res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url()}); err != nil || res.Status != 200 {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("closed client", func(t *testing.T) {
		c, _ := New(Options{CACerts: pki.caPEM})
		_ = c.Close()
		res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url()})
		if err == nil || res.ErrorCode != httpkit.CodeLocalClose {
			t.Fatalf("got %d %v", res.ErrorCode, err)
		}
	})
}

func TestOptionsValidation(t *testing.T) {
	bad := []Options{
		{Mode: "round-robin"},
		{Mode: PerRequest, Socket: "reuse"},
		{Mode: SingleConnection, Socket: SharedSocket},
		{Mode: SingleConnection, Connections: 2},
		{Connections: -1},
		{MaxRequestsPerConnection: -1},
		{MaxConnectionAge: -time.Second},
		{CACerts: []byte("not pem")},
	}
	for _, o := range bad {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted bad options", o)
		}
	}
}

// TestFaults: the server disappears under a live connection, comes back
// with the same stateless reset key, or without it.
func TestFaults(t *testing.T) {
	pki := newPKI(t)
	t.Run("stateless reset after restart", func(t *testing.T) {
		srv := startServer(t, pki, "", nil)
		c, _ := New(Options{CACerts: pki.caPEM, IdleTimeout: 3 * time.Second})
		defer c.Close()
		ctx := testCtx(t, 20*time.Second)
		if _, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil {
			t.Fatal(err)
		}
		srv.restart(t) // same port, same stateless reset key, no state
		start := time.Now()
		res, err := c.Do(ctx, &Request{URL: srv.url()})
		if err == nil || res.ErrorCode != httpkit.CodeStatelessReset {
			t.Fatalf("got code %d (%v), want stateless reset", res.ErrorCode, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("stateless reset took %s", d)
		}
		if _, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil {
			t.Fatalf("no recovery after the reset: %v", err)
		}
	})
	t.Run("killed then restarted with other keys", func(t *testing.T) {
		srv := startServer(t, pki, "", nil)
		c, _ := New(Options{CACerts: pki.caPEM, IdleTimeout: 700 * time.Millisecond, HandshakeTimeout: 500 * time.Millisecond})
		defer c.Close()
		ctx := testCtx(t, 20*time.Second)
		if _, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil {
			t.Fatal(err)
		}
		srv.stop()
		start := time.Now()
		res, err := c.Do(ctx, &Request{URL: srv.url()})
		if err == nil || res.ErrorCode != httpkit.CodeIdleTimeout {
			t.Fatalf("got code %d (%v), want idle timeout", res.ErrorCode, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("idle timeout took %s", d)
		}
		res, err = c.Do(ctx, &Request{URL: srv.url()})
		if err == nil || res.ErrorCode != httpkit.CodeHandshakeTimeout {
			t.Fatalf("got code %d (%v), want handshake timeout", res.ErrorCode, err)
		}
		srv.resetKey[0]++ // a different process: no reset can be recognised
		srv.listen(t, srv.addr)
		if _, err := c.Do(ctx, &Request{URL: srv.url()}); err != nil {
			t.Fatalf("no recovery after the restart: %v", err)
		}
	})
}

func TestQlogDir(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, "", nil)
	dir := t.TempDir()
	c, err := New(Options{CACerts: pki.caPEM, QlogDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url()}); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	time.Sleep(100 * time.Millisecond) // the trace is flushed when the connection closes
	files, _ := filepath.Glob(filepath.Join(dir, "*_client.sqlog"))
	if len(files) != 1 {
		t.Fatalf("qlog files %v, want one", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "transport:packet_sent") {
		t.Fatalf("qlog file without packet events (%d bytes)", len(b))
	}
}

// TestInformational checks the request path's handling of 1xx responses
// (Client.Do reads the final response past them, at most 5, as quic-go's
// RoundTrip and net/http do), for a request without a body (the stream
// API path) and one with a body (RoundTrip).
func TestInformational(t *testing.T) {
	pki := newPKI(t)
	for _, early := range []int{1, 5, 6} {
		srv := startServer(t, pki, "", func(s *testServer) { s.early = early })
		c, err := New(Options{CACerts: pki.caPEM})
		if err != nil {
			t.Fatal(err)
		}
		for _, body := range [][]byte{nil, []byte("x=1")} {
			res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url(), Method: "POST", Body: body})
			if early <= 5 {
				if err != nil || res.Status != 200 || res.Header.Get("X-Served-By") != "pod-a" ||
					res.Header.Get("Link") != "" || !bytes.Contains(res.Body, []byte(`"hostname":"pod-a"`)) {
					t.Fatalf("%d early hints, body %q: status %d header %v body %q err %v", early, body, res.Status, res.Header, res.Body, err)
				}
				if res.TLSVersion != "tls1.3" {
					t.Errorf("tls version %q", res.TLSVersion)
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), "too many 1xx") {
				t.Fatalf("%d early hints, body %q: want too many 1xx, got status %d err %v", early, body, res.Status, err)
			}
		}
		_ = c.Close()
	}
}

// TestCancelResetsStream checks that a request that times out resets its
// stream (the server's handler sees its context end) and leaves the
// connection usable, on both request paths (without and with a body).
func TestCancelResetsStream(t *testing.T) {
	pki := newPKI(t)
	srv := startServer(t, pki, "", func(s *testServer) { s.delay = 3 * time.Second })
	c, err := New(Options{CACerts: pki.caPEM, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, body := range [][]byte{nil, []byte("x=1")} {
		start := time.Now()
		res, err := c.Do(testCtx(t, 10*time.Second), &Request{URL: srv.url(), Method: "POST", Body: body})
		if err == nil || res.ErrorCode != httpkit.CodeRequestTimeout {
			t.Fatalf("body %q: got code %d (%v), want a request timeout", body, res.ErrorCode, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("body %q: the timeout took %s", body, took)
		}
		deadline := time.Now().Add(2 * time.Second)
		for srv.canceled.Load() < int64(i+1) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := srv.canceled.Load(); got != int64(i+1) {
			t.Fatalf("body %q: server saw %d reset streams, want %d", body, got, i+1)
		}
	}
	if st := c.Stats(); st.ConnectionsOpened != 1 {
		t.Errorf("connections opened %d, want 1 (a reset stream keeps the connection)", st.ConnectionsOpened)
	}
}
