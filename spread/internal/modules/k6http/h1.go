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
// the standard library. HTTPS (HTTP/2 by ALPN, or HTTP/1.1) keeps using
// net/http's Transport.

// The same client also runs HTTP/1.1 over TLS when HTTP/2 is switched off
// (GODEBUG=http2client=0, k6's documented way to force HTTP/1.1 on
// https): the TLS handshake is crypto/tls's, done here on the VU's
// goroutine, and the request then goes as on a cleartext connection
// (issue 17: net/http's two goroutines per connection cost 2-3x the client
// CPU of wrk over https). With HTTP/2 allowed, https stays on net/http's
// Transport, which negotiates h2 by ALPN.

// h1Conn is one keep-alive connection of a VU.
type h1Conn struct {
	cc         *countingConn
	br         *bufio.Reader
	bw         *bufio.Writer
	remoteIP   string // formatted once per connection
	port       int
	tlsVersion string // "" on cleartext
	tlsState   *tls.ConnectionState
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
	_ = c.cc.Close()
}

// closeIdle closes every idle connection.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			_ = c.cc.Close()
		}
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
	for attempt := 0; ; attempt++ {
		var connectStart, connectDone time.Time
		var tlsHandshaking time.Duration
		conn := c.h1.get(poolKey)
		reused := conn != nil
		if reused && !replayable && !conn.alive() {
			_ = conn.cc.Close()
			conn, reused = nil, false
		}
		if conn == nil {
			var nc *countingConn
			var err error
			nc, connectStart, err = c.dialDeadline(addr, deadline)
			connectDone = time.Now()
			if err != nil {
				if connectStart.IsZero() {
					connectStart = connectDone // failed before connecting (DNS)
				}
				res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart)}
				c.h1Fail(res, err, deadline)
				return nil, ""
			}
			var rw io.ReadWriter = nc
			var tlsVersion string
			var tlsState *tls.ConnectionState
			if secure {
				tc, err := c.h1Handshake(nc, u.Hostname(), deadline)
				tlsDone := time.Now()
				if err != nil {
					_ = nc.Close()
					res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart),
						TLSHandshaking: tlsDone.Sub(connectDone)}
					c.h1Fail(res, err, deadline)
					return nc, ""
				}
				tlsHandshaking = tlsDone.Sub(connectDone)
				st := tc.ConnectionState()
				rw, tlsVersion, tlsState = tc, tlsVersionName(st.Version), &st
			}
			conn = &h1Conn{cc: nc, br: bufio.NewReaderSize(rw, 4096), bw: bufio.NewWriterSize(rw, 4096), tlsVersion: tlsVersion, tlsState: tlsState}
			if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
				conn.remoteIP, conn.port = a.IP.String(), a.Port
			}
		}
		gotConn := time.Now()
		_ = conn.cc.SetDeadline(deadline)
		res.RemoteIP, res.RemotePort = conn.remoteIP, conn.port
		res.TLSVersion, res.TLSState = conn.tlsVersion, conn.tlsState
		err := writeH1Request(conn.bw, method, u, rq.header, body, closeAfter)
		wrote := time.Now()
		var firstByte time.Time
		if err == nil {
			_, err = conn.br.Peek(1)
			firstByte = time.Now()
		}
		if err != nil {
			_ = conn.cc.Close()
			if reused && attempt == 0 && replayable && staleConnError(err) {
				continue // the server closed the idle connection: redial once
			}
			res.Timings = h1Timings(res.Start, connectStart, connectDone, gotConn, wrote, firstByte, time.Now())
			c.h1Fail(res, err, deadline)
			return conn.cc, ""
		}
		resp, err := readH1Response(conn.br, method)
		if err != nil {
			_ = conn.cc.Close()
			res.Timings = h1Timings(res.Start, connectStart, connectDone, gotConn, wrote, firstByte, time.Now())
			c.h1Fail(res, err, deadline)
			return conn.cc, ""
		}
		data, readErr := readBody(resp, rq)
		end := time.Now()
		res.Timings = h1Timings(res.Start, connectStart, connectDone, gotConn, wrote, firstByte, end)
		res.Timings.TLSHandshaking = tlsHandshaking
		res.Proto = resp.Proto
		if secure {
			c.sawHost(u.Host)
		}
		res.Headers = resp.Header
		if readErr != nil {
			_ = conn.cc.Close()
			c.h1Fail(res, readErr, deadline)
			return conn.cc, ""
		}
		if closeAfter || resp.Close || conn.br.Buffered() > 0 {
			// Bytes past the response (a body longer than its
			// Content-Length) would be read as the next response.
			_ = conn.cc.Close()
		} else {
			c.h1.put(poolKey, conn)
		}
		return conn.cc, c.finish(res, rq, resp, data)
	}
}

// h1Handshake runs the TLS handshake on a new connection with the VU's TLS
// settings (as net/http's Transport would: SNI and verification for host),
// offering only HTTP/1.1 by ALPN.
func (c *client) h1Handshake(nc net.Conn, host string, deadline time.Time) (*tls.Conn, error) {
	conf := c.transport.TLSClientConfig.Clone()
	if conf.ServerName == "" {
		conf.ServerName = host
	}
	conf.NextProtos = []string{"http/1.1"}
	ctx := c.withTLSHost(context.Background(), host)
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
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

// alive reports whether an idle connection is still open, before a
// request that must not be retried is written on it.
func (h *h1Conn) alive() bool {
	if h.br.Buffered() > 0 {
		return false // unsolicited bytes: not a clean keep-alive connection
	}
	tc, ok := h.cc.Conn.(syscallConn)
	if !ok {
		return true
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	return peekAlive(raw)
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

// writeH1Request writes the request head and body and flushes them in one
// write when they fit the buffer.
func writeH1Request(w *bufio.Writer, method string, u *url.URL, h http.Header, body []byte, closeConn bool) error {
	host := u.Host
	if v := h.Get("Host"); v != "" {
		host = v
	}
	uri := u.RequestURI()
	if strings.ContainsAny(uri, " \r\n") || strings.ContainsAny(host, " \r\n") {
		return fmt.Errorf("invalid request URI or host %q %q", uri, host)
	}
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
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
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vs {
			if v == "" && k == "User-Agent" {
				continue // "" means no User-Agent, as in k6
			}
			if strings.ContainsAny(v, "\r\n") {
				return fmt.Errorf("invalid value for header %s", k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if u.User != nil && h.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		w.WriteString("Authorization: Basic ")
		w.WriteString(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + pw)))
		w.WriteString("\r\n")
	}
	if len(body) > 0 || (method != "GET" && method != "HEAD") {
		w.WriteString("Content-Length: ")
		var num [20]byte
		w.Write(strconv.AppendInt(num[:0], int64(len(body)), 10))
		w.WriteString("\r\n")
	}
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if len(body) > 0 {
		w.Write(body)
	}
	return w.Flush()
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

// readH1Response parses the response head (skipping 1xx interim
// responses) with net/http's parser.
func readH1Response(br *bufio.Reader, method string) (*http.Response, error) {
	if resp, ok := parseH1Head(br, method); ok {
		return resp, nil
	}
	req := &http.Request{Method: method}
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}
