package http3

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
	"spread.dev/xk6-http3/client"
)

func init() { ext.Register("k6/x/http3", New()) }

// Module is the k6/x/http3 module. The engine shares one Module across
// every VU of the process, so it holds the multiplexed pools.
type Module struct {
	mu    sync.Mutex
	pools map[string]*pool
}

// pool is a multiplexed Client shared by the JS clients of every VU that
// asked for the same options; closed when the last of them goes.
type pool struct {
	c    *client.Client
	refs int
}

// New returns a Module with no pools.
func New() *Module { return &Module{pools: map[string]*pool{}} }

// NewModuleInstance gives one VU its exports: the Client constructor.
func (m *Module) NewModuleInstance(vu ext.VU) ext.Instance {
	// The module's own metrics: registered here, not built into the core.
	// The names and types are fixed, so an error is a name clash with a
	// script's custom metric of another type: fail at import, clearly.
	opened, err := vu.Metrics().NewMetric(MetricConnectionsOpened, ext.Counter)
	if err != nil {
		panic(vu.Runtime().NewGoError(fmt.Errorf("k6/x/http3: %w", err)))
	}
	handshake, err := vu.Metrics().NewMetric(MetricHandshakeDuration, ext.Trend, ext.Time)
	if err != nil {
		panic(vu.Runtime().NewGoError(fmt.Errorf("k6/x/http3: %w", err)))
	}
	return &instance{m: m, vu: vu, opened: opened, handshake: handshake, rep: httpkit.NewReporter(vu)}
}

// The metrics k6/x/http3 adds to k6's HTTP ones.
const (
	MetricConnectionsOpened = "http3_connections_opened" // new QUIC connections (counter)
	MetricHandshakeDuration = "http3_handshake_duration" // their handshakes (trend, ms)
)

// acquirePool returns the shared multiplexed Client for opts.
func (m *Module) acquirePool(opts client.Options) (*client.Client, func(), error) {
	key := opts.Key()
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pools[key]
	if !ok {
		c, err := client.New(opts)
		if err != nil {
			return nil, nil, err
		}
		p = &pool{c: c}
		m.pools[key] = p
	}
	p.refs++
	var once sync.Once
	release := func() {
		once.Do(func() {
			m.mu.Lock()
			p.refs--
			last := p.refs == 0
			if last && m.pools[key] == p {
				delete(m.pools, key)
			}
			m.mu.Unlock()
			if last {
				_ = p.c.Close()
			}
		})
	}
	return p.c, release, nil
}

type instance struct {
	m                 *Module
	vu                ext.VU
	opened, handshake *ext.Metric
	rep               *httpkit.Reporter // the VU's reporter, shared by its Clients
}

// Exports: `import http3 from 'k6/x/http3'; new http3.Client({...})`.
func (i *instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{"Client": i.newClient}}
}

// newClient is the JS constructor `new Client(options)`.
func (i *instance) newClient(call goja.ConstructorCall) *goja.Object {
	rt := i.vu.Runtime()
	raw := map[string]any{}
	if arg := call.Argument(0); !goja.IsUndefined(arg) && !goja.IsNull(arg) {
		m, ok := arg.Export().(map[string]any)
		if !ok {
			panic(rt.NewTypeError("http3.Client: options must be an object, got %s", arg.String()))
		}
		raw = m
	}
	var insecure bool
	if _, err := i.vu.Options().Decode("insecureSkipTLSVerify", &insecure); err != nil {
		panic(rt.NewTypeError("http3.Client: %v", err))
	}
	cfg, err := parseClientConfig(raw, insecure)
	if err != nil {
		panic(rt.NewTypeError("http3.Client: %v", err))
	}
	jc := &jsClient{vu: i.vu, in: i, cfg: cfg, mode: string(cfg.opts.Mode)}
	if jc.mode == "" {
		jc.mode = string(client.SingleConnection)
	}
	if cfg.opts.Mode == client.Multiplexed {
		jc.c, jc.release, err = i.m.acquirePool(cfg.opts)
	} else {
		jc.c, err = client.New(cfg.opts)
		if err == nil {
			c := jc.c
			jc.release = func() { _ = c.Close() }
		}
	}
	if err != nil {
		panic(rt.NewTypeError("http3.Client: %v", err))
	}
	// The VU's connections and sockets go when the VU does.
	stop := context.AfterFunc(i.vu.Context(), jc.release)
	_ = stop

	o := call.This
	set := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = o.Set(name, fn) }
	for _, m := range []string{"get", "head"} {
		method := strings.ToUpper(m)
		set(m, func(c goja.FunctionCall) goja.Value {
			return jc.requestValue(method, c.Argument(0), nil, c.Argument(1))
		})
	}
	for m, method := range map[string]string{"post": "POST", "put": "PUT", "patch": "PATCH", "del": "DELETE", "options": "OPTIONS"} {
		set(m, func(c goja.FunctionCall) goja.Value {
			return jc.requestValue(method, c.Argument(0), c.Argument(1), c.Argument(2))
		})
	}
	set("request", func(c goja.FunctionCall) goja.Value {
		return jc.requestValue(strings.ToUpper(c.Argument(0).String()), c.Argument(1), c.Argument(2), c.Argument(3))
	})
	set("batch", jc.batch)
	set("close", func(goja.FunctionCall) goja.Value {
		jc.release()
		return goja.Undefined()
	})
	_ = o.Set("mode", jc.mode)
	return nil
}

// jsClient is one `new http3.Client()` of one VU.
type jsClient struct {
	vu      ext.VU
	in      *instance // the VU's module instance: metrics, reporter
	cfg     *clientConfig
	mode    string
	c       *client.Client
	release func()

	// the last remote address split into IP and port (report runs on the
	// VU goroutine only; a connection keeps its address)
	lastAddr, lastIP string
	lastPort         int
}

// remote splits addr ("ip:port") as remote_ip and remote_port.
func (jc *jsClient) remote(addr string) (string, int) {
	if addr != jc.lastAddr {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", 0
		}
		jc.lastAddr, jc.lastIP = addr, host
		jc.lastPort, _ = strconv.Atoi(port)
	}
	return jc.lastIP, jc.lastPort
}

// prepared is a request parsed from JS, ready to run off the VU goroutine.
//
// It also holds the request's httpkit.Result and client Result and is
// the response object's `connection` property builder (ResponseExtras):
// one allocation per request for all of it instead of one each plus a
// closure and a slice for the extra property.
type prepared struct {
	req     client.Request
	tags    map[string]string
	reqHdr  http.Header
	reqBody string
	bodyTyp string
	err     error // a bad argument, reported as a failed request

	hr  httpkit.Result
	res *client.Result
	rt  *goja.Runtime
}

var connectionKeys = []string{"connection"}

// ExtraKeys lists k6/x/http3's own response property.
func (p *prepared) ExtraKeys() []string { return connectionKeys }

// BuildExtra builds `connection` on first read, as k6's properties are:
// most scripts never look at it, and building it eagerly was 8 property
// sets per request.
func (p *prepared) BuildExtra(key string, r *httpkit.Result) goja.Value {
	if key != "connection" || p.rt == nil {
		return nil
	}
	res := p.res
	conn := p.rt.NewObject()
	_ = conn.Set("id", res.Conn.ID)
	_ = conn.Set("new", res.NewConn)
	_ = conn.Set("local_addr", res.Conn.LocalAddr)
	_ = conn.Set("resumed", res.Conn.Resumed)
	_ = conn.Set("zero_rtt", res.Conn.Used0RTT)
	_ = conn.Set("handshake_ms", float64(res.Conn.Handshake)/float64(time.Millisecond))
	_ = conn.Set("retries", res.Retries)
	return conn
}

func (jc *jsClient) requestValue(method string, urlV, bodyV, paramsV goja.Value) goja.Value {
	rt := jc.vu.Runtime()
	if jc.vu.State() == nil {
		panic(rt.NewTypeError("http3: making requests in the init context is not supported"))
	}
	p := jc.prepare(method, urlV, bodyV, paramsV)
	res := jc.do(p)
	return jc.report(p, res)
}

// batch runs requests concurrently (as concurrent streams where the policy
// shares a connection): an array of [method, url, body, params] arrays or
// {method, url, body, params} objects, or of URL strings.
func (jc *jsClient) batch(call goja.FunctionCall) goja.Value {
	rt := jc.vu.Runtime()
	if jc.vu.State() == nil {
		panic(rt.NewTypeError("http3: making requests in the init context is not supported"))
	}
	arg := call.Argument(0)
	obj := arg.ToObject(rt)
	var preps []*prepared
	if arr, ok := arg.Export().([]any); ok {
		for idx := range arr {
			preps = append(preps, jc.prepareBatchItem(obj.Get(strconv.Itoa(idx))))
		}
	} else {
		panic(rt.NewTypeError("http3: batch() takes an array of requests"))
	}
	results := make([]*client.Result, len(preps))
	var wg sync.WaitGroup
	for idx, p := range preps {
		wg.Add(1)
		go func() { // bounded by the request's timeout and the VU context
			defer wg.Done()
			results[idx] = jc.do(p)
		}()
	}
	wg.Wait()
	out := make([]any, len(preps))
	for idx, p := range preps {
		out[idx] = jc.report(p, results[idx])
	}
	return rt.ToValue(out)
}

func (jc *jsClient) prepareBatchItem(v goja.Value) *prepared {
	rt := jc.vu.Runtime()
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return &prepared{err: fmt.Errorf("batch: empty request")}
	}
	if s, ok := v.Export().(string); ok {
		return jc.prepare("GET", rt.ToValue(s), nil, nil)
	}
	o := v.ToObject(rt)
	if _, isArr := v.Export().([]any); isArr {
		return jc.prepare(strings.ToUpper(o.Get("0").String()), o.Get("1"), o.Get("2"), o.Get("3"))
	}
	method := "GET"
	if m := o.Get("method"); m != nil && !goja.IsUndefined(m) {
		method = strings.ToUpper(m.String())
	}
	return jc.prepare(method, o.Get("url"), o.Get("body"), o.Get("params"))
}

func undef(v goja.Value) bool { return v == nil || goja.IsUndefined(v) || goja.IsNull(v) }

// prepare parses url, body and params (headers, tags, timeout,
// responseType) without touching the network.
func (jc *jsClient) prepare(method string, urlV, bodyV, paramsV goja.Value) *prepared {
	rt := jc.vu.Runtime()
	// tags and headers stay nil unless the request has some: most load
	// loops pass none, and two maps per request were a visible share of
	// the module's own allocations.
	p := &prepared{bodyTyp: "text"}
	p.req.Method = method
	if undef(urlV) {
		p.err = fmt.Errorf("missing URL")
	} else {
		p.req.URL = urlV.String()
	}
	if !undef(bodyV) {
		switch b := bodyV.Export().(type) {
		case string:
			p.req.Body = []byte(b)
		case goja.ArrayBuffer:
			p.req.Body = b.Bytes()
		case []byte:
			p.req.Body = b
		case map[string]any:
			form := url.Values{}
			for k, v := range b {
				form.Set(k, fmt.Sprint(v))
			}
			p.req.Body = []byte(form.Encode())
			p.header().Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			p.req.Body = []byte(bodyV.String())
		}
		p.reqBody = string(p.req.Body)
	}
	if !undef(paramsV) {
		params := paramsV.ToObject(rt)
		if h := params.Get("headers"); !undef(h) {
			ho := h.ToObject(rt)
			for _, k := range ho.Keys() {
				p.header().Set(k, ho.Get(k).String())
			}
		}
		if tg := params.Get("tags"); !undef(tg) {
			to := tg.ToObject(rt)
			if keys := to.Keys(); len(keys) > 0 {
				p.tags = make(map[string]string, len(keys))
			}
			for _, k := range to.Keys() {
				p.tags[k] = to.Get(k).String()
			}
		}
		if t := params.Get("timeout"); !undef(t) {
			d, err := asDuration(t.Export())
			if err != nil && p.err == nil {
				p.err = fmt.Errorf("params.timeout: %w", err)
			}
			p.req.Timeout = d
		}
		if rtp := params.Get("responseType"); !undef(rtp) {
			switch s := rtp.String(); s {
			case "text", "binary", "none":
				p.bodyTyp = s
			default:
				if p.err == nil {
					p.err = fmt.Errorf("params.responseType %q: want text, binary or none", s)
				}
			}
		}
	}
	p.req.DiscardBody = p.bodyTyp == "none" && !jc.needsBody()
	p.req.Header = p.reqHdr
	return p
}

// header returns the request's headers, made on first use.
func (p *prepared) header() http.Header {
	if p.reqHdr == nil {
		p.reqHdr = http.Header{}
	}
	return p.reqHdr
}

// needsBody says whether the pod must be read from the body.
func (jc *jsClient) needsBody() bool {
	for _, s := range jc.cfg.podFrom {
		if s.JSON != "" {
			return true
		}
	}
	return false
}

// do runs a prepared request; safe off the VU goroutine.
func (jc *jsClient) do(p *prepared) *client.Result {
	if p.err != nil {
		return &client.Result{Start: time.Now(), Proto: "HTTP/3.0", ErrorCode: httpkit.CodeInvalidURL, Error: p.err.Error()}
	}
	res, _ := jc.c.Do(jc.vu.Context(), &p.req)
	return res
}

// report emits the request's samples and builds its JS response object;
// only on the VU goroutine.
func (jc *jsClient) report(p *prepared, res *client.Result) goja.Value {
	p.res, p.rt = res, jc.vu.Runtime()
	hr := &p.hr
	*hr = httpkit.Result{
		Start: res.Start, End: res.End, Method: p.req.Method, URL: p.req.URL, Status: res.Status,
		StatusText: res.StatusText, Proto: "HTTP/3.0", Headers: res.Header, Body: res.Body,
		BodyType: p.bodyTyp, TLSVersion: res.TLSVersion, Error: res.Error, ErrorCode: res.ErrorCode,
		Timings: httpkit.Timings{Blocked: res.Timings.Blocked, Connecting: res.Timings.Connecting,
			TLSHandshaking: res.Timings.TLSHandshaking, Sending: res.Timings.Sending,
			Waiting: res.Timings.Waiting, Receiving: res.Timings.Receiving},
		Request: httpkit.RequestInfo{Method: p.req.Method, URL: p.req.URL, Headers: p.reqHdr, Body: p.reqBody},
	}
	if hr.Headers == nil {
		hr.Headers = http.Header{}
	}
	hr.RemoteIP, hr.RemotePort = jc.remote(res.RemoteAddr)
	if res.Status != 0 {
		hr.Pod = httpkit.PodFrom(jc.cfg.podFrom, res.Header, res.Body)
	}
	hr.Expected = res.ErrorCode == 0 && res.Status >= 200 && res.Status < 400
	if p.bodyTyp == "none" {
		hr.Body = nil
	}
	// Merge only when there is something to merge: the VU's own tag set
	// then stays the same set from request to request, which lets the
	// reporter hand out one shared tag set instead of building ~15-entry
	// sets per request (a visible share of the engine's cost per request).
	base := jc.vu.Tags()
	if len(jc.cfg.tags) > 0 {
		base = base.Merge(jc.cfg.tags)
	}
	if len(p.tags) > 0 {
		base = base.Merge(p.tags)
	}
	// The request's bytes carry its tags, as in k6/http (httpkit's rule).
	tags := jc.in.rep.Tags(base, hr, ext.Tag{Key: "mode", Value: jc.mode})
	jc.in.rep.Request(tags, hr, res.BytesSent, res.BytesRecv)
	if res.NewConn && res.Conn.Handshake > 0 {
		ct := base.WithTags(ext.Tag{Key: "mode", Value: jc.mode},
			ext.Tag{Key: "resumed", Value: strconv.FormatBool(res.Conn.Resumed)}, ext.Tag{Key: "zero_rtt", Value: strconv.FormatBool(res.Conn.Used0RTT)})
		now := res.End
		if now.IsZero() {
			now = time.Now()
		}
		jc.vu.Push(
			ext.Sample{Metric: jc.in.opened, Time: now, Tags: ct, Value: 1},
			ext.Sample{Metric: jc.in.handshake, Time: now, Tags: ct,
				Value: float64(res.Conn.Handshake) / float64(time.Millisecond)},
		)
	}
	return httpkit.NewResponseObjectExtras(p.rt, hr, p)
}
