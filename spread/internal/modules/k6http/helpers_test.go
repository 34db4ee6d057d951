package k6http

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
)

// testServer is a Go httptest server that tells the client what it saw:
// the client's address per request, and how many requests ran at once.
type testServer struct {
	*httptest.Server
	mu       sync.Mutex
	ports    map[string]int // remote addr -> requests
	inflight atomic.Int64
	maxIn    atomic.Int64
	conns    atomic.Int64
}

func newTestServer(t *testing.T, tlsH2 bool) *testServer {
	t.Helper()
	ts := &testServer{ports: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.ports[r.RemoteAddr]++
		n := ts.ports[r.RemoteAddr]
		ts.mu.Unlock()
		cur := ts.inflight.Add(1)
		defer ts.inflight.Add(-1)
		for {
			m := ts.maxIn.Load()
			if cur <= m || ts.maxIn.CompareAndSwap(m, cur) {
				break
			}
		}
		q := r.URL.Query()
		if d, err := time.ParseDuration(q.Get("delay")); err == nil {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		if s := q.Get("status"); s != "" {
			code, _ := strconv.Atoi(s)
			w.WriteHeader(code)
			return
		}
		if q.Get("nopod") == "" {
			w.Header().Set("X-Served-By", "pod-go")
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hostname": "json-pod", "proto": r.Proto, "remote_addr": r.RemoteAddr,
			"conn_requests": n, "method": r.Method, "body": string(body),
			"content_type": r.Header.Get("Content-Type"), "user_agent": r.UserAgent(),
			"connection": r.Header.Get("Connection"), "x_test": r.Header.Get("X-Test"),
		})
	})
	mux.HandleFunc("/redirect/", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Path[len("/redirect/"):])
		if n <= 0 {
			_, _ = fmt.Fprint(w, "landed "+r.Method)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/redirect/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) {
		// Send headers and part of the body, then reset the connection.
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = conn.Close()
	})
	quiet := log.New(io.Discard, "", 0) // expected TLS handshake failures
	if tlsH2 {
		ts.Server = httptest.NewUnstartedServer(mux)
		ts.Config.ErrorLog = quiet
		ts.EnableHTTP2 = true
		ts.Config.ConnState = ts.countConn
		ts.StartTLS()
	} else {
		ts.Server = httptest.NewUnstartedServer(mux)
		ts.Config.ErrorLog = quiet
		ts.Config.ConnState = ts.countConn
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return ts
}

func (ts *testServer) countConn(_ net.Conn, st http.ConnState) {
	if st == http.StateNew {
		ts.conns.Add(1)
	}
}

// distinctPorts is how many client connections carried requests.
func (ts *testServer) distinctPorts() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.ports)
}

// newVU returns a fake VU with options (JSON values by key) that has
// required k6/http as `http`.
func newVU(t testing.TB, opts map[string]any) *exttest.VU {
	t.Helper()
	o := ext.Options{}
	for k, v := range opts {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		o[k] = b
	}
	vu := exttest.New(o)
	t.Cleanup(vu.Cancel)
	if _, err := vu.RT.RunString(`var http = require('k6/http');`); err != nil {
		t.Fatal(err)
	}
	return vu
}

// run runs JS in the VU's iteration context and returns its value.
func run(t *testing.T, vu *exttest.VU, js string) goja.Value {
	t.Helper()
	if vu.State() == nil {
		vu.StartIteration(0)
	}
	v, err := vu.RT.RunString(js)
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, js)
	}
	return v
}

// tagsOf returns the tags of every sample of metric, as maps.
func tagsOf(vu *exttest.VU, metric string) []map[string]string {
	var out []map[string]string
	for _, s := range vu.SamplesOf(metric) {
		out = append(out, s.Tags.Map())
	}
	return out
}

func sum(vu *exttest.VU, metric string) float64 {
	var total float64
	for _, s := range vu.SamplesOf(metric) {
		total += s.Value
	}
	return total
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// lockedBuffer collects a child's output from its copying goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// optionsOf encodes options as the engine hands them to modules.
func optionsOf(t testing.TB, opts map[string]any) ext.Options {
	t.Helper()
	o := ext.Options{}
	for k, v := range opts {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		o[k] = b
	}
	return o
}

// quietLog drops a test server's log (expected handshake failures).
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }
