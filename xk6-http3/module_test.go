package http3

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/ext/httpkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// newVU returns a fake VU with the module loaded as `http3` and env
// values as globals.
func newVU(t testing.TB, globals map[string]any) *exttest.VU {
	t.Helper()
	vu := exttest.New(ext.Options{})
	t.Cleanup(vu.Cancel)
	for k, v := range globals {
		if err := vu.RT.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vu.RT.RunString(`var http3 = require("k6/x/http3");`); err != nil {
		t.Fatal(err)
	}
	return vu
}

func runJS(t *testing.T, vu *exttest.VU, src string) goja.Value {
	t.Helper()
	v, err := vu.RT.RunString(src)
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, src)
	}
	return v
}

func TestClientOptionErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{`new http3.Client({mode: "round-robin"})`, `unknown mode "round-robin"`},
		{`new http3.Client({mod: "per-request"})`, `unknown option "mod"`},
		{`new http3.Client({maxConnectionAge: "5 minutes"})`, `option maxConnectionAge: bad duration "5 minutes"`},
		{`new http3.Client({idleTimeout: -5})`, `option idleTimeout: bad duration -5`},
		{`new http3.Client({connections: 0, mode: "multiplexed"})`, `option connections: must be at least 1`},
		{`new http3.Client({connections: 2})`, `connections only applies to mode multiplexed`},
		{`new http3.Client({socket: "shared"})`, `socket "shared" only applies to mode per-request`},
		{`new http3.Client({caCerts: "/does/not/exist.pem"})`, `option caCerts: read PEM file`},
		{`new http3.Client({zeroRTT: "yes"})`, `option zeroRTT: want true or false`},
		{`new http3.Client({podFrom: "cookie:x"})`, `unknown source "cookie"`},
		{`new http3.Client(5)`, `options must be an object`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			vu := newVU(t, nil)
			_, err := vu.RT.RunString(tc.src)
			if err == nil {
				t.Fatalf("no exception for %s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "TypeError") {
				t.Fatalf("exception %q, want a TypeError containing %q", err, tc.want)
			}
		})
	}
	t.Run("request in init context", func(t *testing.T) {
		vu := newVU(t, nil)
		_, err := vu.RT.RunString(`new http3.Client().get("https://127.0.0.1:1/")`)
		if err == nil || !strings.Contains(err.Error(), "init context") {
			t.Fatalf("got %v", err)
		}
	})
}

func tagCount(samples []ext.Sample, tag, value string) int {
	n := 0
	for _, s := range samples {
		if s.Tags.Get(tag) == value {
			n++
		}
	}
	return n
}

func TestModuleAgainstEchoServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts echo-server processes")
	}
	pki := echotest.Certs(t)
	a := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Pod: "pod-a", Args: []string{"--delay", "0"}})
	b := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Pod: "pod-b", Args: []string{"--delay", "0"}})

	t.Run("response, metrics and pods", func(t *testing.T) {
		vu := newVU(t, map[string]any{"A": a.H3URL(), "B": b.H3URL(), "CA": pki.CA})
		runJS(t, vu, `var c = new http3.Client({mode: "per-request", caCerts: CA, tags: {team: "x"}});`)
		vu.StartIteration(0)
		res := runJS(t, vu, `
			var out = [];
			for (var i = 0; i < 5; i++) out.push(c.get(A));
			for (var i = 0; i < 3; i++) out.push(c.get(B, {tags: {name: "b"}}));
			var r = out[0];
			JSON.stringify({status: r.status, proto: r.proto, pod: r.pod, host: r.json("hostname"),
				served: r.headers["X-Served-By"], tls: r.tls_version, err: r.error_code,
				newConn: r.connection.new, hs: r.connection.handshake_ms > 0,
				conn: r.timings.connecting > 0, dur: r.timings.duration > 0,
				port: r.remote_port > 0})`).String()
		want := `{"status":200,"proto":"HTTP/3.0","pod":"pod-a","host":"pod-a","served":"pod-a","tls":"tls1.3","err":0,"newConn":true,"hs":true,"conn":true,"dur":true,"port":true}`
		if res != want {
			t.Fatalf("response %s\nwant     %s", res, want)
		}
		reqs := vu.SamplesOf(ext.MetricHTTPReqs)
		if len(reqs) != 8 {
			t.Fatalf("%d http_reqs samples, want 8", len(reqs))
		}
		// pod attribution matches what each server counted
		for _, srv := range []*echotest.Server{a, b} {
			served := srv.Sum(t, "echo_requests_total", `proto="h3"`)
			if got := tagCount(reqs, "pod", srv.Pod); float64(got) != served {
				t.Errorf("pod %s: %d http_reqs tagged, server counted %v", srv.Pod, got, served)
			}
		}
		for _, s := range reqs {
			for k, v := range map[string]string{"proto": "HTTP/3.0", "mode": "per-request", "status": "200",
				"method": "GET", "expected_response": "true", "team": "x", "scenario": "default", "tls_version": "tls1.3"} {
				if s.Tags.Get(k) != v {
					t.Errorf("tag %s=%q, want %q (%v)", k, s.Tags.Get(k), v, s.Tags)
				}
			}
		}
		if n := tagCount(reqs, "name", "b"); n != 3 {
			t.Errorf("%d samples named b, want 3", n)
		}
		opened := vu.SamplesOf(MetricConnectionsOpened)
		if len(opened) != 8 || len(vu.SamplesOf(MetricHandshakeDuration)) != 8 {
			t.Errorf("%d connections-opened samples, want 8", len(opened))
		}
		for _, s := range opened {
			if s.Tags.Get("mode") != "per-request" || s.Tags.Get("resumed") != "false" || s.Tags.Get("zero_rtt") != "false" {
				t.Errorf("connection tags %v", s.Tags)
			}
		}
		for _, name := range []string{ext.MetricDataSent, ext.MetricDataReceived} {
			total := 0.0
			for _, s := range vu.SamplesOf(name) {
				total += s.Value
			}
			if total < 8*500 { // a handshake alone moves well over 500 bytes
				t.Errorf("%s = %v bytes for 8 new connections", name, total)
			}
		}
		for _, s := range vu.SamplesOf(ext.MetricHTTPReqFailed) {
			if s.Value != 0 {
				t.Errorf("http_req_failed = 1: %v", s.Tags)
			}
		}
	})

	t.Run("zero-RTT tags", func(t *testing.T) {
		vu := newVU(t, map[string]any{"A": a.H3URL(), "CA": pki.CA})
		runJS(t, vu, `var c = new http3.Client({mode: "per-request", zeroRTT: true, caCerts: CA});`)
		vu.StartIteration(0)
		runJS(t, vu, `for (var i = 0; i < 3; i++) { var r = c.get(A); if (r.status != 200) throw new Error(r.error); }`)
		var zero int
		for _, s := range vu.SamplesOf(MetricConnectionsOpened) {
			if s.Tags.Get("zero_rtt") == "true" && s.Tags.Get("resumed") == "true" {
				zero++
			}
		}
		if zero != 2 {
			t.Errorf("%d 0-RTT connections, want 2 (all but the first)", zero)
		}
	})

	t.Run("multiplexed pool shared by VUs", func(t *testing.T) {
		srv := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "0"}})
		var vus []*exttest.VU
		for range 3 {
			vu := newVU(t, map[string]any{"U": srv.H3URL(), "CA": pki.CA})
			runJS(t, vu, `var c = new http3.Client({mode: "multiplexed", caCerts: CA});`)
			vu.StartIteration(0)
			runJS(t, vu, `for (var i = 0; i < 4; i++) { var r = c.get(U); if (r.status != 200) throw new Error(r.error); }`)
			vus = append(vus, vu)
		}
		if got := srv.Sum(t, "echo_connections_opened_total", `proto="h3"`); got != 1 {
			t.Errorf("3 VUs opened %v connections, want 1", got)
		}
		mod, _ := ext.Lookup("k6/x/http3")
		m := mod.(*Module)
		for i, vu := range vus {
			vu.Cancel()
			time.Sleep(50 * time.Millisecond)
			m.mu.Lock()
			n := len(m.pools)
			m.mu.Unlock()
			if want := 1; i == len(vus)-1 {
				want = 0
				if n != want {
					t.Errorf("pool still open after the last VU ended")
				}
			} else if n != want {
				t.Errorf("pool closed while VUs still use it")
			}
		}
		waitMetric(t, srv, "echo_open_connections", 0)
	})

	t.Run("batch as concurrent streams", func(t *testing.T) {
		slow := echotest.Start(t, echotest.Config{H1: echotest.Off, TLS: echotest.Off, PKI: pki, Args: []string{"--delay", "300ms"}})
		vu := newVU(t, map[string]any{"U": slow.H3URL(), "CA": pki.CA})
		runJS(t, vu, `var c = new http3.Client({caCerts: CA});`)
		vu.StartIteration(0)
		start := time.Now()
		got := runJS(t, vu, `c.batch([U, ["GET", U], {method: "GET", url: U}, ["POST", U, "x"]]).map(function(r){return r.status}).join(",")`).String()
		if got != "200,200,200,405" && got != "200,200,200,200" {
			t.Errorf("batch statuses %s", got)
		}
		if d := time.Since(start); d > 900*time.Millisecond {
			t.Errorf("batch of 4 x 300ms took %s: not concurrent", d)
		}
		if n := slow.Sum(t, "echo_connections_opened_total", `proto="h3"`); n != 1 {
			t.Errorf("batch used %v connections, want 1", n)
		}
		vu.Cancel()
		waitMetric(t, slow, "echo_open_connections", 0)
	})

	t.Run("failures are responses, not exceptions", func(t *testing.T) {
		dead := echotest.FreeUDP(t)
		vu := newVU(t, map[string]any{"U": "https://" + dead + "/", "CA": pki.CA})
		runJS(t, vu, `var c = new http3.Client({caCerts: CA, handshakeTimeout: "300ms"});`)
		vu.StartIteration(0)
		got := runJS(t, vu, `var r = c.get(U); r.status + " " + r.error_code + " " + (r.error.length > 0)`).String()
		if got != "0 1801 true" {
			t.Fatalf("got %q, want status 0, code 1801", got)
		}
		got = runJS(t, vu, `var r = c.get("http://x/"); r.error_code + ""`).String()
		if got != "1020" {
			t.Fatalf("got %q for an http:// URL", got)
		}
		failed := vu.SamplesOf(ext.MetricHTTPReqFailed)
		if len(failed) != 2 || failed[0].Value != 1 || failed[0].Tags.Get("error_code") != "1801" {
			t.Fatalf("http_req_failed samples %+v", failed)
		}
		if n := len(vu.SamplesOf(MetricConnectionsOpened)); n != 0 {
			t.Errorf("%d connections counted as opened", n)
		}
	})
}

func waitMetric(t *testing.T, srv *echotest.Server, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := srv.Sum(t, name, `proto="h3"`)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var _ = httpkit.CodeGeneric
