package k6http

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestH1Wire covers the cleartext HTTP/1.1 client's framing cases against
// net/http's server: chunked and close-delimited bodies, HEAD, gzip, 1xx.
func TestH1Wire(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
	})
	mux.HandleFunc("/until-close", func(w http.ResponseWriter, r *http.Request) {
		conn, brw, _ := http.NewResponseController(w).Hijack()
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nX-Served-By: raw\r\n\r\nbody until close")
		_ = brw.Flush()
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write([]byte(`{"hostname":"zipped"}`))
		_ = zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(buf.Bytes())
	})
	mux.HandleFunc("/continue", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusEarlyHints) // a 1xx before the answer
		_, _ = w.Write([]byte("after 103"))
	})
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1234")
		if r.Method != http.MethodHead {
			_, _ = w.Write(make([]byte, 1234))
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	vu := newVU(t, nil)
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q;
		var c = http.get(u + '/chunked'), e = http.get(u + '/until-close'), z = http.get(u + '/gzip'),
			k = http.get(u + '/continue'), h = http.head(u + '/head'), after = http.get(u + '/chunked');
		return {c: c.body, e: e.body + '/' + e.pod, z: z.json('hostname') + '/' + z.pod, k: k.status + ' ' + k.body,
			h: h.status + ' ' + h.body.length + ' ' + h.headers['Content-Length'], after: after.status};
	})()`, srv.URL))
	want := map[string]any{"c": "part0;part1;part2;", "e": "body until close/raw", "z": "zipped/zipped",
		"k": "200 after 103", "h": "200 0 1234", "after": 200.0}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
}

// TestH1StaleConnection: a pooled connection the server closed while idle
// must not fail the next request, replayable (GET: retried) or not (POST:
// checked before use).
func TestH1StaleConnection(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	vu := newVU(t, nil)
	for _, method := range []string{"get", "post", "get", "del"} {
		body := ""
		if method != "get" {
			body = ", 'x'"
		}
		if s := run(t, vu, fmt.Sprintf(`http.%s(%q%s).status`, method, srv.URL, body)).ToInteger(); s != 200 {
			t.Fatalf("%s after idle close: status %d", method, s)
		}
		time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	}
	if f := sum(vu, "http_req_failed"); f != 0 {
		t.Fatalf("http_req_failed = %v", f)
	}
	if c := conns.Load(); c != 4 {
		t.Fatalf("server saw %d connections, want 4", c)
	}
}

// TestHTTPSHTTP1ByALPN: a TLS server without HTTP/2 is spoken to in
// HTTP/1.1 by net/http's transport, with keep-alive.
func TestHTTPSHTTP1ByALPN(t *testing.T) {
	ts := newTestServer(t, false)
	tlsSrv := httptest.NewUnstartedServer(ts.Config.Handler)
	tlsSrv.Config.ErrorLog = ts.Config.ErrorLog
	tlsSrv.StartTLS() // EnableHTTP2 false: ALPN offers http/1.1 only
	defer tlsSrv.Close()
	vu := newVU(t, map[string]any{"insecureSkipTLSVerify": true})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){ var a = http.get(%q), b = http.get(%q);
		return {p: a.proto, n: b.json('conn_requests'), same: a.json('remote_addr') === b.json('remote_addr')}; })()`, tlsSrv.URL, tlsSrv.URL))
	if r["p"] != "HTTP/1.1" || r["n"] != 2.0 || r["same"] != true {
		t.Fatalf("https h1: %v", r)
	}
}

// TestHostsOption maps a name to 127.0.0.1 without DNS.
func TestHostsOption(t *testing.T) {
	ts := newTestServer(t, false)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
	vu := newVU(t, map[string]any{"hosts": map[string]string{"svc.test": "127.0.0.1"}})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){ var r = http.get('http://svc.test:%s/'); return {s: r.status, ip: r.remote_ip}; })()`, port))
	if r["s"] != 200.0 || r["ip"] != "127.0.0.1" {
		t.Fatalf("hosts: %v", r)
	}
}

// TestWriteH1RequestRejectsInjection: header values cannot smuggle lines.
func TestWriteH1RequestRejectsInjection(t *testing.T) {
	vu := newVU(t, nil)
	vu.StartIteration(0)
	for _, h := range []string{`{'X-A': 'v\r\nX-Injected: 1'}`, `{'Bad Name': 'v'}`} {
		v, err := vu.RT.RunString(fmt.Sprintf(`http.get('http://127.0.0.1:1/', {headers: %s}).error_code`, h))
		if err != nil {
			t.Fatal(err)
		}
		if v.ToInteger() == 0 {
			t.Fatalf("headers %s accepted", h)
		}
	}
	var buf bytes.Buffer
	u := mustURL(t, "http://h:1/p?q=1")
	if err := writeH1Request(&buf, "POST", u, http.Header{"User-Agent": {""}, "X-A": {"1"}}, []byte("hi"), true); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{"POST /p?q=1 HTTP/1.1\r\nHost: h:1\r\n", "X-A: 1\r\n", "Content-Length: 2\r\n", "Connection: close\r\n", "\r\n\r\nhi"} {
		if !strings.Contains(got, want) {
			t.Errorf("request %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "User-Agent") {
		t.Errorf("empty User-Agent was sent: %q", got)
	}
}

// TestH1DeadlineOnReusedConn: a keep-alive connection keeps an earlier
// request's deadline only within the slack (setDeadline), so a short
// timeout after long ones on the same connection still fires on time, and
// a long one after a short one is not cut by the old deadline.
func TestH1DeadlineOnReusedConn(t *testing.T) {
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(600 * time.Millisecond):
		case <-r.Context().Done():
		}
		_, _ = w.Write([]byte("late"))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	vu := newVU(t, nil)
	start := time.Now()
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q, out = {};
		for (var i = 0; i < 5; i++) { http.get(u + '/fast', {timeout: '60s'}); }
		var t0 = Date.now();
		var s = http.get(u + '/slow', {timeout: '150ms'});
		out.short = s.error_code + ' ' + (Date.now() - t0);
		http.get(u + '/fast', {timeout: '100ms'});
		var l = http.get(u + '/slow', {timeout: '5s'});
		out.long = l.status + ' ' + l.body;
		return out;
	})()`, srv.URL))
	var code, ms int
	if _, err := fmt.Sscanf(r["short"].(string), "%d %d", &code, &ms); err != nil || code != 1050 || ms < 140 || ms > 500 {
		t.Errorf("short timeout on a reused connection: got %q, want error_code 1050 after ~150 ms", r["short"])
	}
	if r["long"] != "200 late" {
		t.Errorf("long timeout after a short one: got %q, want 200 late", r["long"])
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the timed-out one is closed, then one is reused)", n)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}
