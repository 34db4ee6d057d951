package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/spread/ext/httpkit"
)

// ConnInfo describes the QUIC connection that carried a request.
type ConnInfo struct {
	ID        uint64        // 1-based, per Client
	LocalAddr string        // client ip:port (the UDP source of the 5-tuple)
	Handshake time.Duration // dial start to handshake completion
	Resumed   bool          // TLS session resumption (a ticket was used)
	Used0RTT  bool          // the server accepted 0-RTT data
}

// conn is one QUIC connection with its HTTP/3 client and the bookkeeping
// the policies need: requests assigned, requests in flight, retirement.
type conn struct {
	id     uint64
	q      *quic.Conn
	cc     *http3.ClientConn
	opened time.Time
	remote string // the server's ip:port

	// set once the handshake completed (at once for a 1-RTT dial, after
	// the first response for a 0-RTT dial)
	info      ConnInfo // guarded by mu until infoReady
	infoSet   bool
	infoReady atomic.Bool // info is final: read it without the lock
	tlsVer    string      // k6's spelling of the TLS version; set with info

	mu         sync.Mutex
	requests   int  // requests assigned so far
	inflight   int  // requests not yet released
	retiring   bool // no new requests; close when inflight reaches 0
	closed     bool
	sent, recv uint64 // bytes already attributed to requests
}

// dialConn opens a QUIC connection to addr on tr (whose socket policy the
// caller chose) and wraps it in an HTTP/3 client connection.
func (c *Client) dialConn(ctx context.Context, tr *quic.Transport, addr *net.UDPAddr, serverName string) (*conn, error) {
	tlsConf := c.tls.Clone()
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = serverName
	}
	if c.verifier != nil {
		c.verifier.install(tlsConf, tlsConf.ServerName)
	}
	if c.opts.ZeroRTT {
		// The session cache is keyed by server name, shared by every
		// connection of this Client so a ticket from one resumes the next.
		tlsConf.ClientSessionCache = c.tls.ClientSessionCache
	}
	dctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	start := time.Now()
	var (
		q   *quic.Conn
		err error
	)
	if c.opts.ZeroRTT {
		q, err = tr.DialEarly(dctx, addr, tlsConf, c.quic)
	} else {
		q, err = tr.Dial(dctx, addr, tlsConf, c.quic)
	}
	if err != nil {
		e := wrapErr(err)
		// Our dial deadline (not the request's), or quic-go's handshake idle
		// timeout: both mean no handshake within handshakeTimeout.
		if (ctx.Err() == nil && dctx.Err() != nil) || e.Code == httpkit.CodeIdleTimeout || e.Code == httpkit.CodeHandshakeTimeout {
			return nil, &Error{Code: httpkit.CodeHandshakeTimeout, Msg: fmt.Sprintf("QUIC handshake with %s timed out after %s", addr, c.opts.HandshakeTimeout), Err: err}
		}
		return nil, e
	}
	cn := &conn{id: c.connSeq.Add(1), q: q, cc: c.h3.NewClientConn(q), opened: start, remote: q.RemoteAddr().String()}
	cn.info.ID = cn.id
	cn.info.LocalAddr = q.LocalAddr().String()
	select {
	case <-q.HandshakeComplete():
		cn.completeInfo(time.Since(start))
	default:
		// 0-RTT: finished later, see handshakeInfo
		go func() {
			select {
			case <-q.HandshakeComplete():
				cn.completeInfo(time.Since(start))
			case <-q.Context().Done():
			}
		}()
	}
	return cn, nil
}

func (cn *conn) completeInfo(d time.Duration) {
	st := cn.q.ConnectionState()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.infoSet {
		return
	}
	cn.infoSet = true
	cn.info.Handshake = d
	cn.info.Resumed = st.TLS.DidResume
	cn.info.Used0RTT = st.Used0RTT
	cn.tlsVer = tlsVersion(st.TLS)
	cn.infoReady.Store(true)
}

// handshakeInfo waits (bounded by ctx) for the handshake to complete and
// returns the connection's description.
func (cn *conn) handshakeInfo(ctx context.Context) ConnInfo {
	if cn.infoReady.Load() {
		return cn.info // every request after the first on a connection
	}
	select {
	case <-cn.q.HandshakeComplete():
	case <-cn.q.Context().Done():
	case <-ctx.Done():
	}
	select {
	case <-cn.q.HandshakeComplete():
		// the goroutine above may not have run yet
		cn.completeInfo(time.Since(cn.opened))
	default:
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.info
}

// tryTake assigns one request to the connection if it is open and
// accepts new requests under the rotation limits (one critical section,
// so a concurrent retire cannot close it in between).
func (cn *conn) tryTake(maxReq int, maxAge time.Duration) bool {
	if cn.q.Context().Err() != nil {
		return false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.retiring || cn.closed {
		return false
	}
	if maxReq > 0 && cn.requests >= maxReq {
		return false
	}
	if maxAge > 0 && time.Since(cn.opened) >= maxAge {
		return false
	}
	cn.requests++
	cn.inflight++
	return true
}

// take assigns one request to a connection just dialled for it.
func (cn *conn) take() {
	cn.mu.Lock()
	cn.requests++
	cn.inflight++
	cn.mu.Unlock()
}

// release ends a request; a retiring connection closes with its last one.
func (cn *conn) release() {
	cn.mu.Lock()
	cn.inflight--
	closeNow := cn.retiring && cn.inflight <= 0
	cn.mu.Unlock()
	if closeNow {
		cn.close()
	}
}

// retire stops new requests and closes the connection once idle.
func (cn *conn) retire() {
	cn.mu.Lock()
	cn.retiring = true
	closeNow := cn.inflight <= 0
	cn.mu.Unlock()
	if closeNow {
		cn.close()
	}
}

// close closes the connection gracefully (H3_NO_ERROR), once.
func (cn *conn) close() {
	cn.mu.Lock()
	if cn.closed {
		cn.mu.Unlock()
		return
	}
	cn.closed = true
	cn.mu.Unlock()
	_ = cn.q.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
}

// dataDelta returns the bytes sent and received on the wire since the
// last call, so every byte is attributed to exactly one request.
func (cn *conn) dataDelta() (sent, recv int64) {
	st := cn.q.ConnectionStats()
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if st.BytesSent > cn.sent {
		sent = int64(st.BytesSent - cn.sent)
		cn.sent = st.BytesSent
	}
	if st.BytesReceived > cn.recv {
		recv = int64(st.BytesReceived - cn.recv)
		cn.recv = st.BytesReceived
	}
	return sent, recv
}

// tlsVersion spells the connection's TLS version as k6 does.
func tlsVersion(st tls.ConnectionState) string {
	switch st.Version {
	case tls.VersionTLS13:
		return "tls1.3"
	case tls.VersionTLS12:
		return "tls1.2"
	}
	return ""
}
