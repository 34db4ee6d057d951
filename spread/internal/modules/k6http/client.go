package k6http

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
)

// client is one VU's HTTP machinery: one transport (so connections are
// kept alive across the VU's iterations, as k6 does) and the byte counters
// of its connections.
type client struct {
	cfg       *config
	transport *http.Transport
	dialer    net.Dialer
	resolver  *resolver // the test's shared dns cache

	// Bytes of connections that closed before a request claimed them
	// (failed TLS handshakes, server-closed idle connections).
	pendingSent, pendingRecv atomic.Int64

	// Every open connection of the VU, busy or idle, so all of them can
	// be closed when the VU stops.
	mu    sync.Mutex
	conns map[*countingConn]struct{}

	// h1 holds the idle cleartext HTTP/1.1 connections (see h1.go).
	h1 h1Pool
	// h2 holds the idle synchronous HTTP/2 connections (see h2sync.go).
	h2 h2Pool

	// rep reports requests (and reuses the tag set between identical ones).
	rep *httpkit.Reporter

	// tlsHosts are the HTTPS host:ports that answered this VU once (see
	// runBatch); guarded by mu.
	tlsHosts map[string]bool
}

// knowsHost reports whether an HTTPS request to host got a response before.
func (c *client) knowsHost(host string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tlsHosts[host]
}

// sawHost records that host answered over HTTPS.
func (c *client) sawHost(host string) {
	c.mu.Lock()
	if c.tlsHosts == nil {
		c.tlsHosts = map[string]bool{}
	}
	c.tlsHosts[host] = true
	c.mu.Unlock()
}

// newClient builds a VU's client; vuID (1-based) picks its localIPs
// source address in turn.
func newClient(vu ext.VU, cfg *config, vuID uint64) *client {
	c := &client{cfg: cfg, rep: httpkit.NewReporter(vu), conns: map[*countingConn]struct{}{}, resolver: sharedResolver(cfg.DNS)}
	c.h1.maxIdle = max(cfg.Batch, cfg.BatchPerHost, 1)
	c.dialer = net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if n := uint64(len(cfg.LocalIPs)); n > 0 && vuID > 0 {
		c.dialer.LocalAddr = &net.TCPAddr{IP: cfg.LocalIPs[(vuID-1)%n].AsSlice()}
	}
	tlsConf := &tls.Config{
		InsecureSkipVerify: cfg.InsecureSkipTLSVerify, //nolint:gosec // the user asked for it (k6's insecureSkipTLSVerify)
		MinVersion:         cfg.TLSMin,
		MaxVersion:         cfg.TLSMax,
		RootCAs:            cfg.RootCAs,
		CipherSuites:       cfg.CipherSuites,
	}
	if len(cfg.ClientCerts) > 0 {
		tlsConf.GetClientCertificate = clientCertFor(cfg.ClientCerts)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	idle := max(cfg.Batch, cfg.BatchPerHost, 2)
	c.transport = &http.Transport{
		DialContext:         c.dial,
		TLSClientConfig:     tlsConf,
		Protocols:           &protos,
		DisableKeepAlives:   cfg.NoConnectionReuse,
		DisableCompression:  true, // as k6: no implicit Accept-Encoding
		MaxIdleConnsPerHost: idle,
		// No idle timeout: a VU that sleeps between iterations keeps its
		// connection, like k6, which is what pins it to one pod.
		IdleConnTimeout:       0,
		TLSHandshakeTimeout:   0, // bounded by the request's timeout
		ExpectContinueTimeout: 0,
	}
	return c
}

// dial opens a TCP connection (after the hosts option) wrapped so the bytes
// it carries are counted.
func (c *client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	to, err := c.dialAddr(ctx, addr)
	if err != nil {
		return nil, err
	}
	conn, err := c.dialer.DialContext(ctx, network, to)
	if err != nil {
		return nil, err
	}
	return c.track(conn), nil
}

// track wraps a new connection to count its bytes and registers it so the
// VU can close it.
func (c *client) track(conn net.Conn) *countingConn {
	cc := &countingConn{Conn: conn, owner: c}
	c.mu.Lock()
	c.conns[cc] = struct{}{}
	c.mu.Unlock()
	return cc
}

// closeIdle closes every connection not carrying a request.
func (c *client) closeIdle() {
	c.transport.CloseIdleConnections()
	c.h1.closeIdle()
	c.h2.closeIdle()
}

// close shuts every connection of the VU.
func (c *client) close() {
	c.closeIdle()
	c.mu.Lock()
	conns := make([]*countingConn, 0, len(c.conns))
	for cc := range c.conns {
		conns = append(conns, cc)
	}
	c.mu.Unlock()
	for _, cc := range conns {
		_ = cc.Close()
	}
}

// claimPending takes the bytes of closed connections not yet reported.
func (c *client) claimPending() (sent, recv int64) {
	return c.pendingSent.Swap(0), c.pendingRecv.Swap(0)
}

// countingConn counts the bytes on the wire (TLS records included) so
// data_sent / data_received are what the network carried.
type countingConn struct {
	net.Conn
	owner      *client
	sent, recv atomic.Int64
	closed     atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.recv.Add(int64(n))
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.sent.Add(int64(n))
	}
	return n, err
}

// Close hands the bytes nobody claimed to the VU's pending counters.
func (c *countingConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		o := c.owner
		o.mu.Lock()
		delete(o.conns, c)
		o.mu.Unlock()
		o.pendingSent.Add(c.sent.Swap(0))
		o.pendingRecv.Add(c.recv.Swap(0))
	}
	return err
}

// claim takes the bytes counted since the last claim.
func (c *countingConn) claim() (sent, recv int64) { return c.sent.Swap(0), c.recv.Swap(0) }

// asCounting finds the countingConn under a connection handed to
// httptrace (a *tls.Conn for HTTPS, HTTP/1 and HTTP/2 alike).
func asCounting(conn net.Conn) *countingConn {
	switch v := conn.(type) {
	case *countingConn:
		return v
	case *tls.Conn:
		if cc, ok := v.NetConn().(*countingConn); ok {
			return cc
		}
	}
	return nil
}
