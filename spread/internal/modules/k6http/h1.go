package k6http

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"spread.dev/spread/ext/httpkit"
)

// Cleartext HTTP/1.1 (http:// URLs) runs on this small client instead of
// net/http's Transport: the request is written and its response read on
// the calling goroutine, with no per-connection read and write goroutines
// to hand each request to. That halves the scheduling work per request,
// which is most of a load generator's cost on keep-alive connections, and
// it gives exact phase timings without httptrace. Parsing stays net/http's
// (http.ReadResponse), so bodies, chunking and Connection handling follow
// the standard library. HTTPS goes to the HTTP/2 client (h2sync.go), which
// hands a connection that negotiated HTTP/1.1 by ALPN back to this one.

// The same client also runs HTTP/1.1 over TLS when HTTP/2 is switched off
// (GODEBUG=http2client=0, k6's documented way to force HTTP/1.1 on
// https): the TLS handshake is crypto/tls's, done here on the VU's
// goroutine, and the request then goes as on a cleartext connection
// (issue 17: net/http's two goroutines per connection cost 2-3x the client
// CPU of wrk over https). With HTTP/2 allowed, https goes to the HTTP/2
// client (h2sync.go; SPREAD_K6HTTP_H2=nethttp: net/http's Transport).

// h1Conn is one keep-alive connection of a VU.
//
// An idle connection holds no buffers: the read buffer comes from a pool
// for the time of a request and goes back when the response has been
// read to its end, and requests are written from pooled buffers. With
// 10,000 VUs each holding a keep-alive connection (issue 17), 8 KiB of
// bufio per connection was 80 MB for connections that sleep.
type h1Conn struct {
	cc         *countingConn
	rw         io.ReadWriter // cc, or the TLS connection over it
	br         *bufio.Reader // nil while idle (see reader)
	remoteIP   string        // formatted once per connection
	port       int
	tlsVersion string // "" on cleartext
	tlsState   *tls.ConnectionState
	deadline   time.Time       // the connection's I/O deadline (see setDeadline)
	raw        syscall.RawConn // the TCP socket's, nil if not a socket (see writeAndWait)
	w          h1Write         // the request being written (see writeAndWait)
	waitFn     func(uintptr) bool
}

// h1OverTLS: https requests take the h1 client (HTTP/2 switched off).
var h1OverTLS = func() bool {
	for _, kv := range strings.Split(os.Getenv("GODEBUG"), ",") {
		if strings.TrimSpace(kv) == "http2client=0" {
			return true
		}
	}
	return false
}()

// h1Pool holds a VU's idle cleartext connections by host:port. Batch
// requests use it concurrently; a connection serves one request at a time.
type h1Pool struct {
	mu      sync.Mutex
	idle    map[string][]*h1Conn
	maxIdle int
}

// get takes the most recently used idle connection to addr, if any.
func (p *h1Pool) get(addr string) *h1Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	p.idle[addr] = list[:len(list)-1]
	return c
}

// put returns c to the pool, or closes it when the pool is full.
func (p *h1Pool) put(addr string, c *h1Conn) {
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string][]*h1Conn{}
	}
	if len(p.idle[addr]) < p.maxIdle {
		p.idle[addr] = append(p.idle[addr], c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	c.close()
}

// closeIdle closes every idle connection.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.close() // idle: no read buffer, so any goroutine may
		}
	}
}

// h1Readers recycles the read buffers of connections between requests.
var h1Readers = freeList[*bufio.Reader]{max: h1FreeMax, new: func() *bufio.Reader { return bufio.NewReaderSize(nil, h1ReadBuf) }}

// h1FreeMax bounds each free list: buffers beyond what this many requests
// in flight at once use are left to the GC.
const h1FreeMax = 256

// freeList is a bounded stack of reusable buffers shared by all VUs.
// Not a sync.Pool: a pool is emptied at every GC cycle, which on a load
// generator's small heap comes every few milliseconds, and each buffer was
// then allocated (and zeroed) anew; here they stay.
type freeList[T any] struct {
	mu   sync.Mutex
	free []T
	max  int
	new  func() T
}

func (l *freeList[T]) get() T {
	l.mu.Lock()
	if n := len(l.free); n > 0 {
		x := l.free[n-1]
		var zero T
		l.free[n-1] = zero
		l.free = l.free[:n-1]
		l.mu.Unlock()
		return x
	}
	l.mu.Unlock()
	return l.new()
}

func (l *freeList[T]) put(x T) {
	l.mu.Lock()
	if len(l.free) < l.max {
		l.free = append(l.free, x)
	}
	l.mu.Unlock()
}

// h1ReadBuf is the read buffer's size: a response head must fit in it for
// the fast parser (parseH1Head); longer ones take net/http's.
const h1ReadBuf = 4096

// reader returns the connection's read buffer, taking one from the pool
// when the connection has none.
func (h *h1Conn) reader() *bufio.Reader {
	if h.br == nil {
		h.br = h1Readers.get()
		h.br.Reset(h.rw)
	}
	return h.br
}

// idle gives the read buffer back once nothing is left in it; it runs on
// the goroutine that used the connection, before the connection goes to
// the pool.
func (h *h1Conn) idle() {
	if h.br != nil && h.br.Buffered() == 0 {
		h.br.Reset(nil)
		h1Readers.put(h.br)
		h.br = nil
	}
}

// close closes the connection and gives its read buffer back; only the
// goroutine using the connection (or holding it idle) calls it.
func (h *h1Conn) close() {
	_ = h.cc.Close()
	if h.br != nil {
		h.br.Reset(nil)
		h1Readers.put(h.br)
		h.br = nil
	}
}

// errStaleConn marks a pooled connection the server had already closed.
var errStaleConn = errors.New("server closed idle connection")

// h1RoundTrip sends one cleartext HTTP/1.1 request and reads its response.
// A request that finds its pooled connection closed by the server (before
// any response byte) is retried once on a new connection when replayable,
// as net/http does.
func (c *client) h1RoundTrip(deadline time.Time, rq *request, res *httpkit.Result, method string, u *url.URL, body []byte) (*countingConn, string) {
	addr := u.Host
	secure := u.Scheme == "https"
	if u.Port() == "" {
		port := "80"
		if secure {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	poolKey := addr
	if secure {
		poolKey = "tls:" + addr // never hand a cleartext connection to an https request
	}
	closeAfter := c.cfg.NoConnectionReuse || hasToken(rq.header.Values("Connection"), "close")
	replayable := method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
		rq.header.Get("Idempotency-Key") != "" || rq.header.Get("X-Idempotency-Key") != ""
	slack := deadlineSlack(rq.timeout)
	for attempt := 0; ; attempt++ {
		var ph h1Phases
		conn := c.h1.get(poolKey)
		reused := conn != nil
		// A pooled connection is handed over at once: its blocked phase
		// is the pool lookup, not worth a clock read (~100 ns here).
		ph.gotConn = res.Start
		if reused {
			conn.setDeadline(deadline, slack)
			if !replayable && !conn.alive() {
				conn.close()
				conn, reused = nil, false
			}
		}
		if conn == nil {
			var failed *countingConn
			var ok bool
			if conn, failed, ok = c.h1Dial(addr, u, secure, deadline, slack, res, &ph); !ok {
				return failed, ""
			}
		}
		res.RemoteIP, res.RemotePort = conn.remoteIP, conn.port
		res.TLSVersion, res.TLSState = conn.tlsVersion, conn.tlsState
		br := conn.reader()
		wrote, err := conn.writeAndWait(method, u, rq.header, body, closeAfter)
		var firstByte time.Time
		if err == nil {
			firstByte = time.Now()
			_, err = br.Peek(1)
		}
		if err != nil {
			conn.close()
			if reused && attempt == 0 && replayable && staleConnError(err) {
				continue // the server closed the idle connection: redial once
			}
			res.Timings = h1Timings(res.Start, ph.connectStart, ph.connectDone, ph.gotConn, wrote, firstByte, time.Now())
			c.h1Fail(res, err, deadline)
			return conn.cc, ""
		}
		resp, lazy, err := readH1Response(br, method)
		if err != nil {
			conn.close()
			res.Timings = h1Timings(res.Start, ph.connectStart, ph.connectDone, ph.gotConn, wrote, firstByte, time.Now())
			c.h1Fail(res, err, deadline)
			return conn.cc, ""
		}
		var hdr httpkit.HeaderGetter = resp.Header
		if lazy != nil {
			hdr = lazy
		}
		data, readErr := readBody(resp, hdr, rq)
		end := time.Now()
		res.End = end // the samples' time: no clock read of their own
		res.Timings = h1Timings(res.Start, ph.connectStart, ph.connectDone, ph.gotConn, wrote, firstByte, end)
		res.Timings.TLSHandshaking = ph.tlsHandshaking
		res.Proto = resp.Proto
		if secure {
			c.sawHost(u.Host)
		}
		if lazy != nil {
			res.SetHeaderSource(lazy)
		} else {
			res.Headers = resp.Header
		}
		if readErr != nil {
			conn.close()
			c.h1Fail(res, readErr, deadline)
			return conn.cc, ""
		}
		if closeAfter || resp.Close || br.Buffered() > 0 {
			// Bytes past the response (a body longer than its
			// Content-Length) would be read as the next response.
			conn.close()
		} else {
			conn.idle()
			c.h1.put(poolKey, conn)
		}
		return conn.cc, c.finish(res, rq, resp, hdr, data)
	}
}

// h1Phases are the connection phases of one attempt (a pooled connection
// has only gotConn: the request's start).
type h1Phases struct {
	connectStart, connectDone, gotConn time.Time
	tlsHandshaking                     time.Duration
}

// h1Dial opens a new connection to addr, over TLS for https, recording its
// phases in ph. On failure the error and the timings so far are in res,
// and the connection whose bytes count is returned (nil before connecting).
func (c *client) h1Dial(addr string, u *url.URL, secure bool, deadline time.Time, slack time.Duration, res *httpkit.Result, ph *h1Phases) (*h1Conn, *countingConn, bool) {
	nc, connectStart, err := c.dialDeadline(addr, deadline)
	connectDone := time.Now()
	ph.connectStart, ph.connectDone = connectStart, connectDone
	if err != nil {
		if connectStart.IsZero() {
			connectStart = connectDone // failed before connecting (DNS)
			ph.connectStart = connectStart
		}
		res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart)}
		c.h1Fail(res, err, deadline)
		return nil, nil, false
	}
	ph.gotConn = connectDone
	var rw io.ReadWriter = nc
	var tlsVersion string
	var tlsState *tls.ConnectionState
	if secure {
		tc, err := c.tlsHandshake(nc, u.Hostname(), deadline, h1Protos)
		tlsDone := time.Now()
		ph.gotConn = tlsDone
		if err != nil {
			_ = nc.Close()
			res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart),
				TLSHandshaking: tlsDone.Sub(connectDone)}
			c.h1Fail(res, err, deadline)
			return nil, nc, false
		}
		ph.tlsHandshaking = tlsDone.Sub(connectDone)
		st := tc.ConnectionState()
		rw, tlsVersion, tlsState = tc, tlsVersionName(st.Version), &st
	}
	conn := &h1Conn{cc: nc, rw: rw, tlsVersion: tlsVersion, tlsState: tlsState}
	if sc, ok := nc.Conn.(syscallConn); ok {
		conn.raw, _ = sc.SyscallConn()
	}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		conn.remoteIP, conn.port = a.IP.String(), a.Port
	}
	conn.setDeadline(deadline, slack)
	return conn, nil, true
}

// h1Fail records an error; past the request's deadline it is a timeout
// whichever read, write or dial noticed it.
func (c *client) h1Fail(res *httpkit.Result, err error, deadline time.Time) {
	if !deadline.IsZero() && !time.Now().Before(deadline) {
		err = errRequestTimeout
	}
	res.Status, res.StatusText = 0, ""
	res.Error, res.ErrorCode = classify(err)
	res.Expected = false
}

// dialDeadline dials addr, bounded by the request's deadline when earlier
// than the dialer's own timeout. It returns when the TCP connect began,
// after name resolution, which (as in k6) counts as blocked, not connecting.
func (c *client) dialDeadline(addr string, deadline time.Time) (*countingConn, time.Time, error) {
	d := c.dialer
	if !deadline.IsZero() {
		d.Deadline = deadline
	}
	var mu sync.Mutex // Happy Eyeballs may dial from two goroutines
	var connectStart time.Time
	d.ControlContext = func(context.Context, string, string, syscall.RawConn) error {
		mu.Lock()
		connectStart = time.Now() // the last attempt's, if several addresses
		mu.Unlock()
		return nil
	}
	ctx := context.Background()
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	to, err := c.dialAddr(ctx, addr)
	if err != nil {
		return nil, time.Time{}, err
	}
	nc, err := d.DialContext(ctx, "tcp", to)
	mu.Lock()
	start := connectStart
	mu.Unlock()
	if err != nil {
		return nil, start, err
	}
	return c.track(nc), start, nil
}

// deadlineSlack is how much later than a request's deadline its
// connection's deadline may be, at most: up to this, the connection keeps
// the deadline an earlier request set instead of being given a new one
// per request. Setting a deadline re-arms the runtime's timer for the
// socket, a visible share of the client's CPU per keep-alive request
// (issue 17); a timeout then fires at most this late.
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/100, 10*time.Millisecond)
}

// setDeadline bounds the connection's I/O by deadline (zero: none),
// leaving an earlier request's deadline in place when it is no earlier
// than deadline and within deadlineSlack of it.
func (h *h1Conn) setDeadline(deadline time.Time, slack time.Duration) {
	if deadline.IsZero() {
		if !h.deadline.IsZero() {
			h.deadline = time.Time{}
			_ = h.cc.SetDeadline(h.deadline)
		}
		return
	}
	if !h.deadline.IsZero() && !h.deadline.Before(deadline) && h.deadline.Sub(deadline) <= slack {
		return
	}
	h.deadline = deadline.Add(slack)
	_ = h.cc.SetDeadline(h.deadline)
}

// writeAndWait writes the request and then waits until the socket
// has something to read (the response's first bytes), or its deadline. It
// returns when the write ended.
//
// Why not write, then read: the response is never there yet when the
// read comes right after the write (measured: 99% of those reads failed
// with EAGAIN before the goroutine parked), so each request paid a
// wasted read syscall, 1 of its 3. Waiting first needs care: the runtime
// forgets the socket's readiness when a wait is prepared, and epoll
// reports edges, so bytes that came before the preparation would not
// wake the wait. Hence the order: prepare (RawConn.Read's entry), then
// write inside the callback, then wait. The response comes after the
// request, so its arrival is an edge the wait sees; a server that closed
// the idle connection answers the write with a reset, an edge as well.
//
// The callback and its state live in the connection (made once per
// connection): a closure per request cost four allocations.
func (h *h1Conn) writeAndWait(method string, u *url.URL, header http.Header, body []byte, closeConn bool) (time.Time, error) {
	if h.raw == nil || (h.br != nil && h.br.Buffered() > 0) {
		err := writeH1Request(h.rw, method, u, header, body, closeConn)
		return time.Now(), err
	}
	w := &h.w
	*w = h1Write{method: method, u: u, header: header, body: body, closeConn: closeConn}
	if h.waitFn == nil {
		h.waitFn = h.waitStep
	}
	rerr := h.raw.Read(h.waitFn)
	wrote, werr, written := w.wrote, w.err, w.written
	*w = h1Write{} // drop the request's references
	if werr != nil {
		return wrote, werr
	}
	if !written {
		wrote = time.Now() // the wait could not even start (closed, deadline)
	}
	return wrote, rerr
}

// h1Write is the request writeAndWait's callback writes, and its outcome.
type h1Write struct {
	method    string
	u         *url.URL
	header    http.Header
	body      []byte
	closeConn bool

	written bool
	wrote   time.Time
	err     error
}

// waitStep is writeAndWait's RawConn.Read callback: the first call writes
// the request and asks to wait (false) unless the write failed; the next
// one, on readability, ends the wait.
func (h *h1Conn) waitStep(uintptr) bool {
	w := &h.w
	if w.written {
		return true // readable (or a spurious wake-up: the read that follows copes)
	}
	w.written = true
	w.err = writeH1Request(h.rw, w.method, w.u, w.header, w.body, w.closeConn)
	w.wrote = time.Now()
	return w.err != nil
}

// alive reports whether an idle connection is still open, before a
// request that must not be retried is written on it.
func (h *h1Conn) alive() bool {
	if h.br != nil && h.br.Buffered() > 0 {
		return false // unsolicited bytes: not a clean keep-alive connection
	}
	if h.raw == nil {
		return true
	}
	return peekAlive(h.raw)
}

type syscallConn interface {
	SyscallConn() (syscall.RawConn, error)
}

// staleConnError reports errors of a reused connection the server closed.
func staleConnError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func h1Timings(start, connectStart, connectDone, gotConn, wrote, firstByte, end time.Time) httpkit.Timings {
	d := func(from, to time.Time) time.Duration {
		if from.IsZero() || to.IsZero() || to.Before(from) {
			return 0
		}
		return to.Sub(from)
	}
	var t httpkit.Timings
	if !connectStart.IsZero() {
		t.Blocked = d(start, connectStart)
		t.Connecting = d(connectStart, connectDone)
	} else {
		t.Blocked = d(start, gotConn)
	}
	t.Sending = d(gotConn, wrote)
	t.Waiting = d(wrote, firstByte)
	t.Receiving = d(firstByte, end)
	return t
}

// h1Writes recycles the buffers requests are written from.
var h1Writes = freeList[*[]byte]{max: h1FreeMax, new: func() *[]byte { b := make([]byte, 0, 1024); return &b }}

// h1WriteMax bounds what is copied into one write: a larger body is
// written after its head, from the request's own bytes; a larger buffer
// is not kept in the pool.
const h1WriteMax = 64 << 10

// writeH1Request writes the request head and body, in one write unless
// the body is large (one write per request is one syscall, or one TLS
// record, instead of several).
func writeH1Request(w io.Writer, method string, u *url.URL, h http.Header, body []byte, closeConn bool) error {
	bp := h1Writes.get()
	b, err := appendH1Head((*bp)[:0], method, u, h, body, closeConn)
	if err == nil {
		if len(b)+len(body) <= h1WriteMax {
			b = append(b, body...)
			_, err = w.Write(b)
		} else if _, err = w.Write(b); err == nil && len(body) > 0 {
			_, err = w.Write(body)
		}
	}
	if cap(b) <= h1WriteMax {
		*bp = b[:0]
		h1Writes.put(bp)
	}
	return err
}

// appendH1Head appends the request line and header fields to b.
func appendH1Head(b []byte, method string, u *url.URL, h http.Header, body []byte, closeConn bool) ([]byte, error) {
	host := u.Host
	if v := h.Get("Host"); v != "" {
		host = v
	}
	uri := u.RequestURI()
	if strings.ContainsAny(uri, " \r\n") || strings.ContainsAny(host, " \r\n") {
		return b, fmt.Errorf("invalid request URI or host %q %q", uri, host)
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	for k, vs := range h {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding":
			continue
		case "Connection":
			if closeConn {
				continue // written below
			}
		}
		if !validHeaderName(k) {
			return b, fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue // "" means no User-Agent, as in k6
			}
			if strings.ContainsAny(v, "\r\n") {
				return b, fmt.Errorf("invalid value for header %s", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if u.User != nil && h.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		b = append(b, "Authorization: Basic "...)
		b = base64.StdEncoding.AppendEncode(b, []byte(u.User.Username()+":"+pw))
		b = append(b, "\r\n"...)
	}
	if len(body) > 0 || (method != "GET" && method != "HEAD") {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// readH1Response parses the response head: a common one with parseH1Head,
// others (skipping 1xx interim responses) with net/http's parser. lazy is
// the fast path's unparsed header (resp.Header is nil then), or nil.
func readH1Response(br *bufio.Reader, method string) (resp *http.Response, lazy *h1Response, err error) {
	if h, ok := parseH1Head(br, method); ok {
		return &h.resp, h, nil
	}
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil, nil
	}
}
