package ext_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
)

func TestPodFrom(t *testing.T) {
	def, err := ext.ParsePodFrom("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sources []ext.PodSource
		header  http.Header
		body    string
		want    string
	}{
		{"header wins", def, http.Header{"X-Served-By": {"pod-a"}}, `{"hostname":"pod-b"}`, "pod-a"},
		{"fastapi body", def, nil, `{"hostname":"echo-7d9"}`, "echo-7d9"},
		{"numeric field", def, nil, `{"hostname": 12}`, "12"},
		{"no source", def, nil, `hello`, ""},
		{"not an object", def, nil, `["hostname"]`, ""},
		{"off", nil, http.Header{"X-Served-By": {"pod-a"}}, "", ""},
		{"custom", []ext.PodSource{{JSON: "pod"}}, nil, `{"hostname":"x","pod":"p1"}`, "p1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ext.PodFrom(tc.sources, tc.header, []byte(tc.body)); got != tc.want {
				t.Fatalf("PodFrom = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePodFrom(t *testing.T) {
	got, err := ext.ParsePodFrom(" json:pod , header:X-Pod ")
	if err != nil {
		t.Fatal(err)
	}
	want := []ext.PodSource{{JSON: "pod"}, {Header: "X-Pod"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if none, err := ext.ParsePodFrom("none"); err != nil || none != nil {
		t.Fatalf("none: %v %v", none, err)
	}
	for _, bad := range []string{"header:", "cookie:x", "hostname"} {
		if _, err := ext.ParsePodFrom(bad); err == nil {
			t.Errorf("ParsePodFrom(%q): want an error", bad)
		}
	}
}

func TestSelectJSON(t *testing.T) {
	var doc any
	_ = json.Unmarshal([]byte(`{"a":{"b":[10,{"c":"x"}]}}`), &doc)
	for path, want := range map[string]any{"a.b.0": 10.0, "a.b.1.c": "x", "a.b.#": 2.0} {
		if got, ok := ext.SelectJSON(doc, path); !ok || got != want {
			t.Errorf("SelectJSON(%q) = %v, %v; want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"a.z", "a.b.9", "a.b.0.c"} {
		if _, ok := ext.SelectJSON(doc, path); ok {
			t.Errorf("SelectJSON(%q): want not found", path)
		}
	}
}

func result() *ext.HTTPResult {
	return &ext.HTTPResult{
		Method: "GET", URL: "http://svc/", Status: 200, StatusText: "200 OK", Proto: "HTTP/1.1",
		Headers:  http.Header{"X-Served-By": {"pod-a"}, "Vary": {"a", "b"}},
		Body:     []byte(`{"hostname":"pod-a","n":[1,2]}`),
		Timings:  ext.HTTPTimings{Blocked: time.Millisecond, Sending: time.Millisecond, Waiting: 10 * time.Millisecond, Receiving: time.Millisecond},
		RemoteIP: "127.0.0.1", RemotePort: 80, Pod: "pod-a", Expected: true,
		Request: ext.HTTPRequestInfo{Method: "GET", URL: "http://svc/"},
	}
}

func TestResponseObject(t *testing.T) {
	rt := goja.New()
	_ = rt.Set("r", ext.NewResponseObject(rt, result()))
	v, err := rt.RunString(`JSON.stringify([
		Object.keys(r).join(','), r.status, r.proto, r.pod, r.headers['Vary'], r.headers === r.headers,
		r.timings.duration, r.json('n.1'), r.json().hostname, r.request.method, 'pod' in r, 'nope' in r,
		(r.extra = 1, r.status = 201, delete r.error, Object.keys(r).slice(-2).join(',')), r.status, r.error])`)
	if err != nil {
		t.Fatal(err)
	}
	want := `["status,status_text,proto,headers,body,timings,remote_ip,remote_port,url,error,error_code,tls_version,pod,request,json",` +
		`200,"HTTP/1.1","pod-a","a, b",true,12,2,"pod-a","GET",true,false,"json,extra",201,null]`
	if v.String() != want {
		t.Fatalf("got  %s\nwant %s", v.String(), want)
	}
	bin := result()
	bin.BodyType = "binary"
	_ = rt.Set("b", ext.NewResponseObject(rt, bin))
	if v, err := rt.RunString(`b.body.byteLength`); err != nil || v.ToInteger() != int64(len(bin.Body)) {
		t.Fatalf("binary body: %v %v", v, err)
	}
	text := result()
	text.Body = []byte("not json")
	_ = rt.Set("t", ext.NewResponseObject(rt, text))
	if _, err := rt.RunString(`t.json()`); err == nil {
		t.Fatal("json() of a non-JSON body: want an exception")
	}
}

func TestEmitHTTP(t *testing.T) {
	vu := exttest.New(nil)
	r := result()
	r.Expected = false
	r.Error, r.ErrorCode = "connection refused", 1212
	tags := ext.HTTPTags(vu.Tags().With("name", "home"), r)
	ext.EmitHTTP(vu, tags, r)
	if n := len(vu.Samples()); n != 9 {
		t.Fatalf("%d samples, want 9", n)
	}
	d := vu.SamplesOf(ext.MetricHTTPReqDuration)[0]
	if d.Value != 12 || d.Tags["pod"] != "pod-a" || d.Tags["name"] != "home" || d.Tags["error_code"] != "1212" ||
		d.Tags["status"] != "200" || d.Tags["expected_response"] != "false" || d.Tags["scenario"] != "default" {
		t.Fatalf("duration sample %+v", d)
	}
	if f := vu.SamplesOf(ext.MetricHTTPReqFailed)[0]; f.Value != 1 {
		t.Fatalf("http_req_failed = %v, want 1", f.Value)
	}
}

func TestRegistry(t *testing.T) {
	r := ext.NewRegistry()
	m, err := r.NewMetric("my_trend", ext.Trend, ext.Time)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r.NewMetric("my_trend", ext.Trend, ext.Time); again != m {
		t.Fatal("same name and type: want the same metric")
	}
	if _, err := r.NewMetric("my_trend", ext.Counter); err == nil {
		t.Fatal("same name, other type: want an error")
	}
	if _, err := r.NewMetric("bad-name", ext.Counter); err == nil {
		t.Fatal("bad name: want an error")
	}
	if r.Get(ext.MetricHTTPReqs) == nil || r.Get(ext.MetricHTTP3ConnectionsOpened) == nil {
		t.Fatal("built-in metrics missing")
	}
}

func TestResponseObjectWith(t *testing.T) {
	rt := goja.New()
	builds := 0
	extra := ext.ResponseExtra{Key: "connection", Build: func() goja.Value {
		builds++
		o := rt.NewObject()
		_ = o.Set("id", 7)
		return o
	}}
	_ = rt.Set("r", ext.NewResponseObjectWith(rt, result(), extra))
	v, err := rt.RunString(`JSON.stringify([Object.keys(r).slice(-2).join(','), r.connection.id,
		r.connection === r.connection, 'connection' in r,
		(r.more = 1, Object.keys(r).slice(-2).join(',')),
		(delete r.connection, 'connection' in r), Object.keys(r).slice(-2).join(',')])`)
	if err != nil {
		t.Fatal(err)
	}
	want := `["json,connection",7,true,true,"connection,more",false,"json,more"]`
	if v.String() != want {
		t.Fatalf("got  %s\nwant %s", v.String(), want)
	}
	if builds != 1 {
		t.Fatalf("connection built %d times, want once", builds)
	}
}

func TestHTTPTagCache(t *testing.T) {
	base := ext.Tags{"scenario": "default", "group": ""}
	var c ext.HTTPTagCache
	r := result()
	first := c.Tags(base, r, "mode", "multiplexed")
	if want := ext.HTTPTags(base, r).With("mode", "multiplexed"); fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("cached tags %v, want %v", first, want)
	}
	same := func(a, b ext.Tags) bool { return fmt.Sprintf("%p", a) == fmt.Sprintf("%p", b) }
	if again := c.Tags(base, result(), "mode", "multiplexed"); !same(first, again) {
		t.Fatal("identical request: want the cached map")
	}
	for name, change := range map[string]func() (ext.Tags, *ext.HTTPResult, string){
		"status": func() (ext.Tags, *ext.HTTPResult, string) {
			r := result()
			r.Status = 503
			return base, r, "multiplexed"
		},
		"pod": func() (ext.Tags, *ext.HTTPResult, string) {
			r := result()
			r.Pod = "pod-b"
			return base, r, "multiplexed"
		},
		"error": func() (ext.Tags, *ext.HTTPResult, string) {
			r := result()
			r.Error = "x"
			return base, r, "multiplexed"
		},
		"extra value": func() (ext.Tags, *ext.HTTPResult, string) { return base, result(), "single-connection" },
		// an equal but different base map (e.g. after group()) is not trusted
		"base": func() (ext.Tags, *ext.HTTPResult, string) {
			return ext.Tags{"scenario": "default", "group": "::g"}, result(), "multiplexed"
		},
	} {
		b, r, mode := change()
		got := c.Tags(b, r, "mode", mode)
		if want := ext.HTTPTags(b, r).With("mode", mode); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s changed: tags %v, want %v", name, got, want)
		}
		if same(got, first) {
			t.Errorf("%s changed: got the stale cached map", name)
		}
	}
}

func TestEmitRequest(t *testing.T) {
	vu := exttest.New(nil)
	r := result()
	tags := ext.HTTPTags(vu.Tags(), r)
	dataTags := ext.Tags{"only": "data"}
	ext.EmitRequest(vu, tags, r, ext.HTTPSamples{NoFailed: true, DataTags: dataTags, Sent: 10, Received: 20})
	ext.EmitRequest(vu, tags, r, ext.HTTPSamples{Received: 5})
	if n := len(vu.Samples()); n != 8+2+9+1 {
		t.Fatalf("%d samples, want 20", n)
	}
	if n := len(vu.SamplesOf(ext.MetricHTTPReqFailed)); n != 1 {
		t.Fatalf("%d http_req_failed samples, want 1 (NoFailed on the first request)", n)
	}
	sent, recv := vu.SamplesOf(ext.MetricDataSent), vu.SamplesOf(ext.MetricDataReceived)
	if len(sent) != 1 || sent[0].Value != 10 || sent[0].Tags["only"] != "data" {
		t.Fatalf("data_sent %+v", sent)
	}
	if len(recv) != 2 || recv[1].Value != 5 || recv[1].Tags["url"] != r.URL {
		t.Fatalf("data_received %+v (the second with the HTTP tags)", recv)
	}
	// the pooled buffer is reused: samples already pushed must not change
	if d := vu.SamplesOf(ext.MetricHTTPReqDuration); d[0].Value != 12 || d[0].Tags["url"] != r.URL {
		t.Fatalf("duration sample %+v", d[0])
	}
}

func TestResponseJSONThrowsSyntaxError(t *testing.T) {
	rt := goja.New()
	r := result()
	r.Body = []byte("<html>")
	_ = rt.Set("r", ext.NewResponseObject(rt, r))
	v, err := rt.RunString(`try { r.json(); 'no exception' } catch (e) { e.name + ': ' + e.message }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); !strings.HasPrefix(got, "SyntaxError: response body is not JSON") {
		t.Fatalf("res.json() on HTML threw %q, want a SyntaxError", got)
	}
}

func TestHTTPTagsErrorCodeOfHTTPErrors(t *testing.T) {
	r := result()
	r.Status, r.ErrorCode, r.Expected = 404, 1404, false
	tags := ext.HTTPTags(ext.Tags{}, r)
	if tags["error_code"] != "1404" {
		t.Fatalf("error_code tag = %q, want 1404 for a 404 (as k6)", tags["error_code"])
	}
	if _, set := tags["error"]; set {
		t.Fatalf("error tag set for a plain 404: %q", tags["error"])
	}
	if _, set := ext.HTTPTags(ext.Tags{}, result())["error_code"]; set {
		t.Fatal("error_code tag set on a 200")
	}
}
