package k6http

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// h2Server is Go's net/http HTTP/2 server with handlers for the edge
// cases of the synchronous client: large bodies both ways, gzip,
// trailers, redirects with cookies, large headers, slow answers.
type h2Server struct {
	*httptest.Server
	conns, inflight, maxIn atomic.Int64
}

func newH2Server(t *testing.T, p *testPKI, cfg *http.HTTP2Config) *h2Server {
	t.Helper()
	s := &h2Server{}
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("cl") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		chunk := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz", 2521)) // 65546 bytes
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, `{"n":%d,"crc":%d,"cl":%q}`, len(data), crc32.ChecksumIEEE(data), r.Header.Get("Content-Length"))
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write([]byte(strings.Repeat("spread ", 50000)))
		_ = zw.Close()
	})
	mux.HandleFunc("/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		_, _ = w.Write([]byte("body-before-trailer"))
		w.Header().Set("X-Sum", "42")
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "flavour", Value: "oat", Path: "/"})
		http.Redirect(w, r, "/cookie", http.StatusFound)
	})
	mux.HandleFunc("/cookie", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Header.Get("Cookie")))
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Echo", r.Header.Get("X-Big"))
		fmt.Fprintf(w, "%d %s", len(r.Header.Get("X-Big")), r.Proto)
	})
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		cur := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for m := s.maxIn.Load(); cur > m && !s.maxIn.CompareAndSwap(m, cur); m = s.maxIn.Load() {
		}
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(r.Proto))
	})
	s.Server = httptest.NewUnstartedServer(mux)
	cert, err := tls.X509KeyPair([]byte(p.serverCert), []byte(p.serverKey))
	if err != nil {
		t.Fatal(err)
	}
	s.EnableHTTP2 = true
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.HTTP2 = cfg
	s.Config.ErrorLog = quietLog()
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// TestH2SyncGoServer runs the client's features against Go's h2 server:
// every request of the VU, large bodies beyond both flow-control windows
// both ways, a header block spanning CONTINUATION frames, a timed-out
// request (its stream reset) and a multiplexed batch and asyncRequests,
// all on one connection.
func TestH2SyncGoServer(t *testing.T) {
	if !h2SyncOn {
		t.Skip("SPREAD_K6HTTP_H2=nethttp: the synchronous client is off")
	}
	p := newTestPKI(t)
	s := newH2Server(t, p, nil)
	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM})
	up := strings.Repeat("0123456789abcdef", 3<<16) // 3 MiB
	checkJS(t, vu, fmt.Sprintf(`var u = %q, up = %q;
		var a = http.get(u + '/delay?d=0'), b = http.get(u + '/delay?d=0');
		var big = http.get(u + '/big?n=20000000');
		var bigCL = http.get(u + '/big?n=5000000&cl=1', {responseType: 'binary'});
		var none = http.get(u + '/big?n=9000000', {responseType: 'none'});
		var upr = http.post(u + '/upload', up);
		var empty = http.post(u + '/upload');
		var gz = http.get(u + '/gzip', {headers: {'Accept-Encoding': 'gzip'}});
		var tr = http.get(u + '/trailer');
		var rd = http.get(u + '/redirect');
		var hd = http.get(u + '/headers', {headers: {'X-Big': 'y'.repeat(40000)}});
		var head = http.request('HEAD', u + '/big?n=100&cl=1');
		var to = http.get(u + '/delay?d=3s', {timeout: '300ms'});
		var after = http.get(u + '/delay?d=0');
		var rs = http.batch([1,2,3,4,5,6].map(function(){ return u + '/delay?d=300ms'; }));
		return {
			proto: a.proto === 'HTTP/2.0' && a.body === 'HTTP/2.0' && a.status === 200,
			handshakeOnce: a.timings.tls_handshaking > 0 && a.timings.connecting > 0 && b.timings.tls_handshaking === 0 && b.timings.connecting === 0,
			phases: b.timings.waiting > 0 && b.timings.duration >= b.timings.waiting,
			tls: a.tls_version === 'tls1.3' && a.remote_ip === '127.0.0.1' && a.remote_port > 0,
			big: big.status === 200 && big.body.length === 20000000 && big.body.charCodeAt(19999999) === %d,
			bigCL: bigCL.body.byteLength === 5000000,
			none: none.status === 200 && none.body === null,
			upload: upr.json('n') === up.length && upr.json('cl') === String(up.length),
			emptyPost: empty.json('n') === 0 && empty.json('cl') === '0',
			gzip: gz.body === 'spread '.repeat(50000),
			trailer: tr.status === 200 && tr.body === 'body-before-trailer',
			redirect: rd.status === 200 && rd.body === 'flavour=oat' && rd.url === u + '/cookie',
			bigHeader: hd.body === '40000 HTTP/2.0' && hd.headers['X-Echo'].length === 40000,
			head: head.status === 200 && head.body === '' && head.headers['Content-Length'] === '100',
			timeout: to.error_code === 1050 && to.status === 0,
			afterTimeout: after.status === 200,
			batch: rs.every(function(r){ return r.status === 200 && r.proto === 'HTTP/2.0'; }),
		};`, s.URL, up, 'a'+19999999%26)) // the server's body is a, b, ... z repeated
	if m := s.maxIn.Load(); m < 6 {
		t.Errorf("the batch ran at most %d requests at once at the server, want 6 (multiplexed)", m)
	}

	// asyncRequests in flight together share the connection too.
	vu.StartIteration(0)
	v, err := vu.RunString(fmt.Sprintf(`(async function(){
		var ps = [];
		for (var i = 0; i < 8; i++) ps.push(http.asyncRequest('GET', %q + '/delay?d=300ms'));
		var rs = await Promise.all(ps);
		var sync = http.get(%q + '/delay?d=0');
		return rs.filter(function(r){ return r.status === 200; }).length + ',' + sync.status;
	})()`, s.URL, s.URL))
	if err != nil {
		t.Fatal(err)
	}
	if v.String() != "8,200" {
		t.Errorf("asyncRequests: %s, want 8,200", v)
	}
	if m := s.maxIn.Load(); m < 8 {
		t.Errorf("at most %d asyncRequests at once at the server, want 8", m)
	}
	if n := s.conns.Load(); n != 1 {
		t.Errorf("server saw %d connections, want 1: every request of the VU on its one connection", n)
	}
}

// TestH2SyncServerPing: the server pings (HTTP2Config.SendPingTimeout)
// while a request waits, and closes the connection when a ping goes
// unanswered. Pings during a request are answered by the reading request;
// a connection closed while the VU was idle is found stale and the next
// request, GET (retried) or POST (checked before use), goes on a new one.
func TestH2SyncServerPing(t *testing.T) {
	p := newTestPKI(t)
	s := newH2Server(t, p, &http.HTTP2Config{SendPingTimeout: 50 * time.Millisecond, PingTimeout: 150 * time.Millisecond})
	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM})
	checkJS(t, vu, fmt.Sprintf(`var r = http.get(%q + '/delay?d=700ms');
		return {pinged: r.status === 200 && r.error === ''};`, s.URL))
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections for one request answered after server pings, want 1", n)
	}
	time.Sleep(600 * time.Millisecond) // idle VU: the ping goes unanswered, the server closes
	checkJS(t, vu, fmt.Sprintf(`var r = http.get(%q + '/delay?d=0');
		return {get: r.status === 200};`, s.URL))
	time.Sleep(600 * time.Millisecond)
	checkJS(t, vu, fmt.Sprintf(`var r = http.post(%q + '/upload', 'abc');
		return {post: r.status === 200 && r.json('n') === 3};`, s.URL))
	if n := s.conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3 (two closed by the server while idle)", n)
	}
	if f := sum(vu, "http_req_failed"); f != 0 {
		t.Fatalf("http_req_failed = %v", f)
	}
}

// TestH2SyncGracefulShutdown: echo-server shuts down (SIGTERM: a short
// drain, then GOAWAY, in-flight requests finish) while a VU sends
// requests. Every request is answered or refused at dial; none fails
// with a stream or GOAWAY error.
func TestH2SyncGracefulShutdown(t *testing.T) {
	es := startEcho(t, "pod-g", "--delay", "40ms", "--drain", "300ms", "--shutdown-timeout", "5s")
	vu := newVU(t, map[string]any{"tlsCACerts": es.PKI.CA})
	go func() {
		time.Sleep(400 * time.Millisecond)
		_ = es.Signal(syscall.SIGTERM)
	}()
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var ok = 0, refused = 0, other = [];
		for (var i = 0; i < 60 && refused < 3; i++) {
			var r = http.get(%q);
			if (r.status === 200) ok++;
			else if (r.error_code === 1212 || r.error_code === 1210) refused++;
			else other.push(r.error_code + ' ' + r.error);
		}
		return {ok: ok, refused: refused, other: other};
	})()`, es.HTTPSURL()+"/"))
	if r["ok"].(float64) < 5 || r["refused"].(float64) < 1 || len(r["other"].([]any)) != 0 {
		t.Fatalf("during a graceful shutdown: %v; want answers, then refusals, nothing else", r)
	}
}

// TestH2SyncNghttpd runs the client against an independent HTTP/2 server,
// nghttp2's nghttpd (Debian nghttp2-server), set up to stress the parts
// Go's server leaves alone: small flow-control windows (16 KiB stream,
// 32 KiB connection: the upload waits for WINDOW_UPDATE many times),
// padded frames, trailers, at most 4 concurrent streams, and a push
// configured (the client disables push, so none may come).
func TestH2SyncNghttpd(t *testing.T) {
	bin, err := exec.LookPath("nghttpd")
	if err != nil {
		if os.Getenv("SPREAD_REQUIRE_PEERS") != "" {
			t.Fatal("nghttpd not installed (apt-get install nghttp2-server) and SPREAD_REQUIRE_PEERS is set")
		}
		t.Skip("nghttpd not installed (apt-get install nghttp2-server)")
	}
	p := newTestPKI(t)
	dir := t.TempDir()
	docs := filepath.Join(dir, "htdocs")
	big := strings.Repeat("nghttp2!", 1<<19) // 4 MiB
	for name, content := range map[string]string{"cert.pem": p.serverCert, "key.pem": p.serverKey,
		"htdocs/small.txt": "hello", "htdocs/big.bin": big} {
		_ = os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-a", "127.0.0.1", "-d", docs, "--echo-upload", "--trailer", "x-t: 1",
		"-b", "17", "-w", "14", "-W", "15", "-m", "4", "--push=/small.txt=/big.bin",
		strconv.Itoa(port), filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"))
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nghttpd did not listen on %s: %s", addr, logs.String())
		}
	}
	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM})
	u := "https://" + addr
	checkJS(t, vu, fmt.Sprintf(`var u = %q, up = 'u'.repeat(1 << 20);
		var a = http.get(u + '/small.txt'), b = http.get(u + '/small.txt');
		var big = http.get(u + '/big.bin');
		var upr = http.post(u + '/small.txt', up);
		var rs = http.batch([1,2,3,4,5,6].map(function(){ return u + '/small.txt'; }));
		var nf = http.get(u + '/missing');
		return {
			small: a.status === 200 && a.body === 'hello' && a.proto === 'HTTP/2.0' && b.body === 'hello',
			reused: b.timings.tls_handshaking === 0,
			big: big.status === 200 && big.body.length === %d,
			upload: upr.status === 200 && upr.body.length === up.length,
			batch: rs.every(function(r){ return r.status === 200 && r.body === 'hello'; }),
			notFound: nf.status === 404,
		};`, u, len(big)))
	if f := sum(vu, "http_req_failed"); f != 1 {
		t.Fatalf("http_req_failed = %v, want 1 (the 404)", f)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestH2SyncServerLimits: a server allowing one stream per connection
// (SETTINGS_MAX_CONCURRENT_STREAMS 1) still gets a whole batch, on more
// connections; a request whose header list exceeds the server's
// SETTINGS_MAX_HEADER_LIST_SIZE fails before it is sent, and the
// connection serves the next request.
func TestH2SyncServerLimits(t *testing.T) {
	p := newTestPKI(t)
	s := newH2Server(t, p, &http.HTTP2Config{MaxConcurrentStreams: 1})
	s.Config.MaxHeaderBytes = 4 << 10
	vu := newVU(t, map[string]any{"tlsCACerts": p.caPEM})
	checkJS(t, vu, fmt.Sprintf(`var u = %q;
		var first = http.get(u + '/delay?d=0');
		var rs = http.batch([1,2,3,4].map(function(){ return u + '/delay?d=100ms'; }));
		var big = http.get(u + '/headers', {headers: {'X-Big': 'y'.repeat(40000)}});
		var next = http.get(u + '/delay?d=0');
		return {
			batch: first.status === 200 && rs.every(function(r){ return r.status === 200; }),
			refused: big.status === 0 && big.error_code === 1600 && big.error.indexOf('header list') >= 0 || big.error,
			next: next.status === 200 && next.remote_port === first.remote_port,
		};`, s.URL))
	if m := s.maxIn.Load(); m > 4 || m < 2 {
		t.Errorf("%d requests at once at the server, want 2..4 (the batch over several connections)", m)
	}
	if n := s.conns.Load(); n < 2 {
		t.Errorf("%d connections, want more than 1 with one stream allowed per connection", n)
	}
}
