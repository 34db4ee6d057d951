// Package httpkit is the HTTP reporting kit next to spread's extension
// contract (package ext): what a module that makes HTTP requests needs to
// report them the way k6/http does. k6/http and k6/x/http3 both use it, so
// their metrics, tags, error codes and response objects cannot drift apart.
//
//   - Result describes one finished (or failed) request.
//   - A Reporter (one per module instance) turns Results into k6's tags
//     and samples: http_reqs, the http_req_* trends, http_req_failed,
//     data_sent and data_received, pushed in one VU.Push.
//   - NewResponseObject builds the JS response object of k6's shape.
//   - The Code* constants are the one table of error codes (k6's, plus
//     the QUIC/HTTP-3 range k6 does not define).
//   - PodFrom reads which pod served a response.
package httpkit

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"spread.dev/spread/ext"
)

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

// HeaderGetter looks a response header field up by canonical name; an
// http.Header is one.
type HeaderGetter interface {
	Get(name string) string // the first value, "" when absent
}

// HeaderSource is a response header a module keeps unparsed until it is
// needed (see Result.SetHeaderSource): lookups by name, and the whole
// header built on demand.
type HeaderSource interface {
	HeaderGetter
	Has(name string) bool
	Header() http.Header
}

// PodFrom returns the pod that served a response, or "".
func PodFrom(sources []PodSource, h HeaderGetter, body []byte) string {
	var doc map[string]json.RawMessage // decoded on the first json source only
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
			doc = decodeObject(body)
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

// decodeObject decodes a JSON object body's top level, or returns nil. In
// its own function so that a response whose pod is found in a header does
// not pay for the map's allocation (it escapes into json.Unmarshal).
func decodeObject(body []byte) map[string]json.RawMessage {
	if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		return nil
	}
	var doc map[string]json.RawMessage
	_ = json.Unmarshal(body, &doc)
	return doc
}

// Timings are a request's phases, as k6 reports them.
type Timings struct {
	Blocked, Connecting, TLSHandshaking, Sending, Waiting, Receiving time.Duration
}

// Duration is k6's http_req_duration: sending + waiting + receiving.
func (t Timings) Duration() time.Duration { return t.Sending + t.Waiting + t.Receiving }

// RequestInfo is the request part of a response object.
type RequestInfo struct {
	Method  string
	URL     string
	Headers http.Header
	Body    string
}

// Result is one finished (or failed) HTTP request.
type Result struct {
	Start time.Time
	// End is when the request finished, if the module read the clock
	// then: Request stamps the samples with it instead of reading the
	// clock again. Zero: the time Request runs.
	End        time.Time
	Method     string
	URL        string
	Name       string // the `name` tag; the URL when empty
	Status     int    // 0 when the request failed before a response
	StatusText string // "200 OK"
	Proto      string // HTTP/1.1, HTTP/2.0, HTTP/3.0
	// Headers is the response header. Read it with Header(): a module
	// may leave it nil and give a HeaderSource instead.
	Headers    http.Header
	lazy       HeaderSource
	Body       []byte
	BodyType   string // "text" (default), "binary" or "none"
	Timings    Timings
	RemoteIP   string
	RemotePort int
	TLSVersion string // k6's spelling: tls1.2, tls1.3; "" without TLS
	// TLSState is the connection's TLS state (nil without TLS): the
	// response's tls_cipher_suite and ocsp are built from it when read.
	TLSState  *tls.ConnectionState
	Error     string
	ErrorCode int // from the Code* table
	Pod       string
	Expected  bool // the expected_response tag, from the response callback
	// NoCallback: the script set the response callback to null, so (as
	// in k6) the request has no expected_response tag and no
	// http_req_failed sample.
	NoCallback bool
	Request    RequestInfo

	obj responseObject // the JS response object's state (see objectState)
}

// SetHeaderSource gives the response header as src, which Header turns
// into Headers on first use. A load loop rarely reads the whole header,
// and building its map per response was a visible share of the client's
// CPU per request (issue 17).
func (r *Result) SetHeaderSource(src HeaderSource) { r.Headers, r.lazy = nil, src }

// Header returns the response header (nil when there was no response).
func (r *Result) Header() http.Header {
	if r.lazy != nil {
		r.Headers, r.lazy = r.lazy.Header(), nil
	}
	return r.Headers
}

// HeaderGet returns the first value of the response header field name
// (canonical), without building the header.
func (r *Result) HeaderGet(name string) string {
	if r.lazy != nil {
		return r.lazy.Get(name)
	}
	return r.Headers.Get(name)
}

// HasHeader reports whether the response header has a field called name
// (canonical), without building the header.
func (r *Result) HasHeader(name string) bool {
	if r.lazy != nil {
		return r.lazy.Has(name)
	}
	return len(r.Headers[name]) > 0
}

// Reporter reports one module instance's requests: it builds their tag
// sets and pushes their samples. Make one per module instance (VU) with
// NewReporter; it is safe for concurrent use (http.batch).
//
// The rule for data_sent and data_received, the same for every module
// using the kit: bytes a module can attribute to one request carry that
// request's tag set (Request, with Bytes); bytes it cannot (a connection
// that closed between requests) carry the VU's tags (Data).
type Reporter struct {
	vu ext.VU
	m  metricSet

	mu   sync.Mutex
	base ext.TagSet // the last request's base set
	key  tagKey
	tags ext.TagSet
}

type metricSet struct {
	reqs, duration, blocked, connecting, tlsHandshaking, sending, waiting, receiving, failed *ext.Metric
	dataSent, dataReceived                                                                   *ext.Metric
}

// NewReporter returns vu's reporter; it looks the metrics up once, as
// they are used on every request.
func NewReporter(vu ext.VU) *Reporter {
	r := vu.Metrics()
	return &Reporter{vu: vu, m: metricSet{
		reqs: r.Get(ext.MetricHTTPReqs), duration: r.Get(ext.MetricHTTPReqDuration),
		blocked: r.Get(ext.MetricHTTPReqBlocked), connecting: r.Get(ext.MetricHTTPReqConnecting),
		tlsHandshaking: r.Get(ext.MetricHTTPReqTLSHandshaking), sending: r.Get(ext.MetricHTTPReqSending),
		waiting: r.Get(ext.MetricHTTPReqWaiting), receiving: r.Get(ext.MetricHTTPReqReceiving),
		failed:   r.Get(ext.MetricHTTPReqFailed),
		dataSent: r.Get(ext.MetricDataSent), dataReceived: r.Get(ext.MetricDataReceived),
	}}
}

// tagKey is every Result field the tags read, plus the extra pair.
type tagKey struct {
	method, url, name, proto, errText, tlsVersion, pod string
	status, errorCode                                  int
	expected, noCallback                               bool
	extra                                              ext.Tag
}

// Tags returns the sample tags of res: base (the VU's tags with the
// request's own tags) plus k6's per-request system tags (method, url,
// name, status, proto, expected_response, error, error_code,
// tls_version) and `pod`; extra, when its Key is set, is added last (it
// wins, as With would).
//
// Why a cache: a load loop repeats the same request, so nearly every
// request has the same tags; building a fresh ~14-entry set per request
// was a visible share of the engine's CPU per request (allocation, GC).
// Tag sets are immutable, so handing the same one to many samples is
// safe: when base and the request's tag inputs equal the previous
// request's, the previous set is returned.
func (r *Reporter) Tags(base ext.TagSet, res *Result, extra ext.Tag) ext.TagSet {
	k := tagKey{method: res.Method, url: res.URL, name: res.Name, proto: res.Proto, errText: res.Error,
		tlsVersion: res.TLSVersion, pod: res.Pod, status: res.Status, errorCode: res.ErrorCode,
		expected: res.Expected, noCallback: res.NoCallback, extra: extra}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags.Len() > 0 && r.key == k && r.base.Equal(base) {
		return r.tags
	}
	r.base, r.key = base, k
	r.tags = buildTags(base, res, extra)
	return r.tags
}

// buildTags is Tags without the cache.
func buildTags(base ext.TagSet, res *Result, extra ext.Tag) ext.TagSet {
	var buf [12]ext.Tag // room for every pair below: no allocation for the list
	t := buf[:0]
	t = append(t, ext.Tag{Key: "method", Value: res.Method}, ext.Tag{Key: "url", Value: res.URL})
	if _, set := base.Lookup("name"); !set {
		name := res.Name
		if name == "" {
			name = res.URL
		}
		t = append(t, ext.Tag{Key: "name", Value: name})
	}
	t = append(t, ext.Tag{Key: "status", Value: strconv.Itoa(res.Status)}, ext.Tag{Key: "proto", Value: res.Proto})
	if !res.NoCallback {
		t = append(t, ext.Tag{Key: "expected_response", Value: strconv.FormatBool(res.Expected)})
	}
	if res.Error != "" {
		t = append(t, ext.Tag{Key: "error", Value: res.Error})
	}
	if res.ErrorCode != 0 || res.Error != "" {
		// k6 tags HTTP 4xx/5xx (1400-1599) as well as transport errors.
		t = append(t, ext.Tag{Key: "error_code", Value: strconv.Itoa(res.ErrorCode)})
	}
	if res.TLSVersion != "" {
		t = append(t, ext.Tag{Key: "tls_version", Value: res.TLSVersion})
	}
	t = append(t, ext.Tag{Key: "pod", Value: res.Pod})
	if extra.Key != "" {
		t = append(t, extra)
	}
	out := base.WithTags(t...)
	if res.NoCallback {
		// A base (script) tag of that name goes too: k6 has none then.
		out = out.Without("expected_response")
	}
	return out
}

// requestSamples is room for one request's samples: 9 http_req* + 2 data.
type requestSamples [11]ext.Sample

// sampleBufs recycles requestSamples. VU.Push copies what it is given, so
// the buffer is free again once Push returns; reusing it saves a ~700-byte
// allocation (and its GC scan) per request.
var sampleBufs = sync.Pool{New: func() any { return new(requestSamples) }}

// Request pushes everything one request reports in a single Push, all
// stamped with the same time: http_reqs, the http_req_* trends,
// http_req_failed (not with res.NoCallback), and data_sent /
// data_received of the bytes sent and received for it (zero counts
// skipped), all with tags (from Tags). One Push instead of several
// halves the pump's locking per request.
func (r *Reporter) Request(tags ext.TagSet, res *Result, sent, received int64) {
	m := &r.m
	now := res.End
	if now.IsZero() {
		now = time.Now()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	buf := sampleBufs.Get().(*requestSamples)
	s := buf[:0]
	s = append(s,
		ext.Sample{Metric: m.reqs, Time: now, Tags: tags, Value: 1},
		ext.Sample{Metric: m.duration, Time: now, Tags: tags, Value: ms(res.Timings.Duration())},
		ext.Sample{Metric: m.blocked, Time: now, Tags: tags, Value: ms(res.Timings.Blocked)},
		ext.Sample{Metric: m.connecting, Time: now, Tags: tags, Value: ms(res.Timings.Connecting)},
		ext.Sample{Metric: m.tlsHandshaking, Time: now, Tags: tags, Value: ms(res.Timings.TLSHandshaking)},
		ext.Sample{Metric: m.sending, Time: now, Tags: tags, Value: ms(res.Timings.Sending)},
		ext.Sample{Metric: m.waiting, Time: now, Tags: tags, Value: ms(res.Timings.Waiting)},
		ext.Sample{Metric: m.receiving, Time: now, Tags: tags, Value: ms(res.Timings.Receiving)},
	)
	if !res.NoCallback {
		failed := 0.0
		if !res.Expected {
			failed = 1
		}
		s = append(s, ext.Sample{Metric: m.failed, Time: now, Tags: tags, Value: failed})
	}
	s = appendData(s, m, now, tags, sent, received)
	r.vu.Push(s...)
	*buf = requestSamples{} // drop the references to tags and metrics
	sampleBufs.Put(buf)
}

// Data pushes data_sent / data_received byte counts no single request can
// claim (a connection that closed between requests) with tags (the VU's);
// zero counts are skipped.
func (r *Reporter) Data(tags ext.TagSet, sent, received int64) {
	var buf [2]ext.Sample
	if s := appendData(buf[:0], &r.m, time.Now(), tags, sent, received); len(s) > 0 {
		r.vu.Push(s...)
	}
}

func appendData(s []ext.Sample, m *metricSet, now time.Time, tags ext.TagSet, sent, received int64) []ext.Sample {
	if sent > 0 {
		s = append(s, ext.Sample{Metric: m.dataSent, Time: now, Tags: tags, Value: float64(sent)})
	}
	if received > 0 {
		s = append(s, ext.Sample{Metric: m.dataReceived, Time: now, Tags: tags, Value: float64(received)})
	}
	return s
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
