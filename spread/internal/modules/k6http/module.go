// Package k6http is spread's `k6/http` module: k6's HTTP API (get, post,
// request, batch, expectedStatuses, ...) over HTTP/1.1 and HTTP/2, one
// transport per VU, reporting k6's http_* metrics with a `pod` tag.
//
// It is built on spread's extension API only (spread/ext), like any xk6
// extension. Connection behaviour follows k6's: connections are kept alive
// across a VU's iterations, noConnectionReuse disables keep-alive,
// noVUConnectionReuse closes a VU's connections after each iteration, and a
// request header `Connection: close` closes its connection after the
// response. Cleartext HTTP/1.1 runs on a small synchronous client (h1.go);
// HTTPS, with HTTP/2 by ALPN, on net/http's Transport. Options beyond k6's:
// podFrom (where the serving pod's name is read) and tlsCACerts /
// $SPREAD_CA_CERT (extra trusted CAs, PEM). See README.md.
package k6http

import (
	"context"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
)

func init() { ext.Register("k6/http", &module{}) }

type module struct{}

// CheckOptions rejects bad k6/http options (tlsCACerts, tlsVersion, batch,
// podFrom...) before the test starts rather than at every request.
func (*module) CheckOptions(o ext.Options) error {
	_, err := loadConfig(o, os.Getenv)
	return err
}

// NewModuleInstance returns the VU's copy of k6/http. Its client is built
// at the first request, once the run's options are final.
func (*module) NewModuleInstance(vu ext.VU) ext.Instance {
	in := &instance{vu: vu, getenv: os.Getenv}
	vu.OnIterationEnd(in.iterationEnd)
	return in
}

type instance struct {
	vu     ext.VU
	getenv func(string) string

	once   sync.Once
	cfg    *config
	cli    *client
	cfgErr error

	callback     *expectedStatuses // nil: k6's default (200-399)
	callbackNull bool

	// baseHeader is the header of a request without params.headers (the
	// User-Agent), shared read-only by those requests.
	baseHeader http.Header

	urls map[string]*url.URL // see parseURL; VU goroutine only

	// running: the VU has left the init context (it never goes back), so
	// ready need not ask the VU for its state, which copies it, on every
	// request.
	running bool

	jar *cookieJar // the VU's jar of this iteration; see vuJar
}

// exportNames are k6/http's exports, in Object.keys order; Exports hands
// them to the engine with instance.export, so a VU builds only the few
// its script reads (memory per VU, with 10,000 VUs).
var exportNames = func() []string {
	names := []string{"get", "head", "post", "put", "patch", "del", "options", "request",
		"batch", "asyncRequest", "file", "cookieJar", "CookieJar", "expectedStatuses",
		"setResponseCallback", "url"}
	for k := range constants {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}()

// constants are k6/http's constant exports.
var constants = map[string]string{
	"TLS_1_0": "tls1.0",
	"TLS_1_1": "tls1.1",
	"TLS_1_2": "tls1.2",
	"TLS_1_3": "tls1.3",
	// res.ocsp's values (k6's constants)
	"OCSP_STATUS_GOOD":                   "good",
	"OCSP_STATUS_REVOKED":                "revoked",
	"OCSP_STATUS_UNKNOWN":                "unknown",
	"OCSP_REASON_UNSPECIFIED":            "unspecified",
	"OCSP_REASON_KEY_COMPROMISE":         "key_compromise",
	"OCSP_REASON_CA_COMPROMISE":          "ca_compromise",
	"OCSP_REASON_AFFILIATION_CHANGED":    "affiliation_changed",
	"OCSP_REASON_SUPERSEDED":             "superseded",
	"OCSP_REASON_CESSATION_OF_OPERATION": "cessation_of_operation",
	"OCSP_REASON_CERTIFICATE_HOLD":       "certificate_hold",
	"OCSP_REASON_REMOVE_FROM_CRL":        "remove_from_crl",
	"OCSP_REASON_PRIVILEGE_WITHDRAWN":    "privilege_withdrawn",
	"OCSP_REASON_AA_COMPROMISE":          "aa_compromise",
}

// Exports lists k6/http's functions and constants.
func (in *instance) Exports() ext.Exports {
	return ext.Exports{Names: exportNames, Export: in.export}
}

// export is the value of k6/http's export name (one of exportNames).
func (in *instance) export(name string) any {
	verb := func(method string, withBody bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			body, params := goja.Undefined(), call.Argument(1)
			if withBody {
				body, params = call.Argument(1), call.Argument(2)
			}
			return in.single(method, call.Argument(0), body, params)
		}
	}
	switch name {
	case "get":
		return verb("GET", false)
	case "head":
		return verb("HEAD", false)
	case "post":
		return verb("POST", true)
	case "put":
		return verb("PUT", true)
	case "patch":
		return verb("PATCH", true)
	case "del":
		return verb("DELETE", true)
	case "options":
		return verb("OPTIONS", true)
	case "request":
		return func(call goja.FunctionCall) goja.Value {
			m := call.Argument(0)
			if goja.IsUndefined(m) || goja.IsNull(m) {
				in.throw(fmt.Errorf("http.request: the method is required"))
			}
			return in.single(strings.ToUpper(m.String()), call.Argument(1), call.Argument(2), call.Argument(3))
		}
	case "batch":
		return in.batch
	case "asyncRequest":
		return in.asyncRequest
	case "file":
		return in.file
	case "cookieJar":
		return in.cookieJarFn
	case "CookieJar":
		return in.cookieJarCtor
	case "expectedStatuses":
		return in.expectedStatuses
	case "setResponseCallback":
		return in.setResponseCallback
	case "url":
		return in.urlTemplate
	}
	return constants[name]
}

// throw raises err as a JS exception in the VU.
func (in *instance) throw(err error) {
	panic(in.vu.Runtime().NewGoError(err))
}

// ready returns the VU's client, building it on first use; requests in the
// init context are refused, as in k6. fn names the call in the error (its
// case is folded only then: this runs on every request).
func (in *instance) ready(fn string) *client {
	if !in.running {
		if in.vu.State() == nil {
			panic(in.vu.Runtime().NewTypeError(fmt.Sprintf("http.%s: making HTTP requests in the init context is not supported", strings.ToLower(fn))))
		}
		in.running = true
	}
	in.once.Do(func() {
		in.cfg, in.cfgErr = loadConfig(in.vu.Options(), in.getenv)
		if in.cfgErr == nil {
			ua := defaultUserAgent
			if in.cfg.UserAgent != nil {
				ua = *in.cfg.UserAgent // "" sends no User-Agent, as in k6
			}
			in.baseHeader = http.Header{"User-Agent": {ua}}
			in.cli = newClient(in.vu, in.cfg, in.vu.State().VUID)
			context.AfterFunc(in.vu.Context(), in.cli.close)
		}
	})
	if in.cfgErr != nil {
		in.throw(fmt.Errorf("k6/http: %w", in.cfgErr))
	}
	return in.cli
}

// iterationEnd reports bytes of connections that closed unclaimed and, with
// noVUConnectionReuse, closes the VU's connections so the next iteration
// dials anew.
func (in *instance) iterationEnd() {
	if in.jar != nil && in.jar.used.Load() {
		in.jar = nil // k6 starts every iteration with an empty jar
	}
	if in.cli == nil {
		return
	}
	if in.cfg.NoVUConnectionReuse {
		in.cli.closeIdle()
	}
	if sent, recv := in.cli.claimPending(); sent > 0 || recv > 0 {
		in.cli.rep.Data(in.vu.Tags(), sent, recv) // no request claims them: the VU's tags
	}
}

// single runs one http.get/post/.../request call.
func (in *instance) single(method string, urlArg, body, params goja.Value) goja.Value {
	cli := in.ready(method)
	rq, err := in.parseRequest(method, urlArg, body, params)
	if err != nil {
		in.throw(err)
	}
	res := in.run(cli, rq)
	return in.response(res)
}

// run executes a parsed request, or reports its invalid URL without
// sending anything (as k6, no samples for a request never made).
func (in *instance) run(cli *client, rq *parsed) *httpkit.Result {
	if rq.invalid != nil {
		return rq.invalid
	}
	return cli.do(in.vu, rq.base, rq.request)
}

// response turns a result into the JS response object, throwing instead
// when the throw option is on and the request failed.
func (in *instance) response(res *httpkit.Result) goja.Value {
	if err := in.thrown(res); err != nil {
		in.throw(err)
	}
	return httpkit.NewResponseObjectExtras(in.vu.Runtime(), res, in)
}

func (in *instance) expectedStatuses(call goja.FunctionCall) goja.Value {
	e, err := parseExpectedStatuses(in.vu.Runtime(), call.Arguments)
	if err != nil {
		in.throw(err)
	}
	return in.vu.Runtime().ToValue(e)
}

func (in *instance) setResponseCallback(call goja.FunctionCall) goja.Value {
	cb, none, err := callbackFrom(call.Argument(0))
	if err != nil {
		in.throw(fmt.Errorf("http.setResponseCallback: %w", err))
	}
	in.callback, in.callbackNull = cb, none
	return goja.Undefined()
}

// urlTemplate is http.url`...${x}...`: the URL, plus a `name` tag with the
// interpolations replaced by ${} so dynamic URLs group under one name.
func (in *instance) urlTemplate(call goja.FunctionCall) goja.Value {
	rt := in.vu.Runtime()
	strs, ok := call.Argument(0).(*goja.Object)
	if !ok {
		in.throw(fmt.Errorf("http.url: use it as a template tag: http.url`https://host/${id}`"))
	}
	n := int(strs.Get("length").ToInteger())
	var u, name strings.Builder
	for i := 0; i < n; i++ {
		part := strs.Get(fmt.Sprint(i)).String()
		u.WriteString(part)
		name.WriteString(part)
		if i+1 < n {
			u.WriteString(call.Argument(i + 1).String())
			name.WriteString("${}")
		}
	}
	o := rt.NewObject()
	_ = o.Set("url", u.String())
	_ = o.Set("name", name.String())
	s := u.String()
	_ = o.Set("toString", func() string { return s })
	return o
}

// batch runs several requests concurrently within the VU, bounded by the
// batch and batchPerHost options, and returns their responses in the
// same shape (array or object) as its argument.
func (in *instance) batch(call goja.FunctionCall) goja.Value {
	cli := in.ready("batch")
	rt := in.vu.Runtime()
	arg, ok := call.Argument(0).(*goja.Object)
	if !ok {
		in.throw(fmt.Errorf("http.batch: want an array or an object of requests"))
	}
	var keys []string
	isArray := arg.ClassName() == "Array"
	if isArray {
		n := int(arg.Get("length").ToInteger())
		for i := 0; i < n; i++ {
			keys = append(keys, fmt.Sprint(i))
		}
	} else {
		keys = arg.Keys()
	}
	reqs := make([]*parsed, len(keys))
	for i, k := range keys {
		rq, err := in.parseBatchEntry(arg.Get(k))
		if err != nil {
			in.throw(fmt.Errorf("http.batch: request %s: %w", k, err))
		}
		reqs[i] = rq
	}
	results := in.runBatch(cli, reqs)
	var out *goja.Object
	if isArray {
		vals := make([]any, len(results))
		for i, r := range results {
			vals[i] = in.response(r)
		}
		out = rt.NewArray(vals...)
	} else {
		out = rt.NewObject()
		for i, k := range keys {
			_ = out.Set(k, in.response(results[i]))
		}
	}
	return out
}

// runBatch runs reqs on goroutines owned by this call (it waits for all).
// A request waits for its host's slot before taking a global one, so a
// busy host cannot hold global slots it cannot use. For an HTTPS host the
// VU has not talked to yet, the first request goes alone: once ALPN has
// chosen HTTP/2, the others multiplex on that one connection instead of
// each dialing one that would be thrown away.
func (in *instance) runBatch(cli *client, reqs []*parsed) []*httpkit.Result {
	results := make([]*httpkit.Result, len(reqs))
	limit := in.cfg.Batch
	if limit <= 0 || limit > len(reqs) {
		limit = len(reqs)
	}
	global := make(chan struct{}, max(limit, 1))
	type hostSlot struct {
		sem   chan struct{}
		probe int           // index of the request that goes first, or -1
		done  chan struct{} // closed when the probe is done
	}
	hosts := map[string]*hostSlot{}
	for i, rq := range reqs {
		if rq.invalid != nil {
			continue
		}
		h := rq.url.Host
		if _, ok := hosts[h]; ok {
			continue
		}
		per := in.cfg.BatchPerHost
		if per <= 0 || per > len(reqs) {
			per = len(reqs)
		}
		slot := &hostSlot{sem: make(chan struct{}, per), probe: -1}
		if rq.url.Scheme == "https" && !cli.knowsHost(h) {
			slot.probe, slot.done = i, make(chan struct{})
		}
		hosts[h] = slot
	}
	var wg sync.WaitGroup
	for i, rq := range reqs {
		if rq.invalid != nil {
			results[i] = rq.invalid
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			slot := hosts[rq.url.Host]
			if slot.done != nil && slot.probe != i {
				<-slot.done
			}
			slot.sem <- struct{}{}
			global <- struct{}{}
			results[i] = cli.do(in.vu, rq.base, rq.request)
			<-global
			<-slot.sem
			if slot.probe == i {
				close(slot.done)
			}
		}()
	}
	wg.Wait()
	return results
}

// parseBatchEntry reads one batch entry: a URL string, an array
// [method, url, body, params] or an object {method, url, body, params}.
func (in *instance) parseBatchEntry(v goja.Value) (*parsed, error) {
	o, ok := v.(*goja.Object)
	if !ok || isURLObject(o) {
		return in.parseRequest("GET", v, goja.Undefined(), goja.Undefined())
	}
	get := func(k string) goja.Value {
		x := o.Get(k)
		if x == nil {
			return goja.Undefined()
		}
		return x
	}
	method, u, body, params := get("method"), get("url"), get("body"), get("params")
	if o.ClassName() == "Array" {
		method, u, body, params = get("0"), get("1"), get("2"), get("3")
	}
	m := "GET"
	if !goja.IsUndefined(method) && !goja.IsNull(method) {
		m = strings.ToUpper(method.String())
	}
	return in.parseRequest(m, u, body, params)
}

func isURLObject(o *goja.Object) bool {
	return o.ClassName() == "Object" && o.Get("url") != nil && o.Get("name") != nil && o.Get("method") == nil
}

// parsed is a request plus the tags it reports with, or the result of a
// request that could not be made (invalid URL).
type parsed struct {
	*request
	base    ext.TagSet
	invalid *httpkit.Result
}

// parsedAndRequest holds a parsed and its request in one allocation (the
// request path is allocation-bound; issue 17).
type parsedAndRequest struct {
	p  parsed
	rq request
}

// parseRequest turns JS arguments into a request. It runs on the VU's
// goroutine; the request it returns does not touch the runtime.
func (in *instance) parseRequest(method string, urlArg, body, params goja.Value) (*parsed, error) {
	both := &parsedAndRequest{rq: request{
		method:    method,
		timeout:   defaultTimeout,
		redirects: in.cfg.MaxRedirects,
		callback:  in.callback,
		podFrom:   in.cfg.PodFrom,
	}}
	rq := &both.rq
	rq.noCallback = in.callbackNull
	rq.jar = in.vuJar()
	rq.responseType = "text"
	if in.cfg.DiscardResponseBodies {
		rq.responseType = "none"
	}
	if urlArg == nil || goja.IsUndefined(urlArg) || goja.IsNull(urlArg) {
		return nil, fmt.Errorf("http.%s: the URL is required", strings.ToLower(method))
	}
	if o, ok := urlArg.(*goja.Object); ok && isURLObject(o) {
		rq.rawURL = o.Get("url").String()
		rq.name = o.Get("name").String()
	} else {
		rq.rawURL = urlArg.String()
	}
	if err := in.parseParams(rq, params); err != nil {
		return nil, err
	}
	if err := in.parseBody(rq, body); err != nil {
		return nil, err
	}
	if len(rq.compression) > 0 && rq.hasBody {
		if err := rq.compressBody(); err != nil {
			return nil, err
		}
	}
	if rq.header == nil {
		rq.header = in.baseHeader // shared: nothing writes to a request's header
	} else if _, set := rq.header["User-Agent"]; !set {
		rq.header["User-Agent"] = in.baseHeader["User-Agent"]
	}
	p := &both.p
	p.request, p.base = rq, in.vu.Tags()
	if len(rq.tags) > 0 {
		p.base = p.base.Merge(rq.tags)
	}
	u, err := in.parseURL(rq.rawURL)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = fmt.Errorf("unsupported URL %q: want http:// or https:// with a host", rq.rawURL)
	}
	if err != nil {
		msg := err.Error()
		if ue, ok := err.(*url.Error); ok {
			msg = ue.Err.Error()
		}
		p.invalid = &httpkit.Result{Method: method, URL: rq.rawURL, Name: rq.rawURL,
			Error: "invalid URL: " + msg, ErrorCode: httpkit.CodeInvalidURL, BodyType: rq.responseType,
			Request: httpkit.RequestInfo{Method: method, URL: rq.rawURL, Headers: rq.header}}
		return p, nil
	}
	if u.User != nil && (rq.auth == "digest" || rq.auth == "ntlm") {
		// Credentials answer the server's challenge; they must not go
		// out as Basic with the first request.
		rq.user = u.User
		bare := *u
		bare.User = nil
		u = &bare
	}
	rq.url = u
	return p, nil
}

// urlCacheSize bounds the per-VU cache of parsed URLs: scripts usually hit
// a handful of URLs, and a script building unique URLs just misses.
const urlCacheSize = 256

// parseURL parses raw, reusing the result for a URL seen before (requests
// never modify a parsed URL).
func (in *instance) parseURL(raw string) (*url.URL, error) {
	if u, ok := in.urls[raw]; ok {
		return u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if in.urls == nil || len(in.urls) >= urlCacheSize {
		in.urls = make(map[string]*url.URL) // small: most scripts hit a few URLs, and every VU has one
	}
	in.urls[raw] = u
	return u, nil
}

// parseParams reads the params object: headers, tags, timeout, redirects,
// responseType, responseCallback and podFrom (spread's).
func (in *instance) parseParams(rq *request, params goja.Value) error {
	o, ok := params.(*goja.Object)
	if !ok {
		if params == nil || goja.IsUndefined(params) || goja.IsNull(params) {
			return nil
		}
		return fmt.Errorf("params: want an object, got %s", params)
	}
	for _, k := range o.Keys() {
		v := o.Get(k)
		if v == nil || goja.IsUndefined(v) {
			continue
		}
		switch k {
		case "headers":
			if h, ok := v.(*goja.Object); ok {
				rq.ownHeader()
				for _, hk := range h.Keys() {
					rq.header[textproto.CanonicalMIMEHeaderKey(hk)] = []string{h.Get(hk).String()}
				}
			}
		case "tags":
			if t, ok := v.(*goja.Object); ok {
				rq.tags = make(map[string]string, len(t.Keys()))
				for _, tk := range t.Keys() {
					rq.tags[tk] = t.Get(tk).String()
				}
			}
		case "timeout":
			d, err := parseTimeout(v)
			if err != nil {
				return err
			}
			rq.timeout = d
		case "redirects":
			if goja.IsNull(v) {
				continue
			}
			n := v.ToInteger()
			if n < 0 {
				return fmt.Errorf("params.redirects: must be >= 0, got %d", n)
			}
			rq.redirects = int(n)
		case "responseType":
			switch rt := v.String(); rt {
			case "text", "binary", "none":
				rq.responseType = rt
			default:
				return fmt.Errorf("params.responseType: want text, binary or none, got %q", rt)
			}
		case "responseCallback":
			cb, none, err := callbackFrom(v)
			if err != nil {
				return err
			}
			rq.callback, rq.noCallback = cb, none
		case "podFrom":
			src, err := httpkit.ParsePodFrom(v.String())
			if err != nil {
				return fmt.Errorf("params.podFrom: %w", err)
			}
			rq.podFrom = src
		case "cookies":
			cs, err := parseParamCookies(v)
			if err != nil {
				return err
			}
			rq.cookies = cs
		case "jar":
			if goja.IsNull(v) {
				rq.jar = nil // no cookies for this request
				continue
			}
			j, ok := jarOf(v)
			if !ok {
				return fmt.Errorf("params.jar: want a CookieJar (http.cookieJar() or new http.CookieJar())")
			}
			rq.jar = j
		case "auth":
			switch a := strings.ToLower(v.String()); a {
			case "basic", "digest", "ntlm":
				rq.auth = a
			default:
				return fmt.Errorf("params.auth: want basic, digest or ntlm, got %q", v.String())
			}
		case "compression":
			enc, err := parseCompression(v.String())
			if err != nil {
				return err
			}
			rq.compression = enc
		}
	}
	return nil
}

// parseBody reads a request body: a string, an ArrayBuffer or typed array,
// or an object: application/x-www-form-urlencoded (array values as
// repeated keys, as k6), or multipart/form-data when a value is an
// http.file().
func (in *instance) parseBody(rq *request, body goja.Value) error {
	if body == nil || goja.IsUndefined(body) || goja.IsNull(body) {
		return nil
	}
	rq.hasBody = true
	switch v := body.Export().(type) {
	case string:
		rq.body = []byte(v)
	case goja.ArrayBuffer:
		rq.body = append([]byte(nil), v.Bytes()...)
	case []byte:
		rq.body = append([]byte(nil), v...)
	case *fileData:
		rq.body = append([]byte(nil), v.data...)
	case map[string]any:
		return in.objectBody(rq, body.(*goja.Object), v)
	default:
		rq.body = []byte(body.String())
	}
	return nil
}
