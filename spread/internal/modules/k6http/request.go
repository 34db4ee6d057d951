package k6http

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
)

// request is one parsed http.* call (or batch entry), ready to run off the
// VU's goroutine: nothing in it touches the JS runtime.
type request struct {
	method       string
	url          *url.URL
	rawURL       string
	name         string // `name` tag from http.url`...`; "" = the URL
	body         []byte
	hasBody      bool
	header       http.Header
	tags         map[string]string // params.tags
	timeout      time.Duration
	redirects    int
	responseType string // text, binary or none
	callback     *expectedStatuses
	noCallback   bool // setResponseCallback(null): no http_req_failed
	podFrom      []httpkit.PodSource
	jar          *cookieJar    // nil: no cookies at all (params.jar null)
	cookies      []paramCookie // params.cookies
	auth         string        // params.auth: "", basic, digest or ntlm
	user         *url.Userinfo // digest/NTLM credentials (taken off the URL)
	compression  []string      // params.compression, in order
}

// ownHeader gives rq a header map of its own to write to.
func (rq *request) ownHeader() {
	if rq.header == nil {
		rq.header = make(http.Header, 4)
	}
}

// podSniffLimit bounds how much of a discarded body is kept to find the pod.
const podSniffLimit = 64 << 10

// do runs rq, following redirects, reports every hop's samples and returns
// the final hop. base holds the VU's tags merged with params.tags.
func (c *client) do(vu ext.VU, base ext.TagSet, rq *request) *httpkit.Result {
	// One clock read gives the deadline and the first hop's start: clock
	// reads cost ~100 ns each on the VMs we measure on (issue 17).
	start := time.Now()
	var deadline time.Time
	if rq.timeout > 0 {
		deadline = start.Add(rq.timeout) // the whole redirect chain, as in k6
	}
	method, u, body, hasBody := rq.method, rq.url, rq.body, rq.hasBody
	var auth authState
	for hop, first := 0, true; ; hop++ {
		hrq := rq.forHop(u, &auth)
		if !first {
			start = time.Now() // a redirect or an auth challenge's answer
		}
		first = false
		res, conn, location := c.roundTrip(vu.Context(), start, deadline, hrq, method, u, body, hasBody)
		if res.Status != 0 {
			rq.jar.store(u, res) // before following: redirects set cookies too
		}
		if res.Status == http.StatusUnauthorized && auth.challenge(rq, res) {
			// A digest or NTLM challenge: k6 counts it as expected and
			// answers it on the same URL without using up a redirect.
			res.Expected = true
			c.report(vu, base, hrq, res, conn)
			hop--
			continue
		}
		c.report(vu, base, hrq, res, conn)
		if res.Error != "" || location == "" || hop >= rq.redirects {
			return res
		}
		next, err := u.Parse(location)
		if err != nil {
			return res
		}
		switch res.Status {
		case http.StatusMovedPermanently, http.StatusFound:
			if method != http.MethodGet && method != http.MethodHead {
				method, body, hasBody = http.MethodGet, nil, false
			}
		case http.StatusSeeOther:
			if method != http.MethodHead {
				method = http.MethodGet
			}
			body, hasBody = nil, false
		}
		u = next
		auth = authState{} // a new URL challenges anew
	}
}

// forHop returns the request as sent to u: rq itself unless cookies or an
// auth answer change its header, so requests without them cost nothing.
func (rq *request) forHop(u *url.URL, auth *authState) *request {
	cookie := ""
	if rq.jar != nil || len(rq.cookies) > 0 {
		cookie = cookieHeader(rq.jar, rq.cookies, u, rq.header)
	}
	authz := auth.header
	if cookie == "" && authz == "" {
		return rq
	}
	h := rq.header.Clone()
	if cookie != "" {
		h["Cookie"] = []string{cookie}
	}
	if authz != "" {
		h["Authorization"] = []string{authz}
	}
	hop := *rq
	hop.header = h
	return &hop
}

// report pushes one hop's samples, unless the VU is being stopped (the
// request was cut by the end of the test, not by the system under test).
// The tag set comes from the client's Reporter (repeated requests share one
// immutable set) and all samples go out in one Push; the bytes counted on
// the hop's connection carry the request's tags (httpkit's rule).
func (c *client) report(vu ext.VU, base ext.TagSet, rq *request, res *httpkit.Result, conn *countingConn) {
	if vu.Context().Err() != nil {
		return
	}
	sent, recv := c.claimBytes(conn)
	res.NoCallback = rq.noCallback // k6: no http_req_failed nor expected_response then
	c.rep.Request(c.rep.Tags(base, res, ext.Tag{}), res, sent, recv)
}

// claimBytes takes the bytes counted on the hop's connection since the last
// claim, plus those of connections that closed unclaimed.
func (c *client) claimBytes(conn *countingConn) (int64, int64) {
	sent, recv := c.claimPending()
	if conn != nil {
		s, r := conn.claim()
		sent += s
		recv += r
	}
	return sent, recv
}

// roundTrip sends one request (no redirect handling) and reads its body.
// It returns the result, the connection used (nil if none) and, for a
// redirect status, the Location to follow.
// start is when the hop began (its blocked phase starts there).
func (c *client) roundTrip(vuCtx context.Context, start, deadline time.Time, rq *request, method string, u *url.URL, body []byte, hasBody bool) (*httpkit.Result, *countingConn, string) {
	res := &httpkit.Result{
		Method:   method,
		URL:      rq.rawURL,
		Name:     rq.name,
		BodyType: rq.responseType,
		Request:  httpkit.RequestInfo{Method: method, Headers: rq.header, Body: string(body)},
	}
	if u != rq.url {
		res.URL = u.String() // a redirect hop
	}
	res.Request.URL = res.URL
	if res.Name == "" {
		res.Name = res.URL
	}
	res.Start = start
	if u.Scheme == "http" || (u.Scheme == "https" && h1OverTLS) {
		conn, location := c.h1RoundTrip(deadline, rq, res, method, u, body)
		return res, conn, location
	}
	if u.Scheme == "https" && h2SyncOn {
		conn, location := c.h2RoundTrip(deadline, rq, res, method, u, body)
		return res, conn, location
	}
	ctx := c.withTLSHost(vuCtx, u.Hostname())
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errRequestTimeout)
		defer cancel()
	}
	// A tracer per request: a dial the request started may outlive it
	// and fire hooks later, so tracers are never reused.
	tr := newTracer()
	hr, err := newHTTPRequest(httptrace.WithClientTrace(ctx, &tr.trace), method, u, rq.header, body, hasBody)
	if err != nil {
		res.Error, res.ErrorCode = classify(err)
		return res, nil, ""
	}
	resp, err := c.transport.RoundTrip(hr)
	if err != nil {
		end := time.Now()
		var conn net.Conn
		res.Timings, conn = tr.timings(res.Start, end)
		c.fail(ctx, res, err)
		return res, asCounting(conn), ""
	}
	data, readErr := readBody(resp, resp.Header, rq)
	end := time.Now()
	_ = resp.Body.Close()
	var conn net.Conn
	res.Timings, conn = tr.timings(res.Start, end)
	if conn != nil {
		if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
			res.RemoteIP, res.RemotePort = a.IP.String(), a.Port
		}
	}
	res.Proto = resp.Proto
	res.Headers = resp.Header
	c.sawHost(u.Host)
	if resp.TLS != nil {
		res.TLSVersion, res.TLSState = tlsVersionName(resp.TLS.Version), resp.TLS
	}
	if readErr != nil {
		c.fail(ctx, res, readErr)
		return res, asCounting(conn), ""
	}
	return res, asCounting(conn), c.finish(res, rq, resp, resp.Header, data)
}

// finish fills in a complete response: status, pod, body, k6's error code
// for HTTP errors and the callback's verdict. It returns the Location of a
// redirect, or "".
// hdr is resp's header (resp.Header, or the h1 client's unparsed head).
func (c *client) finish(res *httpkit.Result, rq *request, resp *http.Response, hdr httpkit.HeaderGetter, data []byte) string {
	res.Status = resp.StatusCode
	res.StatusText = resp.Status
	res.Pod = httpkit.PodFrom(rq.podFrom, hdr, data)
	if rq.responseType != "none" {
		res.Body = data
	}
	if res.Status >= 400 && res.Status < 600 {
		res.ErrorCode = httpkit.CodeHTTPStatus(res.Status) // k6: 1400-1599 mirror HTTP errors
	}
	res.Expected = rq.callback.expected(res.Status)
	if rq.noCallback {
		res.Expected = true
	}
	if res.Status >= 300 && res.Status < 400 && res.Status != http.StatusNotModified {
		return hdr.Get("Location")
	}
	return ""
}

// fail records a transport error on res; a deadline of the request's own
// timeout is reported as k6's request timeout whatever layer noticed it.
func (c *client) fail(ctx context.Context, res *httpkit.Result, err error) {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), errRequestTimeout) {
		err = errRequestTimeout
	}
	res.Status, res.StatusText = 0, ""
	res.Error, res.ErrorCode = classify(err)
	res.Expected = false
}

// newHTTPRequest builds the request without reparsing the URL.
func newHTTPRequest(ctx context.Context, method string, u *url.URL, header http.Header, body []byte, hasBody bool) (*http.Request, error) {
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &url.Error{Op: "parse", URL: u.String(), Err: fmt.Errorf("unsupported scheme %q", u.Scheme)}
	}
	if u.Host == "" {
		return nil, &url.Error{Op: "parse", URL: u.String(), Err: errors.New("missing host")}
	}
	hr, err := http.NewRequestWithContext(ctx, method, "/", nil)
	if err != nil {
		return nil, err
	}
	hr.URL = u
	hr.Host = u.Host
	if h := header.Get("Host"); h != "" {
		hr.Host = h
	}
	hr.Header = header
	if hasBody {
		hr.ContentLength = int64(len(body))
		hr.Body = io.NopCloser(bytes.NewReader(body))
		hr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		if len(body) == 0 {
			hr.Body = http.NoBody
			hr.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		}
	}
	if u.User != nil && header.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		hr.Header = header.Clone() // the header may be shared
		hr.SetBasicAuth(u.User.Username(), pw)
	}
	if hasToken(header.Values("Connection"), "close") {
		hr.Close = true
	}
	return hr, nil
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// readBody reads (or, for responseType none, drains) the response body,
// decompressing gzip and deflate as k6 does. For none, a prefix is kept
// when the pod must be read from the JSON body.
// hdr is resp's header (see finish).
func readBody(resp *http.Response, hdr httpkit.HeaderGetter, rq *request) ([]byte, error) {
	if resp.Body == http.NoBody || resp.Request != nil && resp.Request.Method == http.MethodHead {
		return nil, nil // HEAD, 204, 304: Content-Length describes no body here
	}
	if rq.responseType == "none" {
		if needsBody(rq.podFrom) && hdr.Get("Content-Encoding") == "" {
			prefix, err := io.ReadAll(io.LimitReader(resp.Body, podSniffLimit))
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			return prefix, err
		}
		_, err := io.Copy(io.Discard, resp.Body)
		return nil, err
	}
	var data []byte
	var err error
	if cl := resp.ContentLength; cl > 0 && cl < 64<<20 {
		data = make([]byte, cl)
		var n int
		n, err = io.ReadFull(resp.Body, data)
		data = data[:n]
		if err == nil {
			// Let the transport see EOF so the connection is reusable.
			var one [1]byte
			if m, e := resp.Body.Read(one[:]); m > 0 {
				rest, e2 := io.ReadAll(resp.Body)
				data = append(append(data, one[:m]...), rest...)
				err = e2
			} else if e != nil && e != io.EOF {
				err = e
			}
		}
	} else {
		data, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return nil, err
	}
	return decompress(hdr.Get("Content-Encoding"), data)
}

func needsBody(src []httpkit.PodSource) bool {
	for _, s := range src {
		if s.JSON != "" {
			return true
		}
	}
	return false
}
