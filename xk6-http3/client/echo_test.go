package client

import (
	"encoding/json"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
	"spread.dev/spread/ext/httpkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// echoBody is what echo-server answers on GET /.
type echoBody struct {
	Hostname     string `json:"hostname"`
	Proto        string `json:"proto"`
	RemoteAddr   string `json:"remote_addr"`
	ConnRequests int    `json:"conn_requests"`
}

func parseEcho(t *testing.T, r *Result) echoBody {
	t.Helper()
	var b echoBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		t.Fatalf("echo body %q: %v", r.Body, err)
	}
	return b
}

func portOf(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

func readCA(t testing.TB, pki *echotest.PKI) []byte {
	t.Helper()
	b, err := os.ReadFile(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEchoServerPolicies checks each policy on what a real echo-server saw:
// its connection counter and the client addresses it reported.
func TestEchoServerPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts echo-server processes")
	}
	pki := echotest.Certs(t)
	ca := readCA(t, pki)
	cases := []struct {
		name      string
		opts      Options
		clients   int // "VUs": each has a Client of its own, except multiplexed
		perClient int
		workers   int // goroutines per client
		extra     []string
		wantConns int // server-side h3 connections; -1: at least minConns
		minConns  int
		wantPorts int // distinct client addresses; -1: one per connection
	}{
		{"single-connection: one connection per VU", Options{Mode: SingleConnection}, 3, 10, 1, []string{"--delay", "0"}, 3, 0, 3},
		{"per-request fresh: a new port per request", Options{Mode: PerRequest}, 1, 8, 1, []string{"--delay", "0"}, 8, 0, 8},
		{"per-request shared: one port for all", Options{Mode: PerRequest, Socket: SharedSocket}, 1, 8, 1, []string{"--delay", "0"}, 8, 0, 1},
		{"multiplexed: one connection for all VUs", Options{Mode: Multiplexed}, 1, 16, 8, []string{"--delay", "200ms"}, 1, 0, 1},
		{"multiplexed pool of 2", Options{Mode: Multiplexed, Connections: 2}, 1, 8, 4, []string{"--delay", "50ms"}, 2, 0, 2},
		{"client rotation", Options{Mode: SingleConnection, MaxRequestsPerConnection: 4}, 1, 12, 1, []string{"--delay", "0"}, 3, 0, 3},
		{"server recycling", Options{Mode: SingleConnection}, 2, 15, 1, []string{"--delay", "0", "--max-conn-requests", "3"}, 10, 0, -1},
		{"server recycling, concurrent streams", Options{Mode: SingleConnection}, 1, 24, 4, []string{"--delay", "20ms", "--max-conn-requests", "3"}, -1, 4, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: tc.extra})
			tc.opts.CACerts = ca
			var (
				mu      sync.Mutex
				results []*Result
				wg      sync.WaitGroup
			)
			start := time.Now()
			shared, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer shared.Close()
			for range tc.clients {
				c := shared
				if tc.clients > 1 {
					if c, err = New(tc.opts); err != nil {
						t.Fatal(err)
					}
					defer c.Close()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					rs := run(t, c, srv.H3URL(), tc.perClient, tc.workers)
					mu.Lock()
					results = append(results, rs...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)

			if tc.opts.Mode == PerRequest {
				// Each connection closes with its response, while the
				// Client is still open (no idle timeout, no Close needed).
				deadline := time.Now().Add(5 * time.Second)
				for {
					open, live := srv.Sum(t, "echo_open_connections", `proto="h3"`), shared.liveConns()
					if open == 0 && live == 0 {
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("5s after the last per-request response: echo-server has %v open h3 connections, the client tracks %d", open, live)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			conns := int(srv.Sum(t, "echo_connections_opened_total", `proto="h3"`))
			if tc.wantConns >= 0 && conns != tc.wantConns {
				t.Errorf("echo-server saw %d h3 connections, want %d", conns, tc.wantConns)
			}
			if tc.wantConns < 0 && conns < tc.minConns {
				t.Errorf("echo-server saw %d h3 connections, want >= %d", conns, tc.minConns)
			}
			ports := map[string]bool{}
			for _, r := range results {
				if r.Status != 200 {
					t.Fatalf("failed request: code %d %s", r.ErrorCode, r.Error)
				}
				b := parseEcho(t, r)
				if b.Proto != "HTTP/3.0" || b.Hostname != srv.Pod || r.Header.Get("X-Served-By") != srv.Pod {
					t.Errorf("unexpected answer %+v", b)
				}
				if portOf(b.RemoteAddr) != portOf(r.Conn.LocalAddr) {
					t.Errorf("server saw client %s, client says it used %s", b.RemoteAddr, r.Conn.LocalAddr)
				}
				ports[b.RemoteAddr] = true
			}
			wantPorts := tc.wantPorts
			if wantPorts < 0 {
				wantPorts = conns
			}
			// More connections than clients: sockets were replaced, and the
			// kernel may hand a freed port to a later one.
			redials := wantPorts == conns && conns > tc.clients && tc.opts.Mode != Multiplexed
			if len(ports) != wantPorts && !(redials && freshPorts(len(ports), conns)) {
				t.Errorf("echo-server saw %d client addresses, want %d", len(ports), wantPorts)
			}
			if tc.opts.Mode == Multiplexed && tc.workers > 1 {
				// 16 requests of 200ms in well under 16*200ms: concurrent streams
				if limit := time.Duration(tc.perClient) * 200 * time.Millisecond / 2; tc.extra[1] == "200ms" && elapsed > limit {
					t.Errorf("multiplexed requests took %s, want < %s (concurrent streams)", elapsed, limit)
				}
			}
		})
	}
}

func TestEchoServerZeroRTT(t *testing.T) {
	if testing.Short() {
		t.Skip("starts echo-server processes")
	}
	pki := echotest.Certs(t)
	srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
	c, err := New(Options{Mode: PerRequest, ZeroRTT: true, CACerts: readCA(t, pki)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	results := run(t, c, srv.H3URL(), 5, 1)
	if results[0].Conn.Used0RTT || results[0].Conn.Resumed {
		t.Errorf("first connection resumed: %+v", results[0].Conn)
	}
	for _, r := range results[1:] {
		if !r.Conn.Resumed || !r.Conn.Used0RTT {
			t.Errorf("connection %d did not use 0-RTT: %+v", r.Conn.ID, r.Conn)
		}
	}
	if got := srv.Sum(t, "echo_connections_opened_total", `proto="h3"`); got != 5 {
		t.Errorf("echo-server saw %v connections, want 5", got)
	}
}

// TestEchoServerFaults: wrong CA, a server killed and restarted under a
// live connection, and a restart with shared --quic-keys (stateless reset).
func TestEchoServerFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts echo-server processes")
	}
	pki := echotest.Certs(t)
	ca := readCA(t, pki)
	ctx := testCtx(t, 60*time.Second)

	t.Run("wrong CA", func(t *testing.T) {
		srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
		other := echotest.Certs(t)
		c, _ := New(Options{CACerts: readCA(t, other)})
		defer c.Close()
		res, err := c.Do(ctx, &Request{URL: srv.H3URL()})
		if err == nil || res.ErrorCode != httpkit.CodeTLSUnknownAuth {
			t.Fatalf("got %d %v, want unknown authority", res.ErrorCode, err)
		}
	})

	t.Run("stateless reset", func(t *testing.T) {
		keys := echotest.Keys(t)
		srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0", "--quic-keys", keys}})
		c, _ := New(Options{CACerts: ca, IdleTimeout: 5 * time.Second})
		defer c.Close()
		if _, err := c.Do(ctx, &Request{URL: srv.H3URL()}); err != nil {
			t.Fatal(err)
		}
		srv.Restart(t)
		start := time.Now()
		res, err := c.Do(ctx, &Request{URL: srv.H3URL()})
		if err == nil || res.ErrorCode != httpkit.CodeStatelessReset {
			t.Fatalf("got %d %v, want stateless reset", res.ErrorCode, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("stateless reset after %s", d)
		}
		if res, err := c.Do(ctx, &Request{URL: srv.H3URL()}); err != nil || res.Status != 200 {
			t.Fatalf("no recovery: %v", err)
		}
	})

	t.Run("killed mid-run, then restarted", func(t *testing.T) {
		srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "10ms"}})
		opts := Options{CACerts: ca, IdleTimeout: time.Second, HandshakeTimeout: 800 * time.Millisecond}
		type event struct {
			at   time.Duration
			code int
		}
		var (
			mu     sync.Mutex
			events []event
			wg     sync.WaitGroup
		)
		// Read once: Restart rewrites the Server's fields (same ports) while
		// the VUs run.
		url := srv.H3URL()
		start := time.Now()
		stop := make(chan struct{})
		for range 2 { // two VUs
			c, _ := New(opts)
			defer c.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					res, _ := c.Do(ctx, &Request{URL: url})
					mu.Lock()
					events = append(events, event{time.Since(start), res.ErrorCode})
					mu.Unlock()
					if res.ErrorCode != 0 {
						time.Sleep(50 * time.Millisecond)
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		killedAt := time.Since(start)
		srv.Kill()
		time.Sleep(3 * time.Second) // > idleTimeout + handshakeTimeout
		restartedAt := time.Since(start)
		srv.Restart(t)
		time.Sleep(2 * time.Second)
		close(stop)
		wg.Wait()

		codes := map[int]int{}
		var okBefore, okAfter int
		firstOKAfter := time.Duration(-1)
		for _, e := range events {
			codes[e.code]++
			switch {
			case e.code == 0 && e.at < killedAt:
				okBefore++
			case e.code == 0 && e.at > restartedAt:
				okAfter++
				if firstOKAfter < 0 {
					firstOKAfter = e.at - restartedAt
				}
			case e.code != 0 && (e.at < killedAt || e.at > restartedAt+2*time.Second):
				t.Errorf("failure %d at %s outside the outage", e.code, e.at)
			}
		}
		t.Logf("codes %v, first success %s after the restart", codes, firstOKAfter)
		if okBefore == 0 || okAfter == 0 {
			t.Fatalf("want successes before the kill and after the restart: %v", codes)
		}
		if codes[httpkit.CodeIdleTimeout] == 0 {
			t.Errorf("no idle timeout for the requests in flight at the kill: %v", codes)
		}
		if codes[httpkit.CodeHandshakeTimeout] == 0 {
			t.Errorf("no handshake timeout while the server was down: %v", codes)
		}
		if firstOKAfter > 1500*time.Millisecond {
			t.Errorf("recovered %s after the restart, want < 1.5s", firstOKAfter)
		}
	})
}
