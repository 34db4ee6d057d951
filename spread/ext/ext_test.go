package ext_test

import (
	"encoding/json"
	"net/http"
	"reflect"
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
