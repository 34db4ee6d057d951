package k6http

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// These tests drive the module (in a fake VU) against a real echo-server
// process and check connection behaviour on the server's side: the client
// ports it saw and its own echo_connections_opened_total.

func TestEchoConnectionBehaviour(t *testing.T) {
	es := startEcho(t, "pod-echo", "--delay", "0")
	cases := []struct {
		name      string
		opts      map[string]any
		params    string
		wantConns int // over 3 iterations of 3 requests
	}{
		{"keep-alive: one connection per VU", nil, "{}", 1},
		{"Connection: close: one per request", nil, "{headers: {Connection: 'close'}}", 9},
		{"noConnectionReuse: one per request", map[string]any{"noConnectionReuse": true}, "{}", 9},
		{"noVUConnectionReuse: one per iteration", map[string]any{"noVUConnectionReuse": true}, "{}", 3},
	}
	for _, proto := range []string{"h1", "h2"} {
		for _, c := range cases {
			t.Run(proto+" "+c.name, func(t *testing.T) {
				url, opts := es.HTTPURL()+"/", map[string]any{}
				if proto == "h2" {
					url, opts["tlsCACerts"] = es.HTTPSURL()+"/", es.PKI.CA
				}
				for k, v := range c.opts {
					opts[k] = v
				}
				series := fmt.Sprintf(`echo_connections_opened_total{proto=%q}`, proto)
				before := es.Series(t, series)
				vu := newVU(t, opts)
				ports := map[string]bool{}
				var connReqs []string
				for iter := int64(0); iter < 3; iter++ {
					vu.StartIteration(iter)
					r := jsObj(t, vu, fmt.Sprintf(`(function(){
						var out = [];
						for (var i = 0; i < 3; i++) {
							var r = http.get(%q, %s);
							if (r.status !== 200 || r.pod !== 'pod-echo') throw new Error('bad response ' + r.status + ' ' + r.error);
							out.push(r.json('remote_addr') + ' ' + r.json('conn_requests') + ' ' + r.proto);
						}
						return {out: out};
					})()`, url, c.params))
					for _, x := range r["out"].([]any) {
						f := strings.Fields(x.(string))
						ports[f[0]] = true
						connReqs = append(connReqs, f[1])
						if want := map[string]string{"h1": "HTTP/1.1", "h2": "HTTP/2.0"}[proto]; f[2] != want {
							t.Fatalf("proto %s, want %s", f[2], want)
						}
					}
					vu.EndIteration()
				}
				if len(ports) != c.wantConns {
					t.Fatalf("server saw %d client addresses, want %d (conn_requests: %v)", len(ports), c.wantConns, connReqs)
				}
				opened := es.Series(t, series) - before
				if int(opened) != c.wantConns {
					t.Fatalf("%s grew by %v, want %d", series, opened, c.wantConns)
				}
				if c.wantConns == 1 && connReqs[len(connReqs)-1] != "9" {
					t.Fatalf("keep-alive: conn_requests %v, want 1..9 on one connection", connReqs)
				}
			})
		}
	}
}

func TestEchoHTTP2Multiplexes(t *testing.T) {
	es := startEcho(t, "pod-h2", "--delay", "300ms")
	vu := newVU(t, map[string]any{"tlsCACerts": es.PKI.CA})
	start := time.Now()
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q;
		var rs = http.batch([u, u, u, u, u, u, u, u, u, u]); // the VU's first request
		var first = http.get(u);
		var addrs = {}, protos = {};
		rs.forEach(function(x){ addrs[x.json('remote_addr')] = 1; protos[x.proto + '/' + x.json('proto')] = 1; });
		return {first: first.proto, tls: first.tls_version, addrs: Object.keys(addrs).length, protos: Object.keys(protos)};
	})()`, es.HTTPSURL()+"/"))
	elapsed := time.Since(start)
	if r["first"] != "HTTP/2.0" || r["addrs"] != 1.0 || fmt.Sprint(r["protos"]) != "[HTTP/2.0/HTTP/2.0]" {
		t.Fatalf("h2: %v", r)
	}
	if opened := es.Series(t, `echo_connections_opened_total{proto="h2"}`); opened != 1 {
		t.Fatalf("echo_connections_opened_total{h2} = %v, want 1", opened)
	}
	// A first request alone, then 9 in rounds of at most 6 (batchPerHost)
	// at 300ms each, then one more: ~4 x 300ms; sequential takes 3.3s.
	if elapsed > 2500*time.Millisecond {
		t.Fatalf("took %s: batch requests did not run concurrently", elapsed)
	}
}

func TestEchoTimings(t *testing.T) {
	es := startEcho(t, "pod-t", "--delay", "200ms")
	vu := newVU(t, map[string]any{"tlsCACerts": es.PKI.CA})
	for _, u := range []string{es.HTTPURL() + "/", es.HTTPSURL() + "/"} {
		r := jsObj(t, vu, fmt.Sprintf(`(function(){ var a = http.get(%q); var b = http.get(%q); return {a: a.timings, b: b.timings}; })()`, u, u))
		for name, v := range r {
			tm := v.(map[string]any)
			f := func(k string) float64 { return tm[k].(float64) }
			sum := f("sending") + f("waiting") + f("receiving")
			if d := f("duration"); d < sum-0.01 || d > sum+0.01 {
				t.Errorf("%s %s: duration %v != sending+waiting+receiving %v", u, name, d, sum)
			}
			// 10 ms of slack: HTTP/2's WroteRequest hook fires on the
			// transport's writer goroutine, which on a loaded machine can
			// run after the server already holds the request (seen: 197.5).
			if f("waiting") < 190 {
				t.Errorf("%s %s: waiting %v < server delay 200ms (less 10ms slack)", u, name, f("waiting"))
			}
			if f("duration") > 1500 {
				t.Errorf("%s %s: duration %v too long", u, name, f("duration"))
			}
			switch {
			case name == "a" && f("connecting") <= 0:
				t.Errorf("%s: first request did not report connecting: %v", u, tm)
			case name == "a" && strings.HasPrefix(u, "https") && f("tls_handshaking") <= 0:
				t.Errorf("%s: first request did not report tls_handshaking: %v", u, tm)
			case name == "b" && (f("connecting") != 0 || f("tls_handshaking") != 0):
				t.Errorf("%s: reused connection reported dial phases: %v", u, tm)
			}
		}
	}
}

func TestEchoErrors(t *testing.T) {
	es := startEcho(t, "pod-e", "--delay", "2s")
	down := startEcho(t, "pod-down", "--delay", "0")
	downURL := down.HTTPURL() + "/"
	down.Kill()
	cases := []struct {
		name, url, params string
		opts              map[string]any
		code              int
	}{
		{"server down", downURL, "{}", nil, 1212},
		{"timeout", es.HTTPURL() + "/", "{timeout: '300ms'}", nil, 1050},
		{"bad certificate (lab CA not trusted)", es.HTTPSURL() + "/", "{}", nil, 1310},
		{"h2 timeout", es.HTTPSURL() + "/", "{timeout: '300ms'}", map[string]any{"tlsCACerts": es.PKI.CA}, 1050},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vu := newVU(t, c.opts)
			for iter := int64(0); iter < 2; iter++ { // the run goes on
				vu.StartIteration(iter)
				r := jsObj(t, vu, fmt.Sprintf(`(function(){ var r = http.get(%q, %s); return {s: r.status, c: r.error_code, e: r.error}; })()`, c.url, c.params))
				if r["s"] != 0.0 || r["c"] != float64(c.code) {
					t.Fatalf("iteration %d: %v, want error_code %d", iter, r, c.code)
				}
				vu.EndIteration()
			}
			if f, n := sum(vu, "http_req_failed"), len(vu.SamplesOf("http_req_failed")); f != 2 || n != 2 {
				t.Fatalf("http_req_failed %v of %d samples, want 2 of 2", f, n)
			}
			for _, tags := range tagsOf(vu, "http_reqs") {
				if tags["error_code"] != fmt.Sprint(c.code) || tags["status"] != "0" {
					t.Fatalf("tags %v", tags)
				}
			}
		})
	}
}

// TestEchoServerRecycling: echo-server --max-conn-requests 3 closes h1
// connections (Connection: close) and sends h2 GOAWAY after 3 requests;
// the client must re-dial without a single failed request.
func TestEchoServerRecycling(t *testing.T) {
	es := startEcho(t, "pod-r", "--delay", "0", "--max-conn-requests", "3")
	for _, proto := range []string{"h1", "h2"} {
		t.Run(proto, func(t *testing.T) {
			url := es.HTTPURL() + "/"
			if proto == "h2" {
				url = es.HTTPSURL() + "/"
			}
			vu := newVU(t, map[string]any{"tlsCACerts": es.PKI.CA})
			r := jsObj(t, vu, fmt.Sprintf(`(function(){
				var addrs = {}, bad = 0;
				for (var i = 0; i < 12; i++) {
					var r = http.get(%q);
					if (r.status !== 200) bad++; else addrs[r.json('remote_addr')] = 1;
				}
				return {bad: bad, conns: Object.keys(addrs).length};
			})()`, url))
			if r["bad"] != 0.0 || r["conns"] != 4.0 {
				t.Fatalf("%v: want 12 good requests on 4 connections", r)
			}
			if f := sum(vu, "http_req_failed"); f != 0 {
				t.Fatalf("http_req_failed %v", f)
			}
		})
	}
}
