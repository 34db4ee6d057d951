package ext

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The helpers below are shared by k6/http and k6/x/http3 so both report
// requests with the same metrics, tags and response shape.

// DefaultPodFrom is where the serving pod's name is read by default: the
// echo-server's header, else the write-up's FastAPI body {"hostname": ...}.
const DefaultPodFrom = "header:X-Served-By,json:hostname"

// PodSource is one place to read the pod name from.
type PodSource struct {
	Header string // response header name, or
	JSON   string // top-level JSON body field
}

// ParsePodFrom parses a podFrom option: a comma-separated list of
// `header:NAME` and `json:FIELD`, tried in order; "" means the default and
// "none" turns pod attribution off.
func ParsePodFrom(spec string) ([]PodSource, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		spec = DefaultPodFrom
	}
	if spec == "none" {
		return nil, nil
	}
	var out []PodSource
	for _, part := range strings.Split(spec, ",") {
		kind, name, ok := strings.Cut(strings.TrimSpace(part), ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("podFrom %q: want header:NAME or json:FIELD, comma-separated", part)
		}
		switch kind {
		case "header":
			out = append(out, PodSource{Header: name})
		case "json":
			out = append(out, PodSource{JSON: name})
		default:
			return nil, fmt.Errorf("podFrom %q: unknown source %q (header or json)", part, kind)
		}
	}
	return out, nil
}

// PodFrom returns the pod that served a response, or "".
func PodFrom(sources []PodSource, h http.Header, body []byte) string {
	var doc map[string]json.RawMessage
	parsed := false
	for _, s := range sources {
		if s.Header != "" {
			if v := h.Get(s.Header); v != "" {
				return v
			}
			continue
		}
		if !parsed {
			parsed = true
			trimmed := strings.TrimSpace(string(body))
			if strings.HasPrefix(trimmed, "{") {
				_ = json.Unmarshal(body, &doc)
			}
		}
		if raw, ok := doc[s.JSON]; ok {
			var v any
			if json.Unmarshal(raw, &v) == nil {
				switch x := v.(type) {
				case string:
					return x
				case float64:
					return strconv.FormatFloat(x, 'f', -1, 64)
				}
			}
		}
	}
	return ""
}

// HTTPTimings are a request's phases, as k6 reports them.
type HTTPTimings struct {
	Blocked, Connecting, TLSHandshaking, Sending, Waiting, Receiving time.Duration
}

// Duration is k6's http_req_duration: sending + waiting + receiving.
func (t HTTPTimings) Duration() time.Duration { return t.Sending + t.Waiting + t.Receiving }

// HTTPRequestInfo is the request part of a response object.
type HTTPRequestInfo struct {
	Method  string
	URL     string
	Headers http.Header
	Body    string
}

// HTTPResult is one finished (or failed) HTTP request.
type HTTPResult struct {
	Start      time.Time
	Method     string
	URL        string
	Name       string // the `name` tag; the URL when empty
	Status     int    // 0 when the request failed before a response
	StatusText string // "200 OK"
	Proto      string // HTTP/1.1, HTTP/2.0, HTTP/3.0
	Headers    http.Header
	Body       []byte
	BodyType   string // "text" (default), "binary" or "none"
	Timings    HTTPTimings
	RemoteIP   string
	RemotePort int
	TLSVersion string // k6's spelling: tls1.2, tls1.3; "" without TLS
	Error      string
	ErrorCode  int
	Pod        string
	Expected   bool // the expected_response tag, from the response callback
	Request    HTTPRequestInfo
}

// HTTPTags returns the sample tags of r: base (the VU's tags merged with the
// request's own tags) plus k6's per-request system tags and `pod`.
func HTTPTags(base Tags, r *HTTPResult) Tags {
	return buildHTTPTags(base, r, "", "")
}

// buildHTTPTags is HTTPTags plus one optional extra pair (k6/x/http3's
// `mode`), set last so it wins as With would.
func buildHTTPTags(base Tags, r *HTTPResult, extraKey, extraVal string) Tags {
	t := make(Tags, len(base)+13)
	for k, v := range base {
		t[k] = v
	}
	t["method"] = r.Method
	t["url"] = r.URL
	if _, set := t["name"]; !set {
		t["name"] = r.Name
		if r.Name == "" {
			t["name"] = r.URL
		}
	}
	t["status"] = strconv.Itoa(r.Status)
	t["proto"] = r.Proto
	t["expected_response"] = strconv.FormatBool(r.Expected)
	if r.Error != "" {
		t["error"] = r.Error
	}
	if r.ErrorCode != 0 || r.Error != "" {
		// k6 tags HTTP 4xx/5xx (1400-1599) as well as transport errors.
		t["error_code"] = strconv.Itoa(r.ErrorCode)
	}
	if r.TLSVersion != "" {
		t["tls_version"] = r.TLSVersion
	}
	t["pod"] = r.Pod
	if extraKey != "" {
		t[extraKey] = extraVal
	}
	return t
}

// HTTPTagCache hands out the tag set of HTTPTags, reusing the last one when
// a request's tag inputs equal the previous request's.
//
// Why: a load loop repeats the same request, so nearly every request has
// the same tags; building a fresh ~14-entry map per request was a visible
// share of the engine's CPU per request (allocation, hashing, GC). Tag
// maps are immutable by contract, so sharing one between requests is
// safe. The base set is compared by identity (the VU keeps one map until
// its scenario, group or VU tags change), everything else by value.
// A zero HTTPTagCache is ready; it is safe for concurrent use (batch).
type HTTPTagCache struct {
	mu   sync.Mutex
	base Tags // identity of the last base set (kept alive by this reference)
	key  httpTagKey
	tags Tags
}

// httpTagKey is every HTTPResult field HTTPTags reads, plus the extra pair.
type httpTagKey struct {
	method, url, name, proto, errText, tlsVersion, pod string
	status, errorCode                                  int
	expected                                           bool
	extraKey, extraVal                                 string
}

// Tags returns HTTPTags(base, r), with the pair extraKey=extraVal added
// when extraKey is not empty. Callers must not modify the result.
func (c *HTTPTagCache) Tags(base Tags, r *HTTPResult, extraKey, extraVal string) Tags {
	k := httpTagKey{method: r.Method, url: r.URL, name: r.Name, proto: r.Proto, errText: r.Error,
		tlsVersion: r.TLSVersion, pod: r.Pod, status: r.Status, errorCode: r.ErrorCode,
		expected: r.Expected, extraKey: extraKey, extraVal: extraVal}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags != nil && sameTags(c.base, base) && c.key == k {
		return c.tags
	}
	c.base, c.key = base, k
	c.tags = buildHTTPTags(base, r, extraKey, extraVal)
	return c.tags
}

// sameTags reports whether a and b are the same map (not merely equal).
func sameTags(a, b Tags) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

type httpMetrics struct {
	reqs, duration, blocked, connecting, tlsHandshaking, sending, waiting, receiving, failed *Metric
	dataSent, dataReceived                                                                   *Metric
}

func (r *Registry) httpSet() *httpMetrics {
	r.httpOnce.Do(func() {
		r.http = &httpMetrics{
			reqs: r.Get(MetricHTTPReqs), duration: r.Get(MetricHTTPReqDuration),
			blocked: r.Get(MetricHTTPReqBlocked), connecting: r.Get(MetricHTTPReqConnecting),
			tlsHandshaking: r.Get(MetricHTTPReqTLSHandshaking), sending: r.Get(MetricHTTPReqSending),
			waiting: r.Get(MetricHTTPReqWaiting), receiving: r.Get(MetricHTTPReqReceiving),
			failed:   r.Get(MetricHTTPReqFailed),
			dataSent: r.Get(MetricDataSent), dataReceived: r.Get(MetricDataReceived),
		}
	})
	return r.http
}

// requestSamples is room for one request's samples: 9 http_req* + 2 data.
type requestSamples [11]Sample

// sampleBufs recycles requestSamples. VU.Push copies what it is given, so
// the buffer is free again once Push returns; reusing it saves a ~700-byte
// allocation (and its GC scan) per request.
var sampleBufs = sync.Pool{New: func() any { return new(requestSamples) }}

// HTTPSamples selects which samples EmitRequest pushes.
type HTTPSamples struct {
	// NoFailed leaves out http_req_failed (k6 does when the script set
	// the response callback to null).
	NoFailed bool
	// DataTags are the tags of data_sent / data_received (nil: the HTTP
	// tags); Sent and Received are their byte counts, zero ones skipped.
	DataTags       Tags
	Sent, Received int64
}

// EmitHTTP pushes the standard HTTP samples of one request (http_reqs,
// the http_req_* trends and http_req_failed) with the given tags.
func EmitHTTP(vu VU, tags Tags, r *HTTPResult) {
	EmitRequest(vu, tags, r, HTTPSamples{})
}

// EmitRequest pushes everything one request reports in a single Push: the
// http_req* samples of EmitHTTP (minus http_req_failed with NoFailed) and
// the data_sent / data_received counts, all stamped with the same time.
// One Push instead of two halves the pump's locking per request.
func EmitRequest(vu VU, tags Tags, r *HTTPResult, o HTTPSamples) {
	m := vu.Metrics().httpSet()
	now := time.Now()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	buf := sampleBufs.Get().(*requestSamples)
	s := buf[:0]
	s = append(s,
		Sample{Metric: m.reqs, Time: now, Tags: tags, Value: 1},
		Sample{Metric: m.duration, Time: now, Tags: tags, Value: ms(r.Timings.Duration())},
		Sample{Metric: m.blocked, Time: now, Tags: tags, Value: ms(r.Timings.Blocked)},
		Sample{Metric: m.connecting, Time: now, Tags: tags, Value: ms(r.Timings.Connecting)},
		Sample{Metric: m.tlsHandshaking, Time: now, Tags: tags, Value: ms(r.Timings.TLSHandshaking)},
		Sample{Metric: m.sending, Time: now, Tags: tags, Value: ms(r.Timings.Sending)},
		Sample{Metric: m.waiting, Time: now, Tags: tags, Value: ms(r.Timings.Waiting)},
		Sample{Metric: m.receiving, Time: now, Tags: tags, Value: ms(r.Timings.Receiving)},
	)
	if !o.NoFailed {
		failed := 0.0
		if !r.Expected {
			failed = 1
		}
		s = append(s, Sample{Metric: m.failed, Time: now, Tags: tags, Value: failed})
	}
	dataTags := o.DataTags
	if dataTags == nil {
		dataTags = tags
	}
	if o.Sent > 0 {
		s = append(s, Sample{Metric: m.dataSent, Time: now, Tags: dataTags, Value: float64(o.Sent)})
	}
	if o.Received > 0 {
		s = append(s, Sample{Metric: m.dataReceived, Time: now, Tags: dataTags, Value: float64(o.Received)})
	}
	vu.Push(s...)
	*buf = requestSamples{} // drop the references to tags and metrics
	sampleBufs.Put(buf)
}

// EmitData pushes data_sent / data_received byte counts (counted on the
// wire by the module) with the given tags; zero counts are skipped.
func EmitData(vu VU, tags Tags, sent, received int64) {
	m := vu.Metrics().httpSet()
	now := time.Now()
	var buf [2]Sample
	s := buf[:0]
	if sent > 0 {
		s = append(s, Sample{Metric: m.dataSent, Time: now, Tags: tags, Value: float64(sent)})
	}
	if received > 0 {
		s = append(s, Sample{Metric: m.dataReceived, Time: now, Tags: tags, Value: float64(received)})
	}
	if len(s) > 0 {
		vu.Push(s...)
	}
}

// SelectJSON walks a decoded JSON document along a dot path ("a.b.0.c"),
// the common subset of the gjson selectors k6's res.json() accepts.
func SelectJSON(doc any, path string) (any, bool) {
	cur := doc
	for _, key := range strings.Split(path, ".") {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[key]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			if key == "#" {
				return float64(len(node)), true
			}
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(node) {
				return nil, false
			}
			cur = node[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
