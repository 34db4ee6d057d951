// Package client does HTTP/3 load requests over quic-go with an explicit
// connection policy, which decides the UDP 5-tuples the kernel (and so a
// Kubernetes Service's conntrack) sees. It knows nothing of JS: the
// k6/x/http3 module wraps it.
//
// Each connection is dialled here (never by http3.Transport), so the
// client chooses its UDP socket: a socket of its own per connection
// (a new source port) except in per-request mode with Socket "shared".
package client

import (
	"bytes"
	"context"
	"crypto/fips140"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/spread/ext/httpkit"
)

// Request is one HTTP/3 request.
type Request struct {
	Method      string
	URL         string
	Header      http.Header
	Body        []byte
	Timeout     time.Duration // 0 = the Client's Timeout
	DiscardBody bool          // read the body off the wire but keep none of it
}

// Timings are a request's phases (see the package README for how the QUIC
// handshake maps onto Connecting and TLSHandshaking).
type Timings struct {
	Blocked, Connecting, TLSHandshaking, Sending, Waiting, Receiving time.Duration
}

// Result is a finished or failed request.
type Result struct {
	Start time.Time
	// End is when the response body was read (zero when the request
	// failed before): a caller stamping samples can use it instead of
	// reading the clock again.
	End        time.Time
	Status     int // 0 when no response arrived
	StatusText string
	Proto      string
	Header     http.Header
	Body       []byte
	Timings    Timings
	RemoteAddr string // server ip:port
	TLSVersion string
	Conn       ConnInfo // the connection that carried the (last) attempt
	NewConn    bool     // that connection was dialled for this request
	Retries    int      // attempts repeated after a graceful close / GOAWAY
	BytesSent  int64    // QUIC bytes on the wire attributed to this request
	BytesRecv  int64
	ErrorCode  int
	Error      string
}

// Stats are a Client's running totals.
type Stats struct {
	ConnectionsOpened int64
	Requests          int64
	Failed            int64
	Retries           int64
}

// Client executes requests under one connection policy; safe for
// concurrent use (concurrent requests become concurrent streams).
type Client struct {
	opts Options
	tls  *tls.Config
	quic *quic.Config
	h3   *http3.Transport // only a factory of ClientConns; it never dials
	// verifier checks server chains instead of crypto/tls (nil: with
	// InsecureSkipTLSVerify, or in FIPS 140 mode, where crypto/tls also
	// filters the chains it accepts)
	verifier *chainVerifier

	connSeq atomic.Uint64
	rr      atomic.Uint64
	slots   []*slot // single-connection: 1; multiplexed: Connections

	// the Stats, atomics so requests of a shared pool do not serialise
	opened, requests, failed, retries atomic.Int64

	// lastURL is the most recent request URL, parsed: a VU usually
	// requests the same few URLs, and parsing is a visible part of the
	// client's own cost per request.
	lastURL atomic.Pointer[parsedURL]

	mu        sync.Mutex
	closed    bool
	shared    *quic.Transport // per-request shared socket, opened lazily
	live      map[*conn]struct{}
	closedCh  <-chan struct{}
	closedCtx context.Context // done once Close was called
	markClose context.CancelFunc
}

// slot holds the current connection of a long-lived policy; lock is a
// channel so waiting for a dial honours the request's context.
type slot struct {
	lock chan struct{}
	cur  *conn
}

// New validates opts and returns a Client; it opens no socket yet.
func New(opts Options) (*Client, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tlsConf, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	c := &Client{opts: o, tls: tlsConf, quic: o.quicConfig(), h3: &http3.Transport{},
		live: map[*conn]struct{}{}}
	if !tlsConf.InsecureSkipVerify && !fips140.Enabled() {
		c.verifier = newChainVerifier(tlsConf.RootCAs)
	}
	c.closedCtx, c.markClose = context.WithCancel(context.Background())
	c.closedCh = c.closedCtx.Done()
	n := 0
	switch o.Mode {
	case SingleConnection:
		n = 1
	case Multiplexed:
		n = o.Connections
	}
	for range n {
		c.slots = append(c.slots, &slot{lock: make(chan struct{}, 1)})
	}
	return c, nil
}

// Options returns the Client's options with defaults filled in.
func (c *Client) Options() Options { return c.opts }

// Stats returns the Client's running totals.
func (c *Client) Stats() Stats {
	return Stats{ConnectionsOpened: c.opened.Load(), Requests: c.requests.Load(),
		Failed: c.failed.Load(), Retries: c.retries.Load()}
}

// Close closes every connection and socket; later requests fail.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.markClose()
	conns := make([]*conn, 0, len(c.live))
	for cn := range c.live {
		conns = append(conns, cn)
	}
	shared := c.shared
	c.mu.Unlock()
	for _, cn := range conns {
		cn.close()
	}
	if shared != nil {
		_ = shared.Close()
		_ = shared.Conn.Close()
	}
	return nil
}

// Do sends req and reads its response. The Result is never nil; err is a
// *Error (with the Result's ErrorCode) when the request failed.
func (c *Client) Do(ctx context.Context, req *Request) (*Result, error) {
	res := &Result{Start: time.Now(), Proto: "HTTP/3.0"}
	err := c.do(ctx, req, res)
	c.requests.Add(1)
	if res.Retries > 0 {
		c.retries.Add(int64(res.Retries))
	}
	if err != nil {
		c.failed.Add(1)
	}
	if err != nil {
		e := wrapErr(err)
		res.ErrorCode, res.Error = e.Code, e.Msg
		return res, e
	}
	return res, nil
}

// parsedURL is a request URL checked for HTTP/3; u is shared by the
// requests to it and never modified.
type parsedURL struct {
	raw string
	u   *url.URL
}

// parseURL parses raw, reusing the last result for the same string.
func (c *Client) parseURL(raw string) (*url.URL, error) {
	if p := c.lastURL.Load(); p != nil && p.raw == raw {
		return p.u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, invalidURL("invalid URL %q: %v", raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, invalidURL("invalid URL %q: HTTP/3 needs an https://host[:port]/ URL", raw)
	}
	c.lastURL.Store(&parsedURL{raw: raw, u: u})
	return u, nil
}

func (c *Client) do(ctx context.Context, req *Request, res *Result) error {
	u, err := c.parseURL(req.URL)
	if err != nil {
		return err
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodGet
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = c.opts.Timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Close() ends the requests in flight by closing their connections,
	// and those waiting for a connection through c.closedCh (acquire,
	// open): no per-request hook on the Client's context is needed.

	attemptStart := res.Start
	var notSent, maybeSent int // retries of each kind so far (+1 after a failure)
	for {
		cn, dial, err := c.acquire(ctx, u)
		acquired := time.Now()
		if dial != nil {
			res.Timings.Blocked = dial.start.Sub(attemptStart)
			res.Timings.Connecting = dial.took
			res.Timings.TLSHandshaking = dial.took
		} else {
			res.Timings.Blocked = acquired.Sub(attemptStart)
			res.Timings.Connecting, res.Timings.TLSHandshaking = 0, 0
		}
		if err != nil {
			if c.isClosed() {
				return errClientClosed
			}
			return err
		}
		res.NewConn = dial != nil
		err = c.roundTrip(ctx, cn, method, u, req, res, acquired)
		if c.opts.Mode == PerRequest {
			// Its one request is done (the body was read): retire, then
			// release, which closes the connection now. Without the
			// release it stayed open, kept alive by PINGs, until Close.
			cn.retire()
		}
		cn.release()
		if err == nil {
			return nil
		}
		if res.Status != 0 {
			// The response began (its body was cut): the server processed
			// the request, so it is a failure, never sent again.
			return err
		}
		kind := retryable(err, method)
		switch kind {
		case retryNotSent:
			notSent++
		case retryIdempotent:
			maybeSent++
		}
		if c.isClosed() {
			// Close closed the connection under the request
			return errClientClosed
		}
		if kind == noRetry || c.opts.MaxRetries < 0 || maybeSent > c.opts.MaxRetries ||
			notSent > maxNotSentRetries || ctx.Err() != nil {
			return err
		}
		// The connection went away before answering: dial its successor
		// (on a new socket) and send the request again.
		cn.retire()
		res.Retries++
		attemptStart = time.Now()
	}
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closedCh:
		return true
	default:
		return false
	}
}

// dialTiming is when a connection was dialled for a request.
type dialTiming struct {
	start time.Time
	took  time.Duration
}

// acquire returns the connection for the next request under the policy;
// dial is set when a new connection was opened for it.
func (c *Client) acquire(ctx context.Context, u *url.URL) (*conn, *dialTiming, error) {
	if c.opts.Mode == PerRequest {
		cn, dt, err := c.open(ctx, u)
		if err != nil {
			return nil, dt, err
		}
		cn.take()
		return cn, dt, nil
	}
	s := c.slots[0]
	if len(c.slots) > 1 {
		s = c.slots[int(c.rr.Add(1)%uint64(len(c.slots)))]
	}
	select {
	case s.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, context.Cause(ctx)
	case <-c.closedCh:
		return nil, nil, errClientClosed
	}
	defer func() { <-s.lock }()
	if s.cur != nil && s.cur.tryTake(c.opts.MaxRequestsPerConnection, c.opts.MaxConnectionAge) {
		return s.cur, nil, nil
	}
	if s.cur != nil {
		s.cur.retire()
		s.cur = nil
	}
	cn, dt, err := c.open(ctx, u)
	if err != nil {
		return nil, dt, err
	}
	s.cur = cn
	cn.take()
	return cn, dt, nil
}

// open dials a new connection on the socket the policy calls for.
func (c *Client) open(ctx context.Context, u *url.URL) (*conn, *dialTiming, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, errClientClosed
	}
	c.mu.Unlock()
	// Close() must end a lookup or a handshake under way.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.closedCtx, cancel)
	defer stop()
	addr, err := resolve(ctx, u)
	if err != nil {
		return nil, nil, err
	}
	dt := &dialTiming{start: time.Now()}
	var (
		tr    *quic.Transport
		owned bool
	)
	if c.opts.Mode == PerRequest && c.opts.Socket == SharedSocket {
		tr, err = c.sharedTransport()
	} else {
		tr, err = newSocket()
		owned = true
	}
	if err != nil {
		return nil, dt, err
	}
	cn, err := c.dialConn(ctx, tr, addr, u.Hostname())
	dt.took = time.Since(dt.start)
	if err != nil {
		if owned {
			closeTransport(tr)
		}
		return nil, dt, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close()
		if owned {
			closeTransport(tr)
		}
		return nil, dt, errClientClosed
	}
	c.live[cn] = struct{}{}
	c.mu.Unlock()
	c.opened.Add(1)
	// The watcher is the connection's owner: it forgets the connection and
	// frees its socket once quic-go closed it, however that happened.
	go func() {
		<-cn.q.Context().Done()
		c.mu.Lock()
		delete(c.live, cn)
		c.mu.Unlock()
		if owned {
			closeTransport(tr)
		}
	}()
	return cn, dt, nil
}

// newSocket opens a UDP socket of its own: a new source port.
func newSocket() (*quic.Transport, error) {
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, fmt.Errorf("open UDP socket: %w", err)
	}
	return &quic.Transport{Conn: udp}, nil
}

func closeTransport(tr *quic.Transport) {
	_ = tr.Close()
	_ = tr.Conn.Close()
}

func (c *Client) sharedTransport() (*quic.Transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared == nil {
		tr, err := newSocket()
		if err != nil {
			return nil, err
		}
		c.shared = tr
	}
	return c.shared, nil
}

// resolve returns the UDP address of u's host, IPv4 first (servers often
// listen on 0.0.0.0 only, while "localhost" may resolve to ::1 first).
func resolve(ctx context.Context, u *url.URL) (*net.UDPAddr, error) {
	portStr := u.Port()
	if portStr == "" {
		portStr = "443"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, invalidURL("invalid port %q in %s", portStr, u)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		return &net.UDPAddr{IP: ip, Port: port}, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, &Error{Code: httpkit.CodeDNS, Msg: fmt.Sprintf("lookup %s: %v", host, err), Err: err}
	}
	if len(ips) == 0 {
		return nil, &Error{Code: httpkit.CodeDNS, Msg: "lookup " + host + ": no address"}
	}
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			return &net.UDPAddr{IP: ip.IP, Port: port}, nil
		}
	}
	return &net.UDPAddr{IP: ips[0].IP, Port: port, Zone: ips[0].Zone}, nil
}

// phaseClock records the httptrace events of one request; quic-go calls
// WroteRequest from its own goroutine when the request has a body.
// Times are nanoseconds since the request's acquired time (monotonic),
// 0 = not yet.
type phaseClock struct {
	base             time.Time
	wrote, firstByte atomic.Int64
	trace            httptrace.ClientTrace
}

func (p *phaseClock) mark(t *atomic.Int64) {
	if t.Load() == 0 {
		t.CompareAndSwap(0, max(int64(time.Since(p.base)), 1))
	}
}

func (p *phaseClock) at(t *atomic.Int64) time.Time {
	if d := t.Load(); d != 0 {
		return p.base.Add(time.Duration(d))
	}
	return time.Time{}
}

// newRequest builds the http.Request of one attempt without going
// through a URL string again (http.NewRequest would re-parse it).
func newRequest(ctx context.Context, method string, u *url.URL, req *Request) *http.Request {
	// Proto as http.NewRequest sets it: quic-go reads any other value on
	// a CONNECT as an extended CONNECT's :protocol.
	hreq := &http.Request{Method: method, URL: u, Host: u.Host, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: make(http.Header, len(req.Header))}
	if req.Body != nil {
		b := req.Body
		hreq.ContentLength = int64(len(b))
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		if len(b) == 0 {
			hreq.Body = http.NoBody
		} else {
			hreq.Body, _ = hreq.GetBody()
		}
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	if host := hreq.Header.Get("Host"); host != "" {
		hreq.Host = host
	}
	return hreq.WithContext(ctx)
}

// roundTrip sends one attempt of req on cn and reads the response into res.
func (c *Client) roundTrip(ctx context.Context, cn *conn, method string, u *url.URL, req *Request, res *Result, acquired time.Time) error {
	clock := &phaseClock{base: acquired}
	clock.trace.WroteRequest = func(httptrace.WroteRequestInfo) { clock.mark(&clock.wrote) }
	clock.trace.GotFirstResponseByte = func() { clock.mark(&clock.firstByte) }
	wireMethod := method
	if c.opts.ZeroRTT {
		// Idempotent requests may ride in 0-RTT data when the connection
		// resumed a session; quic-go falls back to 1-RTT otherwise.
		switch method {
		case http.MethodGet:
			wireMethod = http3.MethodGet0RTT
		case http.MethodHead:
			wireMethod = http3.MethodHead0RTT
		}
	}
	hreq := newRequest(httptrace.WithClientTrace(ctx, &clock.trace), wireMethod, u, req)
	res.RemoteAddr = cn.remote
	defer func() {
		// attribute the connection's wire bytes and describe it
		sent, recv := cn.dataDelta()
		res.BytesSent += sent
		res.BytesRecv += recv
		res.Conn = cn.handshakeInfo(ctx)
	}()

	resp, finish, err := exchange(cn, hreq, clock)
	if err != nil {
		if wrote := clock.at(&clock.wrote); !wrote.IsZero() {
			res.Timings.Sending = wrote.Sub(acquired)
			res.Timings.Waiting = time.Since(wrote)
		} else {
			res.Timings.Sending = time.Since(acquired)
		}
		return err
	}
	defer finish()
	defer resp.Body.Close()
	res.Status = resp.StatusCode
	res.StatusText = resp.Status
	res.Header = resp.Header
	if resp.TLS != nil {
		res.TLSVersion = tlsVersion(*resp.TLS)
	} else {
		res.TLSVersion = cn.tlsVersion(ctx)
	}
	if req.DiscardBody {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		res.Body, err = readBody(resp.Body, resp.ContentLength)
	}
	done := time.Now()
	res.End = done
	wrote, first := clock.at(&clock.wrote), clock.at(&clock.firstByte)
	if wrote.IsZero() || wrote.After(first) {
		wrote = first // a 0-RTT request may be acknowledged only with its answer
	}
	if first.IsZero() {
		first = done
		if wrote.IsZero() {
			wrote = done
		}
	}
	res.Timings.Sending = max(wrote.Sub(acquired), 0)
	res.Timings.Waiting = max(first.Sub(wrote), 0)
	res.Timings.Receiving = max(done.Sub(first), 0)
	if err != nil {
		e := wrapErr(err)
		if e.Code == httpkit.CodeGeneric {
			e.Code = httpkit.CodeResponseBodyError
		}
		e.Msg = "read response body: " + e.Msg
		return e
	}
	return nil
}

// max1xx bounds the informational (1xx) responses before the final one,
// as quic-go's RoundTrip does (and net/http: 5).
const max1xx = 5

// exchange sends hreq on cn and returns its final response; finish must
// be called once the response body was read or closed.
//
// Why not always ClientConn.RoundTrip: for every request it starts a
// goroutine that waits for the request's context or its end (to reset the
// stream on cancellation), and copies the connection's TLS state into
// the response: together a few percent of the client's CPU per request,
// on a path whose goal is to cost no more than a bare http3.Transport
// loop. A request without a body (the load loop's GET) goes through
// quic-go's own lower-level API instead (OpenRequestStream,
// SendRequestHeader, ReadResponse) with what RoundTrip adds done here:
// the wait for the handshake unless the request may ride in 0-RTT data,
// the stream reset (H3_REQUEST_CANCELLED both ways) when the context ends
// before the body was read (context.AfterFunc: no goroutine unless it
// fires), informational responses skipped (at most max1xx, else
// H3_EXCESSIVE_LOAD), a stream that could not be opened (GOAWAY, closed
// connection) reported as "http3: conn unusable" so that the retry rules
// see what RoundTrip would have said, and the context's error returned in
// place of the stream's once the context ended. Content-Length and
// trailers are ReadResponse's and the body's own work, the same on both
// paths. Requests with a body (quic-go writes it from a goroutine of its
// own anyway) and CONNECT keep RoundTrip.
func exchange(cn *conn, hreq *http.Request, clock *phaseClock) (*http.Response, func(), error) {
	if (hreq.Body != nil && hreq.Body != http.NoBody) || hreq.Method == http.MethodConnect {
		resp, err := cn.cc.RoundTrip(hreq)
		return resp, func() {}, err
	}
	ctx := hreq.Context()
	resp, finish, err := exchangeStream(ctx, cn, hreq, clock)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err() // as RoundTrip: the context's error, not the reset stream's
	}
	return resp, finish, err
}

func exchangeStream(ctx context.Context, cn *conn, hreq *http.Request, clock *phaseClock) (*http.Response, func(), error) {
	switch hreq.Method {
	case http3.MethodGet0RTT:
		hreq.Method = http.MethodGet // hreq is this attempt's own
	case http3.MethodHead0RTT:
		hreq.Method = http.MethodHead
	default:
		select {
		case <-cn.q.HandshakeComplete():
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	str, err := cn.cc.OpenRequestStream(ctx)
	if err != nil {
		return nil, nil, &connUnusable{err}
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelWrite(quic.StreamErrorCode(http3.ErrCodeRequestCanceled))
		str.CancelRead(quic.StreamErrorCode(http3.ErrCodeRequestCanceled))
	})
	finish := func() { stop() }
	// As RoundTrip: a request whose header could not be written still
	// waits for a response (the server may have answered already); the
	// stream's send side is closed only after a header that went out.
	if err := str.SendRequestHeader(hreq); err == nil {
		clock.mark(&clock.wrote)
		_ = str.Close()
	}
	for n := 0; ; n++ {
		resp, err := str.ReadResponse()
		if err != nil {
			stop()
			return nil, nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, finish, nil // 101 is final, as in net/http and quic-go
		}
		if n+1 > max1xx {
			str.CancelRead(quic.StreamErrorCode(http3.ErrCodeExcessiveLoad))
			str.CancelWrite(quic.StreamErrorCode(http3.ErrCodeExcessiveLoad))
			stop()
			return nil, nil, errors.New("http3: too many 1xx informational responses")
		}
		// ReadResponse parses the next HEADERS frame into the same
		// response (a fresh header), as quic-go's own 1xx loop does.
	}
}

// connUnusable is a request stream that could not be opened: the request
// never left, so it may be sent again on another connection (retryable
// matches RoundTrip's wording for it).
type connUnusable struct{ err error }

func (e *connUnusable) Error() string { return "http3: conn unusable: " + e.err.Error() }
func (e *connUnusable) Unwrap() error { return e.err }

// tlsVersion is the connection's TLS version once its handshake is done.
func (cn *conn) tlsVersion(ctx context.Context) string {
	if !cn.infoReady.Load() {
		cn.handshakeInfo(ctx)
		if !cn.infoReady.Load() {
			return tlsVersion(cn.q.ConnectionState().TLS)
		}
	}
	return cn.tlsVer
}

// ErrClosed reports whether err comes from using a closed Client.
func ErrClosed(err error) bool { return errors.Is(err, errClientClosed) }

// liveConns is how many connections the Client has not yet seen closed.
func (c *Client) liveConns() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.live)
}

// readBody reads a response body whole. With a Content-Length it
// allocates once, the right size (io.ReadAll starts at 512 bytes and
// grows, a copy per doubling); the announced size is only a hint, capped,
// and a body longer or shorter than announced is still read whole.
func readBody(r io.Reader, contentLength int64) ([]byte, error) {
	const maxHint = 4 << 20
	if contentLength < 0 || contentLength > maxHint {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, contentLength+1) // +1: room to see EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow: the body is longer than announced
		}
	}
}
