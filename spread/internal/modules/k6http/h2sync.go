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

// Why k6/http has its own HTTP/2 client (issue 17). k6 users' http.get
// and http.post run one request at a time per VU, on the VU's own
// connection. On net/http's Transport each such request crosses three
// goroutines: the VU writes HEADERS, the connection's read loop reads and
// decodes the response and hands it over through channels and a body
// pipe, and the VU wakes up to read it. The CPU profile of `http.get`
// against Go's h2 server (docs/bench/profiles.md) had the read loop at
// ~30% of the client's CPU, plus select/park/unpark for those hand-offs
// and per-request net/http machinery (Request, httptrace, contexts,
// pipes): 46-58 µs of client CPU per request against 29 µs for h2load -m1.
//
// Here the goroutine that waits for a response reads the frames itself:
// with one request in flight (the usual case) the whole exchange runs on
// the VU's goroutine, with no hand-off at all. Requests in flight together
// on one connection (http.batch, http.asyncRequest) share it: whichever of
// them is not already served by another reader reads the next frame and
// delivers it to its stream, the others wait on a condition variable, so
// a VU still keeps one connection per host, as with net/http (what pins
// it to one pod). Framing and header compression are
// golang.org/x/net/http2's Framer and hpack; only the client's stream and
// flow-control bookkeeping is written here. A server that picks HTTP/1.1
// by ALPN gets the connection handed to the synchronous h1 client (h1.go).
// SPREAD_K6HTTP_H2=nethttp puts https back on net/http's Transport.

// h2SyncOn: https requests use this client (unless HTTP/2 is off, h1.go).
var h2SyncOn = os.Getenv("SPREAD_K6HTTP_H2") != "nethttp"

const (
	// Our receive windows. The stream window bounds a response's bytes in
	// flight (and buffered for a reader that is not reading); the
	// connection window is larger so a few streams do not wait on it.
	// WINDOW_UPDATE goes out when half a window was used.
	h2StreamWindow = 4 << 20
	h2ConnWindow   = 16 << 20
	// Largest response header list we accept (net/http's default).
	h2MaxHeaderList = 10 << 20
	// We do not raise SETTINGS_MAX_FRAME_SIZE, so a frame is at most
	// 16 KiB; the read buffer holds a whole frame (see readOne).
	h2MaxReadFrame = 16 << 10
	// Attempts of a request the server did not process (GOAWAY below its
	// stream, REFUSED_STREAM, a stale pooled connection).
	h2MaxAttempts = 4
)

// h2Conn is one HTTP/2 connection of a VU.
type h2Conn struct {
	cc  *countingConn
	br  *bufio.Reader
	bw  *bufio.Writer
	fr  *http2.Framer
	key string

	remoteIP   string
	port       int
	tlsVersion string
	tlsState   *tls.ConnectionState

	// wmu serialises writes: frames, the hpack encoder, and stream IDs in
	// the order their HEADERS go out. Never taken while holding mu.
	wmu       sync.Mutex
	enc       *hpack.Encoder
	hb        bytes.Buffer
	wDeadline time.Time

	names map[string]string // response header names seen: lower-case -> canonical (guarded by mu)
	spare []byte            // a finished stream's DATA buffer, for the next one (guarded by mu)

	mu        sync.Mutex
	cond      sync.Cond // on mu: a frame was handled, or the reader left
	reading   bool      // a goroutine is reading frames
	rDeadline time.Time // the read deadline set on the socket
	streams   map[uint32]*h2Stream
	nextID    uint32
	reserved  int  // requests holding the connection
	used      bool // carried a request before (a failure may be a stale connection)
	dropped   bool // out of the pool: close when the last request leaves
	// Peer settings.
	maxFrame      uint32
	initSendWin   int64
	maxHeaderList uint32 // 0: unlimited
	maxStreams    uint32
	// Flow control: what we may send on the connection, and what we
	// received and have not given back.
	sendWin  int64
	recvUsed int64
	goAway   bool
	goAwayID uint32
	goAwayEC http2.ErrCode
	err      error // the connection failed: every stream fails with it
}

// h2Stream is one request on a connection; its fields are guarded by the
// connection's mu.
type h2Stream struct {
	h         *h2Conn
	id        uint32 // 0 until its HEADERS are written
	deadline  time.Time
	slack     time.Duration // how late the socket's deadline may fire (deadlineSlack)
	sendWin   int64
	consumed  int64 // body bytes read since the last stream WINDOW_UPDATE
	gotResp   bool  // final (non-1xx) HEADERS seen
	ended     bool  // END_STREAM received
	sentAll   bool  // our END_STREAM went out
	err       error
	buf       []byte // DATA received and not yet read
	off       int
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

// h2Pool holds a VU's HTTP/2 connections, one per host:port, shared by
// the requests in flight, and the hosts that chose HTTP/1.1 by ALPN.
type h2Pool struct {
	mu     sync.Mutex
	conns  map[string]*h2Conn
	h1Only map[string]bool
}

// get reserves the pooled connection to key, if it takes another stream.
func (p *h2Pool) get(key string) *h2Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.conns[key]
	if h == nil {
		return nil
	}
	h.mu.Lock()
	ok := h.err == nil && !h.goAway && !h.dropped && uint32(h.reserved) < h.maxStreams && h.nextID < 1<<31-1
	if ok {
		h.reserved++
	} else if h.err != nil || h.goAway || h.dropped {
		delete(p.conns, key)
	}
	h.mu.Unlock()
	if !ok {
		return nil
	}
	return h
}

// add pools a new connection (already reserved by its first request),
// unless another request pooled one meanwhile: then h serves only its
// own request.
func (p *h2Pool) add(key string, h *h2Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		p.conns = map[string]*h2Conn{}
	}
	if old := p.conns[key]; old != nil {
		old.mu.Lock()
		usable := old.err == nil && !old.goAway && !old.dropped
		old.mu.Unlock()
		if usable {
			h.mu.Lock()
			h.dropped = true
			h.mu.Unlock()
			return
		}
	}
	p.conns[key] = h
}

func (p *h2Pool) isH1(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.h1Only[key]
}

func (p *h2Pool) setH1(key string) {
	p.mu.Lock()
	if p.h1Only == nil {
		p.h1Only = map[string]bool{}
	}
	p.h1Only[key] = true
	p.mu.Unlock()
}

// closeIdle closes the connections no request holds and drops the others
// (closed when their last request ends).
func (p *h2Pool) closeIdle() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, h := range conns {
		h.mu.Lock()
		h.dropped = true
		idle := h.reserved == 0
		h.mu.Unlock()
		if idle {
			_ = h.cc.Close()
		}
	}
}

// h2RoundTrip sends one https request on the VU's HTTP/2 connection to the
// host (dialing it if needed) and reads its response.
func (c *client) h2RoundTrip(deadline time.Time, rq *request, res *httpkit.Result, method string, u *url.URL, body []byte) (*countingConn, string) {
	key := hostPortKey(u) // the h2 pool holds TLS connections only: no "tls:" prefix to build per request
	if c.h2.isH1(key) {
		return c.h1RoundTrip(deadline, rq, res, method, u, body)
	}
	replayable := method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
		rq.header.Get("Idempotency-Key") != "" || rq.header.Get("X-Idempotency-Key") != ""
	closeAfter := c.cfg.NoConnectionReuse || hasToken(rq.header.Values("Connection"), "close")
	for attempt := 1; ; attempt++ {
		var connectStart, connectDone, tlsDone time.Time
		h := c.h2.get(key)
		if h != nil && !replayable && !h.quietOrSettled() {
			h.release(nil)
			h = nil
		}
		if h == nil {
			nc, start, err := c.dialDeadline(hostPortKey(u), deadline)
			connectStart, connectDone = start, time.Now()
			if err != nil {
				if connectStart.IsZero() {
					connectStart = connectDone
				}
				res.Timings = httpkit.Timings{Blocked: connectStart.Sub(res.Start), Connecting: connectDone.Sub(connectStart)}
				c.h1Fail(res, err, deadline)
				return nil, ""
			}
			tc, err := c.tlsHandshake(nc, u.Hostname(), deadline, h2Protos)
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
			h = newH2Conn(key, nc, tc, &st)
			c.h2.add(key, h)
		}
		gotConn := time.Now()
		res.RemoteIP, res.RemotePort = h.remoteIP, h.port
		res.TLSVersion, res.TLSState = h.tlsVersion, h.tlsState
		reused := h.markUsed()
		s := &h2Stream{h: h, deadline: deadline, slack: deadlineSlack(rq.timeout)}
		wrote, err := h.send(s, method, u, rq.header, body)
		if err == nil {
			err = h.await(s, waitHeaders)
		}
		if err != nil {
			h.release(s)
			var unproc errH2Unprocessed
			retry := attempt < h2MaxAttempts && (errors.As(err, &unproc) ||
				reused && replayable && s.firstByte.IsZero() && staleConnError(err))
			if retry && (deadline.IsZero() || time.Now().Before(deadline)) {
				continue
			}
			res.Timings = h2Timings(res.Start, connectStart, connectDone, tlsDone, gotConn, wrote, s.firstByte, time.Now())
			c.h1Fail(res, err, deadline)
			return h.cc, ""
		}
		resp := s.resp
		if method == http.MethodHead {
			resp.Request = &http.Request{Method: method} // readBody reads no body for HEAD
		}
		data, readErr := readBody(resp, resp.Header, rq)
		if readErr == nil {
			readErr = h.await(s, waitEnd) // trailers, or DATA a bodiless response had
		}
		end := time.Now()
		res.Timings = h2Timings(res.Start, connectStart, connectDone, tlsDone, gotConn, wrote, s.firstByte, end)
		res.Proto = resp.Proto
		res.Headers = resp.Header
		c.sawHost(u.Host)
		if closeAfter {
			h.drop(&c.h2)
		}
		h.release(s)
		if readErr != nil {
			c.h1Fail(res, readErr, deadline)
			return h.cc, ""
		}
		return h.cc, c.finish(res, rq, resp, resp.Header, data)
	}
}

// h2FallbackH1 runs the request as HTTP/1.1 on a TLS connection whose
// server chose HTTP/1.1 by ALPN, on the synchronous h1 client, and reports
// the dial and handshake this request paid for. Later requests to the host
// go to the h1 client directly.
func (c *client) h2FallbackH1(deadline time.Time, rq *request, res *httpkit.Result, method string, u *url.URL, body []byte,
	nc *countingConn, tc *tls.Conn, st *tls.ConnectionState, connectStart, connectDone, tlsDone time.Time) (*countingConn, string) {
	hc := &h1Conn{cc: nc, rw: tc, tlsVersion: tlsVersionName(st.Version), tlsState: st}
	if sc, ok := nc.Conn.(syscallConn); ok {
		hc.raw, _ = sc.SyscallConn()
	}
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		hc.remoteIP, hc.port = a.IP.String(), a.Port
	}
	c.h2.setH1(hostPortKey(u))
	c.h1.put("tls:"+hostPortKey(u), hc)
	conn, loc := c.h1RoundTrip(deadline, rq, res, method, u, body)
	if res.Timings.Connecting == 0 && res.Timings.TLSHandshaking == 0 {
		// h1RoundTrip took the connection from the pool and counted the
		// dial and handshake as blocked: split them out as k6 reports them.
		res.Timings.Blocked = durBetween(res.Start, connectStart)
		res.Timings.Connecting = durBetween(connectStart, connectDone)
		res.Timings.TLSHandshaking = durBetween(connectDone, tlsDone)
		res.Timings.Sending = max(0, res.Timings.Sending-durBetween(res.Start, tlsDone))
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

// ALPN offers, allocated once: the HTTP/1.1-only client offers http/1.1
// alone; the HTTP/2 client offers h2 and falls back to http/1.1.
var (
	h1Protos = []string{"http/1.1"}
	h2Protos = []string{"h2", "http/1.1"}
)

// tlsHandshake runs crypto/tls's handshake with the VU's TLS settings (as
// net/http's Transport would: SNI and verification for host), offering
// protos by ALPN (the h1 and h2 clients' one handshake).
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

// newH2Conn wraps a TLS connection that negotiated h2, reserved for its
// first request. The client preface, our SETTINGS and the connection
// window go out with that request's HEADERS.
func newH2Conn(key string, nc *countingConn, tc *tls.Conn, st *tls.ConnectionState) *h2Conn {
	h := &h2Conn{cc: nc, key: key, nextID: 1, maxFrame: 16384, initSendWin: 65535, sendWin: 65535, maxStreams: 1000,
		reserved: 1, streams: map[uint32]*h2Stream{}, tlsVersion: tlsVersionName(st.Version), tlsState: st}
	h.cond.L = &h.mu
	h.br = bufio.NewReaderSize(tc, 2*h2MaxReadFrame)
	h.bw = bufio.NewWriterSize(tc, 16<<10)
	h.fr = http2.NewFramer(h.bw, h.br)
	h.fr.SetMaxReadFrameSize(h2MaxReadFrame)
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

// markUsed reports whether the connection carried a request before.
func (h *h2Conn) markUsed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	was := h.used
	h.used = true
	return was
}

// drop takes the connection out of the pool (Connection: close,
// noConnectionReuse): it closes once its requests are done.
func (h *h2Conn) drop(p *h2Pool) {
	p.mu.Lock()
	if p.conns[h.key] == h {
		delete(p.conns, h.key)
	}
	p.mu.Unlock()
	h.mu.Lock()
	h.dropped = true
	h.mu.Unlock()
}

// release ends a request's hold on the connection (s nil: one that never
// opened a stream). A stream that is not complete is reset. The
// connection closes when it failed, or is out of the pool, and no request
// holds it any more.
func (h *h2Conn) release(s *h2Stream) {
	h.mu.Lock()
	var rst uint32
	if s != nil && s.id != 0 {
		if h.streams[s.id] == s {
			delete(h.streams, s.id)
			if (!s.ended || !s.sentAll) && h.err == nil {
				rst = s.id
			}
		}
	}
	if s != nil && cap(s.buf) <= 64<<10 && s.off == len(s.buf) {
		h.spare = s.buf[:0] // the body was copied out of it (readBody)
	}
	h.reserved--
	closeNow := h.reserved == 0 && (h.err != nil || h.dropped || h.goAway)
	h.mu.Unlock()
	if rst != 0 && !closeNow {
		h.write(func() error { return h.fr.WriteRSTStream(rst, http2.ErrCodeCancel) })
	}
	if closeNow {
		_ = h.cc.Close()
	}
}

// write runs fn (frame writes) under the write lock and flushes; a failed
// write fails the connection.
func (h *h2Conn) write(fn func() error) {
	h.wmu.Lock()
	if !h.wDeadline.IsZero() && time.Until(h.wDeadline) < 5*time.Second {
		// The last request's deadline (maybe passed: this may be the
		// RST_STREAM of its timeout) must not fail a control frame.
		h.setWriteDeadline(time.Now().Add(10*time.Second), 0)
	}
	err := fn()
	if err == nil {
		err = h.bw.Flush()
	}
	h.wmu.Unlock()
	if err != nil {
		h.fail(err)
	}
}

// fail marks the connection broken: every request on it gets err.
func (h *h2Conn) fail(err error) {
	h.mu.Lock()
	if h.err == nil {
		h.err = err
	}
	h.cond.Broadcast()
	h.mu.Unlock()
	_ = h.cc.Close()
}

// quietOrSettled checks a reused connection before a request that must
// not be retried goes on it: if bytes arrived while it was idle (a GOAWAY,
// a PING, a WINDOW_UPDATE, the server's close), they are read first, so
// the request is not sent to a server that is going away.
func (h *h2Conn) quietOrSettled() bool {
	tc, ok := h.cc.Conn.(syscallConn)
	if !ok {
		return true
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	h.mu.Lock()
	if h.reserved != 1 || h.reading {
		h.mu.Unlock()
		return true // other requests in flight: the connection is being read
	}
	h.reading = true
	h.rDeadline = time.Now().Add(20 * time.Millisecond) // bounds waiting for the rest of a frame
	_ = h.cc.SetReadDeadline(h.rDeadline)
	h.mu.Unlock()
	for i := 0; i < 64 && (h.br.Buffered() > 0 || !peekAlive(raw)); i++ {
		timedOut, err := h.readOne()
		if err != nil {
			h.fail(err)
		}
		if err != nil || timedOut {
			break
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reading = false
	h.cond.Broadcast()
	return h.err == nil && !h.goAway
}

// send opens s's stream: HEADERS (+CONTINUATION) and the body as DATA
// within the flow-control windows. It returns when the last byte went out
// (or the server answered before the body was all sent).
func (h *h2Conn) send(s *h2Stream, method string, u *url.URL, header http.Header, body []byte) (time.Time, error) {
	if err := validateH2Request(u, header); err != nil {
		return time.Time{}, err
	}
	h.wmu.Lock()
	h.setWriteDeadline(s.deadline, s.slack)
	h.mu.Lock()
	s.buf, h.spare = h.spare, nil
	if h.err != nil || h.goAway {
		err := h.errFor(s)
		h.mu.Unlock()
		h.wmu.Unlock()
		return time.Time{}, err
	}
	if err := checkListSize(method, u, header, h.maxHeaderList); err != nil {
		h.mu.Unlock()
		h.wmu.Unlock()
		return time.Time{}, err
	}
	s.id = h.nextID
	h.nextID += 2
	s.sendWin = h.initSendWin
	h.streams[s.id] = s
	maxFrame := h.maxFrame
	if !s.deadline.IsZero() && h.reading && (h.rDeadline.IsZero() || s.deadline.Before(h.rDeadline)) {
		h.rDeadline = s.deadline // wake the reader in time for this stream
		_ = h.cc.SetReadDeadline(s.deadline)
	}
	h.mu.Unlock()
	err := h.encodeHeaders(method, u, header, len(body))
	if err == nil {
		err = h.writeHeaderBlock(s.id, len(body) == 0, maxFrame)
	}
	for err == nil && len(body) > 0 {
		h.mu.Lock()
		stop := s.ended || s.err != nil || h.err != nil
		n := min(int64(len(body)), int64(h.maxFrame), s.sendWin, h.sendWin)
		if n > 0 && !stop {
			s.sendWin -= n
			h.sendWin -= n
		}
		h.mu.Unlock()
		if stop {
			break // answered (or failed) before the body went out: release resets the stream
		}
		if n <= 0 {
			// Out of window: flush, then read frames (or wait for the
			// reader) until WINDOW_UPDATE or the response.
			err = h.bw.Flush()
			h.wmu.Unlock()
			if err == nil {
				err = h.await(s, waitWindow)
			}
			h.wmu.Lock()
			h.setWriteDeadline(s.deadline, s.slack)
			continue
		}
		last := int(n) == len(body)
		err = h.fr.WriteData(s.id, last, body[:n])
		body = body[n:]
		if last {
			h.mu.Lock()
			s.sentAll = true
			h.mu.Unlock()
		}
	}
	if len(body) == 0 && err == nil {
		h.mu.Lock()
		s.sentAll = true
		h.mu.Unlock()
	}
	if err == nil {
		err = h.bw.Flush()
	}
	h.wmu.Unlock()
	if err != nil {
		if _, ok := err.(requestHeaderError); !ok {
			h.fail(err)
		}
		return time.Time{}, err
	}
	return time.Now(), nil
}

// setWriteDeadline bounds writes by the writing request's deadline (wmu
// held), keeping the one in place when it is within slack (as h1.go does:
// re-arming the socket's timer per request is a visible CPU cost).
func (h *h2Conn) setWriteDeadline(d time.Time, slack time.Duration) {
	if !keepDeadline(h.wDeadline, d, slack) {
		h.wDeadline = withSlack(d, slack)
		_ = h.cc.SetWriteDeadline(h.wDeadline)
	}
}

// keepDeadline: the socket's deadline cur already serves d: no earlier,
// and at most slack later.
func keepDeadline(cur, d time.Time, slack time.Duration) bool {
	if d.IsZero() {
		return cur.IsZero()
	}
	return !cur.IsZero() && !cur.Before(d) && cur.Sub(d) <= slack
}

func withSlack(d time.Time, slack time.Duration) time.Time {
	if d.IsZero() {
		return d
	}
	return d.Add(slack)
}

// requestHeaderError is a request the client refuses to send (before any
// byte of it went out, so the connection stays usable).
type requestHeaderError struct{ error }

// validateH2Request checks what encodeHeaders would otherwise have to
// abandon half-way, which would leave the hpack encoder's table out of
// step with the server's.
func validateH2Request(u *url.URL, header http.Header) error {
	host := u.Host
	if v := header.Get("Host"); v != "" {
		host = v
	}
	if !httpguts.ValidHostHeader(host) {
		return requestHeaderError{fmt.Errorf("http2: invalid Host header %q", host)}
	}
	if p := u.RequestURI(); p == "" || (p[0] != '/' && p != "*") {
		return requestHeaderError{fmt.Errorf("http2: invalid request :path %q", p)}
	}
	for k, vs := range header {
		if !httpguts.ValidHeaderFieldName(k) {
			return requestHeaderError{fmt.Errorf("invalid header name %q", k)}
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return requestHeaderError{fmt.Errorf("invalid value for header %s", k)}
			}
		}
	}
	return nil
}

// encodeHeaders fills h.hb with the request's header block (wmu held),
// following net/http's rules for HTTP/2 requests: pseudo-headers first,
// lower-case names, no connection-specific fields, content-length when
// there is a body or the method expects one.
func (h *h2Conn) encodeHeaders(method string, u *url.URL, header http.Header, bodyLen int) error {
	host := u.Host
	if v := header.Get("Host"); v != "" {
		host = v
	}
	h.hb.Reset()
	write := func(name, value string) {
		_ = h.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
	}
	write(":authority", host)
	write(":method", method)
	write(":path", u.RequestURI())
	write(":scheme", "https")
	for k, vs := range header {
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
	return nil
}

// checkListSize refuses a request whose header list exceeds the server's
// SETTINGS_MAX_HEADER_LIST_SIZE (0: no limit), before anything of it is
// encoded, so the encoder's table stays as the server knows it.
func checkListSize(method string, u *url.URL, header http.Header, maxList uint32) error {
	if maxList == 0 {
		return nil
	}
	n := uint64(len(u.Host) + len(method) + len(u.RequestURI()) + 5 + 4*32)
	for k, vs := range header {
		for _, v := range vs {
			n += uint64(len(k) + len(v) + 32)
		}
	}
	if n > uint64(maxList) {
		return requestHeaderError{fmt.Errorf("http2: request header list larger than peer's advertised limit (%d > %d)", n, maxList)}
	}
	return nil
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
// most the peer's max frame size (wmu held).
func (h *h2Conn) writeHeaderBlock(id uint32, endStream bool, maxFrame uint32) error {
	block := h.hb.Bytes()
	first := true
	for first || len(block) > 0 {
		chunk := block
		if len(chunk) > int(maxFrame) {
			chunk = chunk[:maxFrame]
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

// What a request waits for.
type h2Wait int

const (
	waitHeaders h2Wait = iota // the final response headers
	waitWindow                // send window, or the stream's end
	waitData                  // body bytes, or the stream's end
	waitEnd                   // the stream's end (trailers)
)

func (s *h2Stream) satisfied(w h2Wait) bool {
	switch w {
	case waitHeaders:
		return s.gotResp
	case waitWindow:
		return s.ended || s.sendWin > 0 && s.h.sendWin > 0
	case waitData:
		return s.off < len(s.buf) || s.ended
	case waitEnd:
		return s.ended
	}
	return false
}

// await blocks until s has what w asks for, its error, or the
// connection's. While no other request reads the connection, the caller
// reads frames itself (and delivers those of other streams to them);
// otherwise it waits for the reader to deliver.
func (h *h2Conn) await(s *h2Stream, w h2Wait) error {
	h.mu.Lock()
	for {
		if s.satisfied(w) {
			h.mu.Unlock()
			return nil
		}
		if s.err != nil {
			err := s.err
			h.mu.Unlock()
			return err
		}
		if h.err != nil {
			err := h.errFor(s)
			h.mu.Unlock()
			return err
		}
		if h.reading {
			h.cond.Wait()
			continue
		}
		h.reading = true
		dl, slack := s.deadline, s.slack
		for _, o := range h.streams {
			if o.ended || o.err != nil {
				continue // nothing more to read for it: its deadline no longer matters
			}
			if !o.deadline.IsZero() && (dl.IsZero() || o.deadline.Before(dl)) {
				dl, slack = o.deadline, min(slack, o.slack)
			}
		}
		if !keepDeadline(h.rDeadline, dl, slack) {
			h.rDeadline = withSlack(dl, slack)
			_ = h.cc.SetReadDeadline(h.rDeadline)
		}
		h.mu.Unlock()
		timedOut, err := h.readOne()
		if err != nil {
			h.fail(err)
		}
		h.mu.Lock()
		h.reading = false
		h.cond.Broadcast()
		if timedOut {
			rst := h.expire()
			if len(rst) > 0 {
				h.mu.Unlock()
				h.write(func() error {
					for _, id := range rst {
						if err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
							return err
						}
					}
					return nil
				})
				h.mu.Lock()
			}
		}
	}
}

// expire fails the streams whose deadline passed (mu held) and returns
// their IDs, to be reset.
func (h *h2Conn) expire() []uint32 {
	now := time.Now()
	var ids []uint32
	for id, o := range h.streams {
		if !o.deadline.IsZero() && !now.Before(o.deadline) && o.err == nil && !o.ended {
			o.err = errRequestTimeout
			delete(h.streams, id)
			ids = append(ids, id)
		}
	}
	return ids
}

// errFor is the error a stream gets from a failed or closing connection
// (mu held).
func (h *h2Conn) errFor(s *h2Stream) error {
	if h.goAway && (s.id == 0 || s.id > h.goAwayID) {
		return errH2Unprocessed{http2GoAwayError{LastStreamID: h.goAwayID, ErrCode: uint32(h.goAwayEC)}}
	}
	if h.goAway {
		if errors.Is(h.err, io.EOF) || errors.Is(h.err, io.ErrUnexpectedEOF) || staleConnError(h.err) || h.err == nil {
			return http2GoAwayError{LastStreamID: h.goAwayID, ErrCode: uint32(h.goAwayEC)}
		}
	}
	return h.err
}

// readOne reads one frame and handles it. The whole frame is in the read
// buffer before the Framer sees it (Peek), so a read deadline that fires
// (another request's timeout) never leaves the Framer half-way through a
// frame: timedOut then, and the connection stays usable.
func (h *h2Conn) readOne() (timedOut bool, err error) {
	hdr, err := h.br.Peek(9)
	if err == nil {
		if n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2]); n <= h2MaxReadFrame {
			_, err = h.br.Peek(9 + n)
		}
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return true, nil
		}
		return false, err
	}
	f, err := h.fr.ReadFrame()
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) {
			h.mu.Lock()
			if s := h.streams[se.StreamID]; s != nil && s.err == nil {
				s.err = h2StreamError{StreamID: se.StreamID, Code: uint32(se.Code)}
				delete(h.streams, se.StreamID) // reset here, not again by release
			}
			h.mu.Unlock()
			h.write(func() error { return h.fr.WriteRSTStream(se.StreamID, se.Code) })
			return false, nil
		}
		var ce http2.ConnectionError
		if errors.As(err, &ce) {
			h.write(func() error { return h.fr.WriteGoAway(0, http2.ErrCode(ce), nil) })
			return false, http2ConnectionError(ce)
		}
		return false, err
	}
	return false, h.handle(f)
}

// handle applies one frame: stream frames to their stream, connection
// frames to the connection, answering what needs an answer.
func (h *h2Conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return h.onHeaders(f)
	case *http2.DataFrame:
		return h.onData(f)
	case *http2.RSTStreamFrame:
		return h.onRSTStream(f)
	case *http2.SettingsFrame:
		return h.onSettings(f)
	case *http2.PingFrame:
		return h.onPing(f)
	case *http2.WindowUpdateFrame:
		return h.onWindowUpdate(f)
	case *http2.GoAwayFrame:
		return h.onGoAway(f)
	case *http2.PushPromiseFrame:
		return h.onPushPromise(f)
	}
	return nil
}

// onHeaders: the response's HEADERS (or trailers) to its stream.
func (h *h2Conn) onHeaders(f *http2.MetaHeadersFrame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[f.StreamID]
	if s == nil {
		return nil // a stream we gave up on (timeout, reset)
	}
	if s.firstByte.IsZero() {
		s.firstByte = time.Now()
	}
	if s.gotResp {
		// Trailers: k6 does not expose them; they must end the stream.
		if !f.StreamEnded() {
			s.err = h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol)}
		}
		s.ended = true
		return nil
	}
	if f.Truncated {
		s.err = fmt.Errorf("http2: response header list larger than %d bytes", h2MaxHeaderList)
		return nil
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if err != nil || len(status) != 3 {
		s.err = h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol), Cause: fmt.Errorf("malformed :status %q", status)}
		return nil
	}
	if code >= 100 && code < 200 {
		return nil // interim response (100 Continue, 103 Early Hints)
	}
	s.gotResp = true
	fields := f.RegularFields()
	hdr := make(http.Header, len(fields))
	vals := make([]string, len(fields)) // one allocation for every header's value slice
	for i, hf := range fields {
		k := h.canonical(hf.Name)
		if prev, ok := hdr[k]; ok {
			hdr[k] = append(prev[:len(prev):len(prev)], hf.Value) // a repeated name: its own slice
			continue
		}
		vals[i] = hf.Value
		hdr[k] = vals[i : i+1 : i+1]
	}
	resp := &http.Response{StatusCode: code, Status: statusLine(code, status), Proto: "HTTP/2.0", ProtoMajor: 2,
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
	return nil
}

// onData: DATA to its stream, a connection WINDOW_UPDATE once half the window is used.
func (h *h2Conn) onData(f *http2.DataFrame) error {
	h.mu.Lock()
	h.recvUsed += int64(f.Length)
	update := int64(0)
	if h.recvUsed >= h2ConnWindow/2 {
		update, h.recvUsed = h.recvUsed, 0
	}
	if s := h.streams[f.StreamID]; s != nil && s.err == nil {
		if !s.gotResp {
			s.err = h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeProtocol), Cause: errors.New("DATA before HEADERS")}
		} else {
			s.buf = append(s.buf, f.Data()...)
			s.consumed += int64(f.Length) - int64(len(f.Data())) // padding: given back with the data
			if f.StreamEnded() {
				s.ended = true
			}
		}
	}
	h.mu.Unlock()
	if update > 0 {
		h.write(func() error { return h.fr.WriteWindowUpdate(0, uint32(update)) })
	}
	return nil
}

// onRSTStream: a reset ends its stream (REFUSED_STREAM: retried as unprocessed).
func (h *h2Conn) onRSTStream(f *http2.RSTStreamFrame) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.streams[f.StreamID]
	if s == nil || s.ended || s.err != nil {
		return nil // after a complete response (NO_ERROR: it need not read our body)
	}
	se := h2StreamError{StreamID: s.id, Code: uint32(f.ErrCode)}
	if f.ErrCode == http2.ErrCodeRefusedStream {
		s.err = errH2Unprocessed{se}
	} else {
		s.err = se
	}
	delete(h.streams, s.id)
	return nil
}

// onSettings: the peer's SETTINGS applied and acknowledged.
func (h *h2Conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	var tableSize uint32
	var tableSet bool
	h.mu.Lock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingMaxFrameSize:
			h.maxFrame = st.Val
		case http2.SettingInitialWindowSize:
			delta := int64(st.Val) - h.initSendWin
			h.initSendWin = int64(st.Val)
			for _, s := range h.streams {
				s.sendWin += delta
			}
		case http2.SettingHeaderTableSize:
			tableSize, tableSet = st.Val, true
		case http2.SettingMaxHeaderListSize:
			h.maxHeaderList = st.Val
		case http2.SettingMaxConcurrentStreams:
			h.maxStreams = max(st.Val, 1)
		}
		return nil
	})
	h.mu.Unlock()
	if err != nil {
		return err
	}
	h.write(func() error {
		if tableSet {
			h.enc.SetMaxDynamicTableSize(tableSize)
		}
		return h.fr.WriteSettingsAck()
	})
	return nil
}

// onPing: a PING answered.
func (h *h2Conn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		return nil
	}
	data := f.Data
	h.write(func() error { return h.fr.WritePing(true, data) })
	return nil
}

// onWindowUpdate: more send window for the connection or a stream.
func (h *h2Conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	// A window above 2^31-1 is a flow-control error (RFC 9113 6.9.1):
	// of the connection for stream 0, else of the stream.
	const maxWindow = 1<<31 - 1
	h.mu.Lock()
	if f.StreamID == 0 {
		h.sendWin += int64(f.Increment)
		over := h.sendWin > maxWindow
		h.mu.Unlock()
		if over {
			h.write(func() error { return h.fr.WriteGoAway(0, http2.ErrCodeFlowControl, nil) })
			return http2ConnectionError(http2.ErrCodeFlowControl)
		}
		return nil
	}
	var over uint32
	if s := h.streams[f.StreamID]; s != nil {
		s.sendWin += int64(f.Increment)
		if s.sendWin > maxWindow && s.err == nil {
			s.err = h2StreamError{StreamID: s.id, Code: uint32(http2.ErrCodeFlowControl)}
			delete(h.streams, s.id)
			over = s.id
		}
	}
	h.mu.Unlock()
	if over != 0 {
		h.write(func() error { return h.fr.WriteRSTStream(over, http2.ErrCodeFlowControl) })
	}
	return nil
}

// onGoAway: streams above the last one the server will process fail as unprocessed (retried).
func (h *h2Conn) onGoAway(f *http2.GoAwayFrame) error {
	h.mu.Lock()
	h.goAway, h.goAwayID, h.goAwayEC = true, f.LastStreamID, f.ErrCode
	for id, s := range h.streams {
		if id > f.LastStreamID && s.err == nil && !s.gotResp {
			s.err = errH2Unprocessed{http2GoAwayError{LastStreamID: f.LastStreamID, ErrCode: uint32(f.ErrCode), DebugData: string(f.DebugData())}}
			delete(h.streams, id)
		}
	}
	h.mu.Unlock()
	return nil
}

// onPushPromise: a push is refused: we sent ENABLE_PUSH=0.
func (h *h2Conn) onPushPromise(f *http2.PushPromiseFrame) error {
	// We sent ENABLE_PUSH=0: a push is a protocol error.
	h.write(func() error { return h.fr.WriteGoAway(0, http2.ErrCodeProtocol, nil) })
	return http2ConnectionError(http2.ErrCodeProtocol)
}

// statusLines are net/http's Response.Status strings ("200 OK") for the
// codes it knows, built once instead of per response.
var statusLines = func() map[int]string {
	m := map[int]string{}
	for c := 100; c < 600; c++ {
		if t := http.StatusText(c); t != "" {
			m[c] = strconv.Itoa(c) + " " + t
		}
	}
	return m
}()

func statusLine(code int, status string) string {
	if l, ok := statusLines[code]; ok {
		return l
	}
	return status + " "
}

// canonical is http.CanonicalHeaderKey, remembered per connection for the
// (lower-case, so always converted) names its responses repeat (mu held).
func (h *h2Conn) canonical(name string) string {
	if k, ok := h.names[name]; ok {
		return k
	}
	k := http.CanonicalHeaderKey(name)
	if h.names == nil {
		h.names = map[string]string{}
	}
	if len(h.names) < 64 {
		h.names[name] = k
	}
	return k
}

// h2Body reads the stream's DATA as the response body (reading frames on
// the caller's goroutine when nobody else does) and gives the stream
// window back as it is consumed.
type h2Body struct{ s *h2Stream }

func (b h2Body) Read(p []byte) (int, error) {
	s := b.s
	h := s.h
	if err := h.await(s, waitData); err != nil {
		return 0, err
	}
	h.mu.Lock()
	n := copy(p, s.buf[s.off:])
	s.off += n
	if s.off == len(s.buf) {
		s.buf, s.off = s.buf[:0], 0
	}
	done := s.ended && len(s.buf) == 0
	s.consumed += int64(n)
	update := int64(0)
	if !s.ended && s.consumed >= h2StreamWindow/2 {
		update, s.consumed = s.consumed, 0
	}
	h.mu.Unlock()
	if update > 0 {
		id := s.id
		h.write(func() error { return h.fr.WriteWindowUpdate(id, uint32(update)) })
	}
	if n == 0 && done {
		return 0, io.EOF
	}
	return n, nil
}

func (b h2Body) Close() error { return nil }

// h2Timings are k6's phases: as h1's, plus the TLS handshake of a new
// connection (between the TCP connect and gotConn).
func h2Timings(start, connectStart, connectDone, tlsDone, gotConn, wrote, firstByte, end time.Time) httpkit.Timings {
	t := h1Timings(start, connectStart, connectDone, gotConn, wrote, firstByte, end)
	if !connectStart.IsZero() {
		t.TLSHandshaking = durBetween(connectDone, tlsDone)
	}
	return t
}
