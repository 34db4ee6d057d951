package k6http

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"spread.dev/spread/ext/exttest"
)

// jsObj runs js (an expression) and decodes its JSON.stringify into a map.
func jsObj(t *testing.T, vu interface{}, js string) map[string]any {
	t.Helper()
	v := run(t, vu.(*vuT), "JSON.stringify("+js+")")
	var m map[string]any
	if err := json.Unmarshal([]byte(v.String()), &m); err != nil {
		t.Fatalf("decode %s: %v", v, err)
	}
	return m
}

type vuT = exttest.VU

func TestGetResponseShapeAndSamples(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var r = http.get(%q, {tags: {name: 'root', custom: 'x'}, headers: {'X-Test': 'hi'}});
		return {status: r.status, proto: r.proto, pod: r.pod, body: r.json(), ua: r.json('user_agent'),
			served: r.headers['X-Served-By'], timings: r.timings, ip: r.remote_ip, port: r.remote_port,
			url: r.url, error: r.error, code: r.error_code, method: r.request.method};
	})()`, ts.URL+"/?a=1"))
	if r["status"] != 200.0 || r["proto"] != "HTTP/1.1" || r["pod"] != "pod-go" || r["served"] != "pod-go" {
		t.Fatalf("response: %v", r)
	}
	body := r["body"].(map[string]any)
	if body["x_test"] != "hi" || !strings.HasPrefix(body["user_agent"].(string), "spread/") {
		t.Fatalf("request headers not sent: %v", body)
	}
	if r["ip"] != "127.0.0.1" || r["port"].(float64) <= 0 || r["error"] != "" || r["code"] != 0.0 || r["method"] != "GET" {
		t.Fatalf("response fields: %v", r)
	}
	tm := r["timings"].(map[string]any)
	if d := tm["duration"].(float64) - (tm["sending"].(float64) + tm["waiting"].(float64) + tm["receiving"].(float64)); math.Abs(d) > 0.001 {
		t.Fatalf("duration != sending+waiting+receiving: %v", tm)
	}
	if tm["connecting"].(float64) <= 0 {
		t.Fatalf("first request should have dialed: %v", tm)
	}
	reqs := tagsOf(vu, "http_reqs")
	if len(reqs) != 1 {
		t.Fatalf("http_reqs samples: %d", len(reqs))
	}
	tags := reqs[0]
	want := map[string]string{"method": "GET", "url": ts.URL + "/?a=1", "name": "root", "status": "200",
		"proto": "HTTP/1.1", "expected_response": "true", "pod": "pod-go", "scenario": "default", "custom": "x"}
	for k, v := range want {
		if tags[k] != v {
			t.Errorf("tag %s = %q, want %q (all: %v)", k, tags[k], v, tags)
		}
	}
	if _, ok := tags["error_code"]; ok {
		t.Errorf("error_code tag on a good response: %v", tags)
	}
	for _, m := range []string{"http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_tls_handshaking",
		"http_req_sending", "http_req_waiting", "http_req_receiving", "http_req_failed"} {
		if n := len(vu.SamplesOf(m)); n != 1 {
			t.Errorf("%s: %d samples, want 1", m, n)
		}
	}
	if f := sum(vu, "http_req_failed"); f != 0 {
		t.Errorf("http_req_failed = %v", f)
	}
	if s, r := sum(vu, "data_sent"), sum(vu, "data_received"); s < 50 || r < 100 {
		t.Errorf("data_sent %v / data_received %v too small", s, r)
	}
}

func TestDataCountedOnTheWire(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	// A 10 KB body must show up in data_sent, headers included.
	run(t, vu, fmt.Sprintf(`http.post(%q, 'x'.repeat(10000))`, ts.URL))
	if s := sum(vu, "data_sent"); s < 10000 || s > 10500 {
		t.Fatalf("data_sent = %v, want 10000 + headers", s)
	}
	if r := sum(vu, "data_received"); r < 10000 {
		t.Fatalf("data_received = %v, want the echoed 10 KB body and more", r)
	}
	for _, tags := range tagsOf(vu, "data_sent") {
		if tags["pod"] != "pod-go" || tags["method"] != "POST" {
			t.Fatalf("data_sent tags: %v", tags)
		}
	}
}

func TestPodFromJSONBody(t *testing.T) {
	ts := newTestServer(t, false)
	cases := []struct {
		name, opts, params, want string
	}{
		{"header first", "", "{}", "pod-go"},
		{"json when no header", "", "{}", "json-pod"},
		{"json with responseType none", "", "{responseType: 'none'}", "json-pod"},
		{"per-request podFrom", "", "{podFrom: 'json:method'}", "GET"},
		{"option podFrom none", "none", "{}", ""},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := map[string]any{}
			if c.opts != "" {
				opts["podFrom"] = c.opts
			}
			vu := newVU(t, opts)
			u := ts.URL
			if i > 0 {
				u += "/?nopod=1"
			}
			got := run(t, vu, fmt.Sprintf(`http.get(%q, %s).pod`, u, c.params)).String()
			if got != c.want {
				t.Fatalf("pod = %q, want %q", got, c.want)
			}
			if tags := tagsOf(vu, "http_reqs"); tags[0]["pod"] != c.want {
				t.Fatalf("pod tag = %q", tags[0]["pod"])
			}
		})
	}
}

func TestConnectionReuse(t *testing.T) {
	cases := []struct {
		name      string
		opts      map[string]any
		headers   string
		wantConns int // over 3 iterations of 2 requests
	}{
		{"keep-alive across iterations", nil, "{}", 1},
		{"Connection: close per request", nil, "{Connection: 'close'}", 6},
		{"noConnectionReuse", map[string]any{"noConnectionReuse": true}, "{}", 6},
		{"noVUConnectionReuse", map[string]any{"noVUConnectionReuse": true}, "{}", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := newTestServer(t, false)
			vu := newVU(t, c.opts)
			for iter := int64(0); iter < 3; iter++ {
				vu.StartIteration(iter)
				run(t, vu, fmt.Sprintf(`http.get(%q, {headers: %s}); http.get(%q, {headers: %s});`, ts.URL, c.headers, ts.URL, c.headers))
				vu.EndIteration()
			}
			if got := ts.distinctPorts(); got != c.wantConns {
				t.Fatalf("server saw %d client ports, want %d", got, c.wantConns)
			}
			var connecting int
			for _, s := range vu.SamplesOf("http_req_connecting") {
				if s.Value > 0 {
					connecting++
				}
			}
			if connecting != c.wantConns {
				t.Fatalf("%d requests reported connecting > 0, want %d", connecting, c.wantConns)
			}
		})
	}
}

func TestBatchFormsAndLimits(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, map[string]any{"batch": 3})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q;
		var arr = http.batch([u + '/?delay=100ms', ['POST', u + '/?delay=100ms', 'body', {tags: {k: 'v'}}],
			{method: 'GET', url: u + '/?delay=100ms'}, u + '/?delay=100ms', u + '/?delay=100ms', u + '/?delay=100ms']);
		var obj = http.batch({a: u, b: {method: 'PUT', url: u, body: 'x'}});
		return {n: arr.length, post: arr[1].json('method') + ':' + arr[1].json('body'), statuses: arr.map(function(r){return r.status}),
			a: obj.a.status, b: obj.b.json('method')};
	})()`, ts.URL))
	if r["n"] != 6.0 || r["post"] != "POST:body" || r["a"] != 200.0 || r["b"] != "PUT" {
		t.Fatalf("batch results: %v", r)
	}
	if m := ts.maxIn.Load(); m != 3 {
		t.Fatalf("max concurrent requests = %d, want 3 (batch option)", m)
	}
	if n := len(vu.SamplesOf("http_reqs")); n != 8 {
		t.Fatalf("http_reqs samples: %d, want 8", n)
	}
	var tagged int
	for _, tags := range tagsOf(vu, "http_reqs") {
		if tags["k"] == "v" {
			tagged++
		}
	}
	if tagged != 1 {
		t.Fatalf("params.tags of batch entry applied to %d samples, want 1", tagged)
	}

	ts2 := newTestServer(t, false)
	vu2 := newVU(t, map[string]any{"batchPerHost": 2})
	run(t, vu2, fmt.Sprintf(`var u = %q + '/?delay=100ms'; http.batch([u, u, u, u, u, u, u])`, ts2.URL))
	if m := ts2.maxIn.Load(); m != 2 {
		t.Fatalf("max concurrent requests = %d, want 2 (batchPerHost)", m)
	}
}

func TestHTTP2MultiplexesOnOneConnection(t *testing.T) {
	ts := newTestServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	cert := ts.Certificate()
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	vu := newVU(t, map[string]any{"tlsCACerts": caFile})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q + '/?delay=200ms';
		var rs = http.batch([u, u, u, u, u, u, u, u, u, u]); // the VU's first requests
		var first = http.get(u);
		var ports = {};
		rs.forEach(function(x){ ports[x.json('remote_addr')] = true; });
		return {proto: first.proto, tls: first.tls_version, batchProto: rs[9].proto, ports: Object.keys(ports).length};
	})()`, ts.URL))
	if r["proto"] != "HTTP/2.0" || r["batchProto"] != "HTTP/2.0" || r["ports"] != 1.0 {
		t.Fatalf("h2: %v", r)
	}
	if !strings.HasPrefix(r["tls"].(string), "tls1.") {
		t.Fatalf("tls_version = %v", r["tls"])
	}
	if m := ts.maxIn.Load(); m < 6 {
		t.Fatalf("h2 batch ran at most %d requests at once; want them multiplexed (>= 6, batchPerHost)", m)
	}
	if c := ts.conns.Load(); c != 1 {
		t.Fatalf("server accepted %d connections, want 1", c)
	}
	for _, tags := range tagsOf(vu, "http_reqs") {
		if tags["proto"] != "HTTP/2.0" || !strings.HasPrefix(tags["tls_version"], "tls1.") {
			t.Fatalf("tags: %v", tags)
		}
	}
}

func TestErrorsBecomeResponses(t *testing.T) {
	good := newTestServer(t, false)
	tlsSrv := newTestServer(t, true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String() + "/"
	l.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		script string
		code   int
		msg    string
		opts   map[string]any
	}{
		{"refused", fmt.Sprintf(`http.get(%q)`, closedURL), 1212, "connection refused", nil},
		{"timeout", fmt.Sprintf(`http.get(%q, {timeout: '200ms'})`, good.URL+"/?delay=2s"), 1050, "request timeout", nil},
		{"timeout ms", fmt.Sprintf(`http.get(%q, {timeout: 150})`, good.URL+"/?delay=2s"), 1050, "request timeout", nil},
		{"reset mid-response", fmt.Sprintf(`http.get(%q)`, good.URL+"/reset"), 1220, "reset", nil},
		{"unknown authority", fmt.Sprintf(`http.get(%q)`, tlsSrv.URL), 1310, "unknown authority", nil},
		{"hostname mismatch", fmt.Sprintf(`http.get(%q)`, strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1)), 1311, "not valid for localhost",
			map[string]any{"tlsCACerts": []string{caFile}}},
		{"invalid URL", `http.get('ftp://x/')`, 1020, "invalid URL", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vu := newVU(t, c.opts)
			start := time.Now()
			r := jsObj(t, vu, `(function(){ var r = `+c.script+`; return {status: r.status, error: r.error, code: r.error_code}; })()`)
			if r["code"] != float64(c.code) || r["status"] != 0.0 || !strings.Contains(r["error"].(string), c.msg) {
				t.Fatalf("got %v, want code %d and error containing %q", r, c.code, c.msg)
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			if c.code == 1020 {
				if n := len(vu.SamplesOf("http_reqs")); n != 0 {
					t.Fatalf("invalid URL emitted %d samples", n)
				}
				return
			}
			tags := tagsOf(vu, "http_reqs")
			if len(tags) != 1 || tags[0]["error_code"] != fmt.Sprint(c.code) || tags[0]["status"] != "0" || tags[0]["expected_response"] != "false" {
				t.Fatalf("tags: %v", tags)
			}
			if f := sum(vu, "http_req_failed"); f != 1 {
				t.Fatalf("http_req_failed = %v", f)
			}
			// The VU goes on: the next request works.
			if s := run(t, vu, fmt.Sprintf(`http.get(%q).status`, good.URL)).ToInteger(); s != 200 {
				t.Fatalf("next request: %d", s)
			}
		})
	}
}

func TestInsecureSkipTLSVerifyAndTLSVersion(t *testing.T) {
	ts := newTestServer(t, true)
	vu := newVU(t, map[string]any{"insecureSkipTLSVerify": true, "tlsVersion": map[string]string{"min": "tls1.2", "max": "tls1.2"}})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){ var r = http.get(%q); return {s: r.status, v: r.tls_version}; })()`, ts.URL))
	if r["s"] != 200.0 || r["v"] != "tls1.2" {
		t.Fatalf("got %v", r)
	}
	vu2 := newVU(t, map[string]any{"insecureSkipTLSVerify": true, "tlsVersion": "tls1.3"})
	if v := run(t, vu2, fmt.Sprintf(`http.get(%q).tls_version`, ts.URL)).String(); v != "tls1.3" {
		t.Fatalf("tls_version %s", v)
	}
}

func TestCAFromEnvironment(t *testing.T) {
	ts := newTestServer(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvCACerts, caFile)
	vu := newVU(t, nil)
	if s := run(t, vu, fmt.Sprintf(`http.get(%q).status`, ts.URL)).ToInteger(); s != 200 {
		t.Fatalf("status %d with CA from $%s", s, EnvCACerts)
	}
}

func TestResponseCallbacks(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	run(t, vu, fmt.Sprintf(`
		var u = %q;
		http.get(u + '/?status=404');                                               // default: failed
		http.get(u + '/?status=404', {responseCallback: http.expectedStatuses(404)}); // expected
		http.setResponseCallback(http.expectedStatuses({min: 200, max: 204}, 404));
		http.get(u + '/?status=404');                                               // expected
		http.get(u + '/?status=302');                                               // not in range: failed
		http.setResponseCallback(null);
		http.get(u + '/?status=500');                                               // no callback
	`, ts.URL))
	var got []string
	for _, tags := range tagsOf(vu, "http_reqs") {
		got = append(got, tags["status"]+"/"+tags["expected_response"])
	}
	want := "404/false 404/true 404/true 302/false 500/"
	if strings.Join(got, " ") != want {
		t.Fatalf("status/expected: %q, want %q", strings.Join(got, " "), want)
	}
	if n := len(vu.SamplesOf("http_req_failed")); n != 4 {
		t.Fatalf("http_req_failed samples %d, want 4 (none with a null callback)", n)
	}
	if f := sum(vu, "http_req_failed"); f != 2 {
		t.Fatalf("failed = %v, want 2", f)
	}
	if c := run(t, vu, fmt.Sprintf(`http.get(%q + '/?status=503').error_code`, ts.URL)).ToInteger(); c != 1503 {
		t.Fatalf("error_code for 503 = %d, want 1503", c)
	}
}

func TestRedirects(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, map[string]any{"maxRedirects": 2})
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q;
		var a = http.get(u + '/redirect/2');
		var b = http.get(u + '/redirect/3');
		var c = http.get(u + '/redirect/3', {redirects: 5});
		var d = http.post(u + '/redirect/1', 'data', {redirects: 0});
		var e = http.post(u + '/redirect/1', 'data');
		return {a: a.status + ' ' + a.body + ' ' + a.url, b: b.status, c: c.body, d: d.status, e: e.body};
	})()`, ts.URL))
	if r["a"] != "200 landed GET "+ts.URL+"/redirect/0" || r["b"] != 302.0 || r["c"] != "landed GET" || r["d"] != 302.0 || r["e"] != "landed GET" {
		t.Fatalf("redirects: %v", r)
	}
	// a: 3 hops, b: 3 (stopped), c: 4, d: 1, e: 2.
	if n := len(vu.SamplesOf("http_reqs")); n != 13 {
		t.Fatalf("http_reqs samples %d, want one per hop (13)", n)
	}
}

func TestBodies(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	r := jsObj(t, vu, fmt.Sprintf(`(function(){
		var u = %q;
		var s = http.post(u, 'plain').json();
		var buf = new Uint8Array([104, 105]).buffer;
		var b = http.put(u, buf).json();
		var f = http.patch(u, {b: 'two words', a: 1}).json();
		var d = http.del(u).json();
		var o = http.options(u, null).json();
		var q = http.request('post', u, 'req').json();
		var bin = http.get(u, {responseType: 'binary'}).body;
		var none = http.get(u, {responseType: 'none'}).body;
		return {s: s.body, b: b.body, f: f.body, ct: f.content_type, d: d.method, o: o.method, q: q.method + q.body,
			bin: bin instanceof ArrayBuffer && bin.byteLength > 10, none: none};
	})()`, ts.URL))
	want := map[string]any{"s": "plain", "b": "hi", "f": "a=1&b=two+words", "ct": "application/x-www-form-urlencoded",
		"d": "DELETE", "o": "OPTIONS", "q": "POSTreq", "bin": true, "none": nil}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
}

func TestThrowOptionAndInitContext(t *testing.T) {
	vu := newVU(t, map[string]any{"throw": true})
	if _, err := vu.RT.RunString(`http.get('http://127.0.0.1:1/')`); err == nil || !strings.Contains(err.Error(), "init context") {
		t.Fatalf("request in init context: %v", err)
	}
	vu.StartIteration(0)
	_, err := vu.RT.RunString(`http.get('http://127.0.0.1:1/')`)
	if err == nil || !strings.Contains(err.Error(), "1212") {
		t.Fatalf("throw option: %v", err)
	}
	if _, err := vu.RT.RunString(`http.get('http://127.0.0.1:1/', {timeout: 'soon'})`); err == nil || !strings.Contains(err.Error(), "params.timeout") {
		t.Fatalf("bad timeout: %v", err)
	}
}

func TestURLTemplateSetsName(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	run(t, vu, fmt.Sprintf("var id = 42; http.get(http.url`%s/?id=${id}`)", ts.URL))
	tags := tagsOf(vu, "http_reqs")[0]
	if tags["name"] != ts.URL+"/?id=${}" || tags["url"] != ts.URL+"/?id=42" {
		t.Fatalf("tags %v", tags)
	}
}

func TestTimingsWaitingCoversServerDelay(t *testing.T) {
	ts := newTestServer(t, false)
	vu := newVU(t, nil)
	r := jsObj(t, vu, fmt.Sprintf(`http.get(%q).timings`, ts.URL+"/?delay=150ms"))
	if r["waiting"].(float64) < 150 {
		t.Fatalf("waiting %v < server delay 150ms", r["waiting"])
	}
	if d := r["duration"].(float64); d < r["waiting"].(float64) || d > 1000 {
		t.Fatalf("duration %v", d)
	}
}
