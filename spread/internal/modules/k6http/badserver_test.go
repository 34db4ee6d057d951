package k6http

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"spread.dev/spread/ext/httpkit"
)

// badServer is a raw TCP server whose responses are whatever the test
// wants, however broken: GET /NAME answers with the bytes of case NAME.
// It serves every request of a connection until the case says close.
type badServer struct {
	addr  string
	conns atomic.Int64
}

// badCases are the raw answers; "close" ones end the connection after.
var badCases = map[string]struct {
	raw   string
	close bool
}{
	"status":   {"HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", true},
	"header":   {"HTTP/1.1 200 OK\r\nThis is not a header\r\nContent-Length: 0\r\n\r\n", true},
	"longer":   {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad", false},
	"midbody":  {"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this", true},
	"chunked":  {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnot hex\r\n", true},
	"ok":       {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false},
	"loop":     {"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n", false},
	"gigabyte": {"", false}, // 1 GiB of zeros, written by serve
}

const gigabyte = 1 << 30

func startBadServer(t testing.TB) *badServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &badServer{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			bs.conns.Add(1)
			go bs.serve(c)
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return bs
}

func (bs *badServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		_ = c.SetDeadline(time.Now().Add(60 * time.Second))
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		name := strings.TrimPrefix(req.URL.Path, "/")
		bc, ok := badCases[name]
		if !ok {
			return
		}
		if name == "gigabyte" {
			_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", gigabyte)
			zeros := make([]byte, 1<<20)
			for sent := 0; sent < gigabyte; sent += len(zeros) {
				if _, err := c.Write(zeros); err != nil {
					return
				}
			}
			continue
		}
		if _, err := io.WriteString(c, bc.raw); err != nil || bc.close {
			return
		}
	}
}

func TestBadServers(t *testing.T) {
	bs := startBadServer(t)
	base := "http://" + bs.addr
	vu := newVU(t, map[string]any{"maxRedirects": 3})
	got := jsObj(t, vu, fmt.Sprintf(`(function(){
		var B = %q, out = {};
		['status', 'header', 'midbody', 'chunked'].forEach(function(n) {
			var r = http.get(B + '/' + n);
			out[n] = {status: r.status, code: r.error_code, error: r.error};
		});
		var l = http.get(B + '/longer');
		var after = http.get(B + '/ok');
		out.longer = {body: l.body, next: after.body, status: after.status};
		var loop = http.get(B + '/loop');
		out.loop = {status: loop.status, url: loop.url, error: loop.error};
		return out;
	})()`, base))
	t.Logf("results: %v", got)
	for _, n := range []string{"status", "header", "midbody", "chunked"} {
		r := got[n].(map[string]any)
		if r["status"] != 0.0 || r["code"] != float64(httpkit.CodeGeneric) || r["error"] == "" {
			t.Errorf("%s: %v, want status 0, error_code %d and a message", n, r, httpkit.CodeGeneric)
		}
	}
	if msg := got["midbody"].(map[string]any)["error"]; msg != "unexpected EOF" {
		t.Errorf("server stopping mid-body: error %q, want unexpected EOF", msg)
	}
	if l := got["longer"].(map[string]any); l["body"] != "hello" || l["next"] != "ok" || l["status"] != 200.0 {
		t.Errorf("body longer than Content-Length: %v (the extra bytes must not become the next response)", l)
	}
	if loop := got["loop"].(map[string]any); loop["status"] != 302.0 || loop["error"] != "" {
		t.Errorf("redirect loop: %v, want the last 302 after maxRedirects", loop)
	}
	loops := 0
	for _, tags := range tagsOf(vu, "http_reqs") {
		if strings.HasSuffix(tags["url"], "/loop") {
			loops++
		}
	}
	if loops != 4 {
		t.Errorf("redirect loop: %d requests, want 4 (the request and maxRedirects 3 hops)", loops)
	}
}

// TestGigabyteBodyDiscarded reads a 1 GiB body with responseType none: the
// client's allocations stay a small constant, whatever the body size.
func TestGigabyteBodyDiscarded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not moving a gigabyte")
	}
	bs := startBadServer(t)
	vu := newVU(t, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got := jsObj(t, vu, fmt.Sprintf(`(function(){
		var r = http.get('http://%s/gigabyte', {responseType: 'none', timeout: '120s'});
		return {status: r.status, body: r.body, error: r.error};
	})()`, bs.addr))
	runtime.ReadMemStats(&after)
	if got["status"] != 200.0 || got["body"] != nil || got["error"] != "" {
		t.Fatalf("1 GiB response: %v", got)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 32<<20 {
		t.Fatalf("reading a discarded 1 GiB body allocated %d MiB", alloc>>20)
	}
	if recv := sum(vu, "data_received"); recv < gigabyte {
		t.Fatalf("data_received %v, want the 1 GiB on the wire", recv)
	}
}
