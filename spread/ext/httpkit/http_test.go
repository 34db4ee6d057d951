package httpkit_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/exttest"
	"spread.dev/spread/ext/httpkit"
)

func TestPodFrom(t *testing.T) {
	def, err := httpkit.ParsePodFrom("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		sources []httpkit.PodSource
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
		{"custom", []httpkit.PodSource{{JSON: "pod"}}, nil, `{"hostname":"x","pod":"p1"}`, "p1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpkit.PodFrom(tc.sources, tc.header, []byte(tc.body)); got != tc.want {
				t.Fatalf("PodFrom = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePodFrom(t *testing.T) {
	got, err := httpkit.ParsePodFrom(" json:pod , header:X-Pod ")
	if err != nil {
		t.Fatal(err)
	}
	want := []httpkit.PodSource{{JSON: "pod"}, {Header: "X-Pod"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if none, err := httpkit.ParsePodFrom("none"); err != nil || none != nil {
		t.Fatalf("none: %v %v", none, err)
	}
	for _, bad := range []string{"header:", "cookie:x", "hostname"} {
		if _, err := httpkit.ParsePodFrom(bad); err == nil {
			t.Errorf("ParsePodFrom(%q): want an error", bad)
		}
	}
}

func TestSelectJSON(t *testing.T) {
	var doc any
	_ = json.Unmarshal([]byte(`{"a":{"b":[10,{"c":"x"}]}}`), &doc)
	for path, want := range map[string]any{"a.b.0": 10.0, "a.b.1.c": "x", "a.b.#": 2.0} {
		if got, ok := httpkit.SelectJSON(doc, path); !ok || got != want {
			t.Errorf("SelectJSON(%q) = %v, %v; want %v", path, got, ok, want)
		}
	}
	for _, path := range []string{"a.z", "a.b.9", "a.b.0.c"} {
		if _, ok := httpkit.SelectJSON(doc, path); ok {
			t.Errorf("SelectJSON(%q): want not found", path)
		}
	}
}

func result() *httpkit.Result {
	return &httpkit.Result{
		Method: "GET", URL: "http://svc/", Status: 200, StatusText: "200 OK", Proto: "HTTP/1.1",
		Headers:  http.Header{"X-Served-By": {"pod-a"}, "Vary": {"a", "b"}},
		Body:     []byte(`{"hostname":"pod-a","n":[1,2]}`),
		Timings:  httpkit.Timings{Blocked: time.Millisecond, Sending: time.Millisecond, Waiting: 10 * time.Millisecond, Receiving: time.Millisecond},
		RemoteIP: "127.0.0.1", RemotePort: 80, Pod: "pod-a", Expected: true,
		Request: httpkit.RequestInfo{Method: "GET", URL: "http://svc/"},
	}
}

func TestResponseObject(t *testing.T) {
	rt := goja.New()
	_ = rt.Set("r", httpkit.NewResponseObject(rt, result()))
	v, err := rt.RunString(`JSON.stringify([
		Object.keys(r).join(','), r.status, r.proto, r.pod, r.headers['Vary'], r.headers === r.headers,
		r.timings.duration, r.json('n.1'), r.json().hostname, r.request.method, 'pod' in r, 'nope' in r,
		(r.extra = 1, r.status = 201, delete r.error, Object.keys(r).slice(-2).join(',')), r.status, r.error])`)
	if err != nil {
		t.Fatal(err)
	}
	want := `["status,status_text,proto,headers,body,timings,remote_ip,remote_port,url,error,error_code,tls_version,tls_cipher_suite,ocsp,pod,request,json",` +
		`200,"HTTP/1.1","pod-a","a, b",true,12,2,"pod-a","GET",true,false,"json,extra",201,null]`
	if v.String() != want {
		t.Fatalf("got  %s\nwant %s", v.String(), want)
	}
	bin := result()
	bin.BodyType = "binary"
	_ = rt.Set("b", httpkit.NewResponseObject(rt, bin))
	if v, err := rt.RunString(`b.body.byteLength`); err != nil || v.ToInteger() != int64(len(bin.Body)) {
		t.Fatalf("binary body: %v %v", v, err)
	}
	text := result()
	text.Body = []byte("not json")
	_ = rt.Set("t", httpkit.NewResponseObject(rt, text))
	if _, err := rt.RunString(`t.json()`); err == nil {
		t.Fatal("json() of a non-JSON body: want an exception")
	}
}

func TestResponseObjectWith(t *testing.T) {
	rt := goja.New()
	builds := 0
	extra := httpkit.ResponseExtra{Key: "connection", Build: func() goja.Value {
		builds++
		o := rt.NewObject()
		_ = o.Set("id", 7)
		return o
	}}
	_ = rt.Set("r", httpkit.NewResponseObjectWith(rt, result(), extra))
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

func TestResponseJSONThrowsSyntaxError(t *testing.T) {
	rt := goja.New()
	r := result()
	r.Body = []byte("<html>")
	_ = rt.Set("r", httpkit.NewResponseObject(rt, r))
	v, err := rt.RunString(`try { r.json(); 'no exception' } catch (e) { e.name + ': ' + e.message }`)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.String(); !strings.HasPrefix(got, "SyntaxError: response body is not JSON") {
		t.Fatalf("res.json() on HTML threw %q, want a SyntaxError", got)
	}
}

func TestReporterRequest(t *testing.T) {
	vu := exttest.New(nil)
	rep := httpkit.NewReporter(vu)
	r := result()
	r.Expected = false
	r.Error, r.ErrorCode = "connection refused", httpkit.CodeDialRefused
	tags := rep.Tags(vu.Tags().With("name", "home"), r, ext.Tag{})
	rep.Request(tags, r, 0, 0)
	if n := len(vu.Samples()); n != 9 {
		t.Fatalf("%d samples, want 9", n)
	}
	d := vu.SamplesOf(ext.MetricHTTPReqDuration)[0]
	if d.Value != 12 || d.Tags.Get("pod") != "pod-a" || d.Tags.Get("name") != "home" || d.Tags.Get("error_code") != "1212" ||
		d.Tags.Get("status") != "200" || d.Tags.Get("expected_response") != "false" || d.Tags.Get("scenario") != "default" {
		t.Fatalf("duration sample %+v", d)
	}
	if f := vu.SamplesOf(ext.MetricHTTPReqFailed)[0]; f.Value != 1 {
		t.Fatalf("http_req_failed = %v, want 1", f.Value)
	}
}

func TestReporterTagCache(t *testing.T) {
	base := ext.NewTagSet(map[string]string{"scenario": "default", "group": ""})
	vu := exttest.New(nil)
	c := httpkit.NewReporter(vu)
	fresh := httpkit.NewReporter(vu) // no cache history: the reference
	mode := func(m string) ext.Tag { return ext.Tag{Key: "mode", Value: m} }
	r := result()
	first := c.Tags(base, r, mode("multiplexed"))
	if first.Get("mode") != "multiplexed" || first.Get("url") != r.URL || first.Get("scenario") != "default" {
		t.Fatalf("tags %v", first)
	}
	if allocs := testing.AllocsPerRun(100, func() { c.Tags(base, r, mode("multiplexed")) }); allocs != 0 {
		t.Errorf("a repeated request allocates %v times for its tags, want 0", allocs)
	}
	// An equal base built anew (another TagSet value) is still a hit.
	if again := c.Tags(ext.NewTagSet(base.Map()), result(), mode("multiplexed")); !again.Equal(first) {
		t.Fatal("identical request: want the same tags")
	}
	for name, change := range map[string]func() (ext.TagSet, *httpkit.Result, string){
		"status": func() (ext.TagSet, *httpkit.Result, string) {
			r := result()
			r.Status = 503
			return base, r, "multiplexed"
		},
		"pod": func() (ext.TagSet, *httpkit.Result, string) {
			r := result()
			r.Pod = "pod-b"
			return base, r, "multiplexed"
		},
		"error": func() (ext.TagSet, *httpkit.Result, string) {
			r := result()
			r.Error = "x"
			return base, r, "multiplexed"
		},
		"no callback": func() (ext.TagSet, *httpkit.Result, string) {
			r := result()
			r.NoCallback = true
			return base, r, "multiplexed"
		},
		"extra value": func() (ext.TagSet, *httpkit.Result, string) { return base, result(), "single-connection" },
		"base": func() (ext.TagSet, *httpkit.Result, string) {
			return base.With("group", "::g"), result(), "multiplexed"
		},
	} {
		b, r, m := change()
		got := c.Tags(b, r, mode(m))
		if want := fresh.Tags(b, r, mode(m)); !got.Equal(want) {
			t.Errorf("%s changed: tags %v, want %v", name, got, want)
		}
		if got.Equal(first) {
			t.Errorf("%s changed: got the stale cached tags", name)
		}
	}
}

func TestReporterNoCallback(t *testing.T) {
	vu := exttest.New(nil)
	rep := httpkit.NewReporter(vu)
	r := result()
	r.NoCallback = true
	tags := rep.Tags(vu.Tags().With("expected_response", "script"), r, ext.Tag{})
	if _, set := tags.Lookup("expected_response"); set {
		t.Fatalf("tags %v: no expected_response without a response callback (k6)", tags)
	}
	rep.Request(tags, r, 10, 20)
	if n := len(vu.SamplesOf(ext.MetricHTTPReqFailed)); n != 0 {
		t.Fatalf("%d http_req_failed samples without a response callback, want 0", n)
	}
}

// TestReporterData: the one rule for data_sent / data_received — bytes of
// a request carry its tags, bytes no request claims the VU's.
func TestReporterData(t *testing.T) {
	vu := exttest.New(nil)
	rep := httpkit.NewReporter(vu)
	r := result()
	tags := rep.Tags(vu.Tags(), r, ext.Tag{})
	rep.Request(tags, r, 10, 20)
	rep.Request(tags, r, 0, 5)
	rep.Data(vu.Tags(), 3, 0)
	if n := len(vu.Samples()); n != 9+2+9+1+1 {
		t.Fatalf("%d samples, want 22", n)
	}
	sent, recv := vu.SamplesOf(ext.MetricDataSent), vu.SamplesOf(ext.MetricDataReceived)
	if len(sent) != 2 || sent[0].Value != 10 || sent[0].Tags.Get("url") != r.URL || sent[1].Value != 3 || sent[1].Tags.Get("url") != "" {
		t.Fatalf("data_sent %+v", sent)
	}
	if len(recv) != 2 || recv[1].Value != 5 || recv[1].Tags.Get("url") != r.URL {
		t.Fatalf("data_received %+v (with the HTTP tags)", recv)
	}
	// the pooled buffer is reused: samples already pushed must not change
	if d := vu.SamplesOf(ext.MetricHTTPReqDuration); d[0].Value != 12 || d[0].Tags.Get("url") != r.URL {
		t.Fatalf("duration sample %+v", d[0])
	}
}

func TestTagsErrorCodeOfHTTPErrors(t *testing.T) {
	rep := httpkit.NewReporter(exttest.New(nil))
	r := result()
	r.Status, r.ErrorCode, r.Expected = 404, httpkit.CodeHTTPStatus(404), false
	tags := rep.Tags(ext.TagSet{}, r, ext.Tag{})
	if tags.Get("error_code") != "1404" {
		t.Fatalf("error_code tag = %q, want 1404 for a 404 (as k6)", tags.Get("error_code"))
	}
	if _, set := tags.Lookup("error"); set {
		t.Fatalf("error tag set for a plain 404: %q", tags.Get("error"))
	}
	if _, set := rep.Tags(ext.TagSet{}, result(), ext.Tag{}).Lookup("error_code"); set {
		t.Fatal("error_code tag set on a 200")
	}
}

// TestResponseObjectsOfOneResult: the first response object keeps its
// state in the Result; a second one made from the same Result must not
// share it.
func TestResponseObjectsOfOneResult(t *testing.T) {
	rt := goja.New()
	r := &httpkit.Result{Status: 200, Body: []byte("b")}
	a, b := httpkit.NewResponseObject(rt, r), httpkit.NewResponseObject(rt, r)
	_ = a.Set("mark", 1)
	if v := b.Get("mark"); v != nil && !goja.IsUndefined(v) {
		t.Fatalf("second object sees the first's property: %v", v)
	}
	if a.Get("status").ToInteger() != 200 || b.Get("status").ToInteger() != 200 || a.Get("mark").ToInteger() != 1 {
		t.Fatal("objects lost their values")
	}
}
