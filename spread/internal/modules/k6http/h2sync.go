package k6http

import (
	"bufio"
	"bytes"
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
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"spread.dev/spread/ext/httpkit"
)

// Why a synchronous HTTP/2 client (issue 17). k6 users' http.get/post run
// one request at a time per VU, on the VU's own connection. On net/http's
// Transport each such HTTP/2 request crosses three goroutines: the VU
// writes HEADERS, the connection's read loop reads and decodes the
// response and hands it over through channels and a body pipe, and the VU
// wakes up to read it. The CPU profile of `http.get` against Go's h2
// server (docs/bench/profiles.md) showed the read loop at ~30% of the
// client's CPU, plus select/park/unpark of those hand-offs and
// per-request net/http machinery (Request, httptrace, context, pipes):
// ~50-58 µs of client CPU per request against 29 µs for h2load -m1.
//
// This client runs the whole exchange on the VU's goroutine: write HEADERS
// (+DATA), then read frames until the stream's END_STREAM, answering
// SETTINGS, PING and flow control in between. Framing and header
// compression are golang.org/x/net/http2's Framer and hpack; only the
// stream state machine of one stream at a time is written here. It serves
// only the requests of http.get/post/request/... (one at a time on the
// VU's goroutine); http.batch and http.asyncRequest, which need several
// streams on one connection, keep net/http's Transport. A server that
// picks HTTP/1.1 by ALPN gets the connection handed to the synchronous
// h1 client (h1.go). SPREAD_K6HTTP_H2=nethttp switches all of this off.

// h2SyncOn: https requests of one-at-a-time calls use this client.
var h2SyncOn = os.Getenv("SPREAD_K6HTTP_H2") != "nethttp"

const (
	// Our receive windows. The stream window bounds a response's bytes in
	// flight; the connection window is larger so one stream never waits
	// on it. WINDOW_UPDATE goes out when half a window was consumed.
	h2StreamWindow = 4 << 20
	h2ConnWindow   = 8 << 20
	// Largest response header list we accept (net/http's default).
	h2MaxHeaderList = 10 << 20
	// Attempts of a request the server did not process (GOAWAY below its
	// stream, REFUSED_STREAM, a stale pooled connection).
	h2MaxAttempts = 4
)

// h2Conn is one HTTP/2 connection of a VU, used by one request at a time.
type h2Conn struct {
	cc  *countingConn
	tc  *tls.Conn
	br  *bufio.Reader
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer // encoded header block

	remoteIP   string
	port       int
	tlsVersion string
	tlsState   *tls.ConnectionState

	nextID uint32
	// Peer settings.
	maxFrame      uint32
	initSendWin   int32
	maxHeaderList uint32 // 0: unlimited
	// Flow control: what we may send on the connection, and what we have
	// received without giving back.
	sendWin  int64
	recvUsed int64
	// goAway is set once the server sent GOAWAY: no new streams.
	goAway     bool
	goAwayLast uint32
	goAwayCode http2.ErrCode
}

// h2Stream is the request in flight.
type h2Stream struct {
	h         *h2Conn
	id        uint32
	sendWin   int64
	recvUsed  int64
	gotResp   bool // final (non-1xx) HEADERS seen
	ended     bool // END_STREAM received
	rst       bool // the server reset the stream (after a complete response: harmless)
	pending   []byte // DATA payload not yet read (the framer's buffer)
	early     []byte // DATA that arrived while the body was being sent
	firstByte time.Time
	resp      *http.Response
}

// errors classify() recognises by type name (errors.go).
type http2GoAwayError struct {
	LastStreamID uint32
	ErrCode      uint32
	DebugData    string
}

func (e http2GoAwayError) Error() string {
	return "http2: server sent GOAWAY: " + h2CodeName(uint64(e.ErrCode))
}

type http2ConnectionError uint32

func (e http2ConnectionError) Error() string {
	return "http2: connection error: " + h2CodeName(uint64(e))
}

// errH2Unprocessed marks a request the server did not process (safe to
// retry on a new connection whatever its method).
type errH2Unprocessed struct{ err error }

func (e errH2Unprocessed) Error() string { return e.err.Error() }
func (e errH2Unprocessed) Unwrap() error { return e.err }

// h2Pool holds a VU's idle synchronous HTTP/2 connections, one per
// host:port: requests on this path are one at a time.
type h2Pool struct {
	mu   sync.Mutex
	idle map[string]*h2Conn
}

func (p *h2Pool) get(key string) *h2Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.idle[key]
	if h != nil {
		delete(p.idle, key)
	}
	return h
}

func (p *h2Pool) put(key string, h *h2Conn) {
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string]*h2Conn{}
	}
	old := p.idle[key]
	p.idle[key] = h
	p.mu.Unlock()
	if old != nil {
		_ = old.cc.Close()
	}
}

func (p *h2Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, h := range idle {
		_ = h.cc.Close()
	}
}

// h2RoundTrip sends one https request on the VU's synchronous HTTP/2
// connection to the host (dialing it if needed) and reads its response.
func (c *client) h2RoundTrip(deadline time.Time, rq *request, res *httpkit.Result, method string, u *url.URL, body []byte) (*countingConn, string) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	key := "tls:" + addr
	replayable := method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
		rq.header.Get("Idempotency-Key") != "" || rq.header.Get("X-Idempotency-Key") != ""
	closeAfter := c.cfg.NoConnectionReuse || hasToken(rq.header.Values("Connection"), "close")
	for attempt := 1; ; attempt++ {
		var connectStart, connectDone, tlsDone time.Time
		h := c.h2.get(key)
		reused := h != nil
		if reused && !replayable && !h.idleAlive() {
			_ = h.cc.Close()
			h, reused = nil, false
		}
		if h == nil {
			nc, start, err := c.dialDeadline(addr, deadline)
			connectStart, connectDone = start, time.Now()
			if err != nil {
				if connectStart.IsZero() {
					connectStart = connectDone
				}
				res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart)}
				c.h1Fail(res, err, deadline)
				return nil, ""
			}
			tc, err := c.tlsHandshake(nc, u.Hostname(), deadline, []string{"h2", "http/1.1"})
			tlsDone = time.Now()
			if err != nil {
				_ = nc.Close()
				res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart),
					TLSHandshaking: tlsDone.Sub(connectDone)}
				c.h1Fail(res, err, deadline)
				return nc, ""
			}
			st := tc.ConnectionState()
			if st.NegotiatedProtocol != "h2" {
				return c.h2FallbackH1(deadline, rq, res, method, u, body, nc, tc, &st, connectStart, connectDone, tlsDone)
			}
			h = newH2Conn(nc, tc, &st)
		}
		gotConn := time.Now()
		_ = h.cc.SetDeadline(deadline)
		res.RemoteIP, res.RemotePort = h.remoteIP, h.port
		res.TLSVersion, res.TLSState = h.tlsVersion, h.tlsState
		s, wrote, err := h.send(method, u, rq.header, body)
		if err == nil {
			err = s.readHeaders(method)
		}
		if err != nil {
			_ = h.cc.Close()
			var unproc errH2Unprocessed
			retry := attempt < h2MaxAttempts && (errors.As(err, &unproc) ||
				reused && replayable && (s == nil || s.firstByte.IsZero()) && staleConnError(err))
			if retry && (deadline.IsZero() || time.Now().Before(deadline)) {
				continue
			}
			res.Timings = h2Timings(res.Start, connectStart, connectDone, tlsDone, gotConn, wrote, firstByteOf(s), time.Now())
			c.h1Fail(res, err, deadline)
			return h.cc, ""
		}
		resp := s.resp
		data, readErr := readBody(resp, rq)
		end := time.Now()
		res.Timings = h2Timings(res.Start, connectStart, connectDone, tlsDone, gotConn, wrote, s.firstByte, end)
		res.Proto = resp.Proto
		res.Headers = resp.Header
		c.sawHost(u.Host)
		if readErr == nil && !s.ended {
			readErr = s.drain() // a HEAD or bodiless status with DATA, or trailers
		}
		if readErr != nil {
			_ = h.cc.Close()
			c.h1Fail(res, readErr, deadline)
			return h.cc, ""
		}
		h.settle()
		if closeAfter || h.goAway || h.nextID >= 1<<31-1 {
			_ = h.cc.Close()
		} else {
			c.h2.put(key, h)
		}
		return h.cc, c.finish(res, rq, resp, data)
	}
}

func firstByteOf(s *h2Stream) time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.firstByte
}

// h2FallbackH1 runs the request as HTTP/1.1 on a TLS connection whose
// server chose HTTP/1.1 by ALPN, on the synchronous h1 client, and reports
// the dial and handshake this request paid for.
func (c *client) h2FallbackH1(deadline time.Time, rq *request, res *httpkit.Result, method string, u *url.URL, body []byte,
	nc *countingConn, tc *tls.Conn, st *tls.ConnectionState, connectStart, connectDone, tlsDone time.Time) (*countingConn, string) {
	hc := &h1Conn{cc: nc, br: bufio.NewReaderSize(tc, 4096), bw: bufio.NewWriterSize(tc, 4096), tlsVersion: tlsVersionName(st.Version), tlsState: st}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		hc.remoteIP, hc.port = a.IP.String(), a.Port
	}
	c.h1.put("tls:"+hostPortKey(u), hc)
	conn, loc := c.h1RoundTrip(deadline, rq, res, method, u, body)
	if res.Timings.Connecting == 0 && res.Timings.TLSHandshaking == 0 {
		// h1RoundTrip took the connection from the pool and counted the
		// dial and handshake as blocked: split them out as k6 reports them.
		res.Timings.Blocked = durBetween(res.Start, connectStart)
		res.Timings.Connecting = durBetween(connectStart, connectDone)
		res.Timings.TLSHandshaking = durBetween(connectDone, tlsDone)
	}
	return conn, loc
}

func hostPortKey(u *url.URL) string {
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return u.Host
}

func durBetween(from, to time.Time) time.Duration {
	if from.IsZero() || to.IsZero() || to.Before(from) {
		return 0
	}
	return to.Sub(from)
}

// tlsHandshake runs crypto/tls's handshake with the VU's TLS settings,
// offering protos by ALPN.
func (c *client) tlsHandshake(nc net.Conn, host string, deadline time.Time, protos []string) (*tls.Conn, error) {
	conf := c.transport.TLSClientConfig.Clone()
	if conf.ServerName == "" {
		conf.ServerName = host
	}
	conf.NextProtos = protos
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

// newH2Conn wraps a TLS connection that negotiated h2. The client preface,
// our SETTINGS and the connection window go out with the first request.
func newH2Conn(nc *countingConn, tc *tls.Conn, st *tls.ConnectionState) *h2Conn {
	h := &h2Conn{cc: nc, tc: tc, nextID: 1, maxFrame: 16384, initSendWin: 65535, sendWin: 65535,
		tlsVersion: tlsVersionName(st.Version), tlsState: st}
	h.br = bufio.NewReaderSize(tc, 16<<10)
	h.bw = bufio.NewWriterSize(tc, 16<<10)
	h.fr = http2.NewFramer(h.bw, h.br)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = h2MaxHeaderList
	h.fr.SetReuseFrames()
	h.enc = hpack.NewEncoder(&h.hb)
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		h.remoteIP, h.port = a.IP.String(), a.Port
	}
	_, _ = h.bw.WriteString(http2.ClientPreface)
	_ = h.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: h2MaxHeaderList},
	)
	_ = h.fr.WriteWindowUpdate(0, h2ConnWindow-65535)
	return h
}

// idleAlive reports whether an idle connection may carry a request that
// must not be retried: nothing arrived while it was idle (a GOAWAY, or the
// server's close). Frames that did arrive are not read here; the
// connection is simply not used for such a request.
func (h *h2Conn) idleAlive() bool {
	if h.br.Buffered() > 0 {
		return false
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

// send writes the request's HEADERS and body. It returns when the last
// byte went out (or the server answered before the body was sent).
func (h *h2Conn) send(method string, u *url.URL, header http.Header, body []byte) (*h2Stream, time.Time, error) {
	if h.goAway {
		return nil, time.Time{}, errH2Unprocessed{http2GoAwayError{LastStreamID: h.goAwayLast, ErrCode: uint32(h.goAwayCode)}}
	}
	s := &h2Stream{h: h, id: h.nextID, sendWin: int64(h.initSendWin)}
	h.nextID += 2
	if err := h.encodeHeaders(method, u, header, len(body)); err != nil {
		return nil, time.Time{}, err
	}
	endStream := len(body) == 0
	if err := h.writeHeaderBlock(s.id, endStream); err != nil {
		return s, time.Time{}, err
	}
	for len(body) > 0 && !s.ended && !s.rst {
		n := min(int64(len(body)), int64(h.maxFrame), s.sendWin, h.sendWin)
		if n <= 0 {
			// Out of window: flush and read frames until WINDOW_UPDATE
			// (or the response).
			if err := h.bw.Flush(); err != nil {
				return s, time.Time{}, err
			}
			if err := s.step(); err != nil {
				return s, time.Time{}, err
			}
			if len(s.pending) > 0 {
				// The server answers before our body is sent: keep its
				// DATA, the framer's buffer is reused by the next read.
				s.early = append(s.early, s.pending...)
				s.pending = nil
			}
			continue
		}
		if err := h.fr.WriteData(s.id, int(n) == len(body), body[:n]); err != nil {
			return s, time.Time{}, err
		}
		body = body[n:]
		s.sendWin -= n
		h.sendWin -= n
	}
	if err := h.bw.Flush(); err != nil {
		return s, time.Time{}, err
	}
	return s, time.Now(), nil
}

// encodeHeaders fills h.hb with the request's header block, following
// net/http's rules for HTTP/2 requests: pseudo-headers first, lower-case
// names, no connection-specific fields, content-length when there is a
// body or the method expects one.
func (h *h2Conn) encodeHeaders(method string, u *url.URL, header http.Header, bodyLen int) error {
	host := u.Host
	if v := header.Get("Host"); v != "" {
		host = v
	}
	if !httpguts.ValidHostHeader(host) {
		return fmt.Errorf("http2: invalid Host header %q", host)
	}
	path := u.RequestURI()
	if !validPseudoPath(path) {
		return fmt.Errorf("http2: invalid request :path %q", path)
	}
	h.hb.Reset()
	var listSize uint64
	write := func(name, value string) {
		listSize += uint64(len(name) + len(value) + 32)
		_ = h.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
	}
	write(":authority", host)
	write(":method", method)
	write(":path", path)
	write(":scheme", "https")
	for k, vs := range header {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		lk := lowerHeader(k)
		switch lk {
		case "host", "content-length", "connection", "proxy-connection", "transfer-encoding", "upgrade", "keep-alive":
			continue
		case "user-agent":
			if len(vs) > 0 && vs[0] == "" {
				continue // "" means no User-Agent, as in k6
			}
		case "te":
			// Only "trailers" may go over HTTP/2.
			if len(vs) != 1 || vs[0] != "trailers" {
				continue
			}
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid value for header %s", k)
			}
			write(lk, v)
		}
	}
	if u.User != nil && header.Get("Authorization") == "" {
		pw, _ := u.User.Password()
		write("authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw)))
	}
	if bodyLen > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		var num [20]byte
		write("content-length", string(strconv.AppendInt(num[:0], int64(bodyLen), 10)))
	}
	if h.maxHeaderList > 0 && listSize > uint64(h.maxHeaderList) {
		return fmt.Errorf("http2: request header list larger than peer's advertised limit (%d > %d)", listSize, h.maxHeaderList)
	}
	return nil
}

func validPseudoPath(p string) bool {
	return p != "" && (p[0] == '/' || p == "*")
}

// lowerHeader lower-cases a canonical header name without allocating for
// the common names.
func lowerHeader(k string) string {
	switch k {
	case "User-Agent":
		return "user-agent"
	case "Accept":
		return "accept"
	case "Content-Type":
		return "content-type"
	case "Cookie":
		return "cookie"
	case "Authorization":
		return "authorization"
	case "Accept-Encoding":
		return "accept-encoding"
	}
	return strings.ToLower(k)
}

// writeHeaderBlock writes h.hb as HEADERS (+CONTINUATION) frames of at
// most the peer's max frame size.
func (h *h2Conn) writeHeaderBlock(id uint32, endStream bool) error {
	block := h.hb.Bytes()
	first := true
	for first || len(block) > 0 {
		chunk := block
		if len(chunk) > int(h.maxFrame) {
			chunk = chunk[:h.maxFrame]
		}
		block = block[len(chunk):]
		var err error
		if first {
			err = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: chunk, EndStream: endStream, EndHeaders: len(block) == 0})
			first = false
		} else {
			err = h.fr.WriteContinuation(id, len(block) == 0, chunk)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readHeaders reads frames until the stream's final response headers.
func (s *h2Stream) readHeaders(method string) error {
	for !s.gotResp {
		if err := s.step(); err != nil {
			return err
		}
		if s.rst && !s.gotResp {
			return h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeNo)}
		}
	}
	if method == http.MethodHead {
		s.resp.Request = &http.Request{Method: method}
	}
	return nil
}

// step reads and handles one frame. Frames of the connection and of other
// (older) streams are handled here; the stream's DATA is left in pending.
func (s *h2Stream) step() error {
	h := s.h
	f, err := h.fr.ReadFrame()
	if err != nil {
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			h.goAwayNow(http2.ErrCode(ce))
			return http2ConnectionError(ce)
		}
		var se http2.StreamError
		if errors.As(err, &se) {
			if se.StreamID == s.id {
				return h2StreamError{StreamID: se.StreamID, Code: uint32(se.Code)}
			}
			return nil
		}
		if s.goAwayUnprocessed() {
			return errH2Unprocessed{http2GoAwayError{LastStreamID: h.goAwayLast, ErrCode: uint32(h.goAwayCode)}}
		}
		if h.goAway {
			return http2GoAwayError{LastStreamID: h.goAwayLast, ErrCode: uint32(h.goAwayCode)}
		}
		return err
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		if f.StreamID != s.id {
			return nil // a late frame of an abandoned stream
		}
		if s.firstByte.IsZero() {
			s.firstByte = time.Now()
		}
		if s.gotResp {
			// Trailers: k6 does not expose them; they must end the stream.
			if !f.StreamEnded() {
				return h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol)}
			}
			s.ended = true
			return nil
		}
		if f.Truncated {
			return fmt.Errorf("http2: response header list larger than %d bytes", h2MaxHeaderList)
		}
		status := f.PseudoValue("status")
		code, err := strconv.Atoi(status)
		if err != nil || len(status) != 3 {
			return h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol), Cause: fmt.Errorf("malformed :status %q", status)}
		}
		if code >= 100 && code < 200 {
			return nil // interim response (100 Continue, 103 Early Hints)
		}
		s.gotResp = true
		fields := f.RegularFields()
		hdr := make(http.Header, len(fields))
		for _, hf := range fields {
			k := http.CanonicalHeaderKey(hf.Name)
			hdr[k] = append(hdr[k], hf.Value)
		}
		resp := &http.Response{StatusCode: code, Status: status + " " + http.StatusText(code), Proto: "HTTP/2.0", ProtoMajor: 2,
			Header: hdr, ContentLength: -1}
		if cl := hdr.Get("Content-Length"); cl != "" {
			if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
				resp.ContentLength = n
			}
		}
		if f.StreamEnded() {
			s.ended = true
			resp.Body = http.NoBody
		} else {
			resp.Body = h2Body{s}
		}
		s.resp = resp
	case *http2.DataFrame:
		n := int64(f.Length)
		h.recvUsed += n
		if f.StreamID != s.id {
			return h.giveBack()
		}
		if !s.gotResp {
			return h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol), Cause: errors.New("DATA before HEADERS")}
		}
		s.recvUsed += n
		s.pending = f.Data()
		if f.StreamEnded() {
			s.ended = true
		}
		if !s.ended {
			return h.giveBack()
		}
	case *http2.RSTStreamFrame:
		if f.StreamID != s.id {
			return nil
		}
		if s.ended {
			return nil
		}
		if f.ErrCode == http2.ErrCodeNo && s.gotResp {
			// The server finished its answer before reading our body.
			s.rst = true
			return nil
		}
		se := h2StreamError{StreamID: s.id, Code: uint32(f.ErrCode)}
		if f.ErrCode == http2.ErrCodeRefusedStream {
			return errH2Unprocessed{se}
		}
		return se
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		err := f.ForeachSetting(func(st http2.Setting) error {
			switch st.ID {
			case http2.SettingMaxFrameSize:
				h.maxFrame = st.Val
			case http2.SettingInitialWindowSize:
				delta := int64(st.Val) - int64(h.initSendWin)
				h.initSendWin = int32(st.Val)
				s.sendWin += delta
			case http2.SettingHeaderTableSize:
				h.enc.SetMaxDynamicTableSize(st.Val)
			case http2.SettingMaxHeaderListSize:
				h.maxHeaderList = st.Val
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := h.fr.WriteSettingsAck(); err != nil {
			return err
		}
		return h.bw.Flush()
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if err := h.fr.WritePing(true, f.Data); err != nil {
			return err
		}
		return h.bw.Flush()
	case *http2.WindowUpdateFrame:
		switch f.StreamID {
		case 0:
			h.sendWin += int64(f.Increment)
		case s.id:
			s.sendWin += int64(f.Increment)
		}
	case *http2.GoAwayFrame:
		h.goAway, h.goAwayLast, h.goAwayCode = true, f.LastStreamID, f.ErrCode
		if s.goAwayUnprocessed() {
			return errH2Unprocessed{http2GoAwayError{LastStreamID: f.LastStreamID, ErrCode: uint32(f.ErrCode), DebugData: string(f.DebugData())}}
		}
	case *http2.PushPromiseFrame:
		h.goAwayNow(http2.ErrCodeProtocol) // we sent ENABLE_PUSH=0
		return http2ConnectionError(http2.ErrCodeProtocol)
	}
	return nil
}

// goAwayUnprocessed: the server announced it will not process this stream.
func (s *h2Stream) goAwayUnprocessed() bool {
	return s.h.goAway && s.id > s.h.goAwayLast && !s.gotResp
}

// goAwayNow tells the server we are closing on a protocol error.
func (h *h2Conn) goAwayNow(code http2.ErrCode) {
	h.goAway = true
	_ = h.fr.WriteGoAway(0, code, nil)
	_ = h.bw.Flush()
}

// giveBack sends WINDOW_UPDATE for what was received once half of the
// connection's (or the stream's) window is used, so the server never
// stalls on a large response.
func (h *h2Conn) giveBack() error {
	wrote := false
	if h.recvUsed >= h2ConnWindow/2 {
		if err := h.fr.WriteWindowUpdate(0, uint32(h.recvUsed)); err != nil {
			return err
		}
		h.recvUsed, wrote = 0, true
	}
	if !wrote {
		return nil
	}
	return h.bw.Flush()
}

// settle handles frames already buffered after the response (a GOAWAY or
// PING that arrived with it) without blocking, so a connection the server
// is closing does not go back to the pool.
func (h *h2Conn) settle() {
	idle := &h2Stream{h: h, id: 0, gotResp: true, ended: true}
	for h.br.Buffered() >= 9 {
		hdr, err := h.br.Peek(9)
		if err != nil {
			return
		}
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if h.br.Buffered() < 9+length {
			return // a partial frame: leave it for the next request
		}
		if err := idle.step(); err != nil {
			h.goAway = true
			return
		}
	}
}

// drain reads the rest of the stream (trailers, or DATA the body reader
// did not need).
func (s *h2Stream) drain() error {
	for !s.ended && !s.rst {
		s.pending = nil
		if err := s.step(); err != nil {
			return err
		}
	}
	s.pending = nil
	return nil
}

// h2Body reads the stream's DATA as the response body, reading frames on
// the caller's goroutine. It gives the stream window back as the body is
// consumed.
type h2Body struct{ s *h2Stream }

func (b h2Body) Read(p []byte) (int, error) {
	s := b.s
	if len(s.early) > 0 {
		n := copy(p, s.early)
		s.early = s.early[n:]
		return n, nil
	}
	for len(s.pending) == 0 {
		if s.ended || s.rst {
			return 0, io.EOF
		}
		if err := s.step(); err != nil {
			return 0, err
		}
		if len(s.pending) == 0 && !s.ended {
			if err := s.streamGiveBack(); err != nil {
				return 0, err
			}
		}
	}
	n := copy(p, s.pending)
	s.pending = s.pending[n:]
	if len(s.pending) == 0 && !s.ended {
		if err := s.streamGiveBack(); err != nil {
			return n, err
		}
	}
	return n, nil
}

func (b h2Body) Close() error { return nil }

// streamGiveBack refills the stream's receive window at half use.
func (s *h2Stream) streamGiveBack() error {
	if s.recvUsed < h2StreamWindow/2 {
		return nil
	}
	if err := s.h.fr.WriteWindowUpdate(s.id, uint32(s.recvUsed)); err != nil {
		return err
	}
	s.recvUsed = 0
	return s.h.bw.Flush()
}

// h2Timings are k6's phases: as h1's, plus the TLS handshake of a new
// connection (between the TCP connect and gotConn).
func h2Timings(start, connectStart, connectDone, tlsDone, gotConn, wrote, firstByte, end time.Time) httpkit.Timings {
	t := h1Timings(start, connectStart, connectDone, gotConn, wrote, firstByte, end)
	if !connectStart.IsZero() {
		t.TLSHandshaking = durBetween(connectDone, tlsDone)
	}
	return t
}
