package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Mode is a connection policy: which QUIC connection (and so which UDP
// 5-tuple) carries each request.
type Mode string

// The connection policies.
const (
	// SingleConnection keeps one connection per Client (per VU in the JS
	// module) on a UDP socket of its own, re-dialled on a new socket when
	// the server closes it, sends GOAWAY, or rotation says so.
	SingleConnection Mode = "single-connection"
	// PerRequest opens a new connection for every request and closes it
	// after the response.
	PerRequest Mode = "per-request"
	// Multiplexed keeps a pool of Connections connections and spreads
	// concurrent requests over them as streams.
	Multiplexed Mode = "multiplexed"
)

// Socket says which UDP socket per-request connections use.
type Socket string

// Socket policies of the per-request mode.
const (
	// FreshSocket opens a new UDP socket (a new source port) per connection.
	FreshSocket Socket = "fresh"
	// SharedSocket reuses one UDP socket for every connection of the
	// Client, as quic-go's http3.Transport does when Dial is unset: every
	// connection then has the same 5-tuple, so conntrack pins them all to
	// one backend. Kept on purpose, to show that effect.
	SharedSocket Socket = "shared"
)

// Options configures a Client. The zero value of every field means its
// documented default.
type Options struct {
	Mode        Mode   // default SingleConnection
	Socket      Socket // PerRequest only; default FreshSocket
	Connections int    // Multiplexed pool size; default 1

	// Rotation: retire a connection after this many requests / this age
	// and dial its successor on a new UDP socket (0 = never).
	MaxRequestsPerConnection int
	MaxConnectionAge         time.Duration

	// ZeroRTT keeps a TLS session cache in the Client and sends GET and
	// HEAD requests as 0-RTT when a session ticket is available.
	ZeroRTT bool

	CACerts               []byte // extra trusted roots (PEM), on top of the system roots
	InsecureSkipTLSVerify bool
	ServerName            string // TLS SNI and verified name; default the URL's host

	HandshakeTimeout time.Duration // QUIC handshake idle timeout; default 5s
	IdleTimeout      time.Duration // QUIC max idle timeout; default 30s
	KeepAlivePeriod  time.Duration // default 10s; negative disables keep-alives
	Timeout          time.Duration // per-request timeout unless the request sets one; default 60s

	// MaxRetries bounds the silent retries of an idempotent request whose
	// connection was closed gracefully (H3_NO_ERROR) before it got a
	// response; default 2, negative disables every retry. Requests that
	// provably never reached the server (GOAWAY, H3_REQUEST_REJECTED, an
	// unusable connection) are retried up to 10 times unless disabled.
	MaxRetries int

	QlogDir string // write one qlog file per connection there (debugging)
}

// Defaults of Options.
const (
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultKeepAlivePeriod  = 10 * time.Second
	DefaultTimeout          = 60 * time.Second
	DefaultMaxRetries       = 2
)

// maxNotSentRetries bounds retries of requests that never reached the server.
const maxNotSentRetries = 10

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	switch o.Mode {
	case "":
		o.Mode = SingleConnection
	case SingleConnection, PerRequest, Multiplexed:
	default:
		return o, fmt.Errorf("unknown mode %q (want %s, %s or %s)", o.Mode, SingleConnection, PerRequest, Multiplexed)
	}
	switch o.Socket {
	case "":
		o.Socket = FreshSocket
	case FreshSocket, SharedSocket:
	default:
		return o, fmt.Errorf("unknown socket %q (want %s or %s)", o.Socket, FreshSocket, SharedSocket)
	}
	if o.Socket == SharedSocket && o.Mode != PerRequest {
		return o, fmt.Errorf("socket %q only applies to mode %s", o.Socket, PerRequest)
	}
	if o.Connections < 0 {
		return o, fmt.Errorf("connections must be at least 1, got %d", o.Connections)
	}
	if o.Connections > 1 && o.Mode != Multiplexed {
		return o, fmt.Errorf("connections only applies to mode %s", Multiplexed)
	}
	if o.Connections == 0 {
		o.Connections = 1
	}
	if o.MaxRequestsPerConnection < 0 {
		return o, fmt.Errorf("maxRequestsPerConnection must not be negative, got %d", o.MaxRequestsPerConnection)
	}
	for name, d := range map[string]time.Duration{"maxConnectionAge": o.MaxConnectionAge,
		"handshakeTimeout": o.HandshakeTimeout, "idleTimeout": o.IdleTimeout, "timeout": o.Timeout} {
		if d < 0 {
			return o, fmt.Errorf("%s must not be negative, got %s", name, d)
		}
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.KeepAlivePeriod == 0 {
		o.KeepAlivePeriod = DefaultKeepAlivePeriod
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	return o, nil
}

// Key identifies options that can share one multiplexed pool.
func (o Options) Key() string {
	return strings.Join([]string{string(o.Mode), string(o.Socket), strconv.Itoa(o.Connections),
		strconv.Itoa(o.MaxRequestsPerConnection), o.MaxConnectionAge.String(), strconv.FormatBool(o.ZeroRTT),
		string(o.CACerts), strconv.FormatBool(o.InsecureSkipTLSVerify), o.ServerName,
		o.HandshakeTimeout.String(), o.IdleTimeout.String(), o.KeepAlivePeriod.String(),
		o.Timeout.String(), strconv.Itoa(o.MaxRetries), o.QlogDir}, "\x00")
}

// tlsConfig builds the client TLS configuration: system roots plus
// CACerts, verification on unless InsecureSkipTLSVerify.
func (o Options) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         o.ServerName,
		InsecureSkipVerify: o.InsecureSkipTLSVerify, //nolint:gosec // opt-in for quick trials
		NextProtos:         []string{"h3"},
	}
	if len(o.CACerts) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(o.CACerts) {
			return nil, errors.New("caCerts: no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	if o.ZeroRTT {
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(256)
	}
	return cfg, nil
}

// quicConfig builds the QUIC configuration from the timeouts.
func (o Options) quicConfig() *quic.Config {
	cfg := &quic.Config{
		HandshakeIdleTimeout: o.HandshakeTimeout,
		MaxIdleTimeout:       o.IdleTimeout,
		MaxIncomingStreams:   -1, // the server may not open request streams
	}
	if o.KeepAlivePeriod > 0 {
		cfg.KeepAlivePeriod = o.KeepAlivePeriod
	}
	if o.QlogDir != "" {
		dir := o.QlogDir
		cfg.Tracer = func(_ context.Context, isClient bool, id quic.ConnectionID) qlogwriter.Trace {
			return qlogTrace(dir, isClient, id)
		}
	}
	return cfg
}

var qlogSeq atomic.Uint64

// qlogTrace writes a connection's qlog to dir; failures only lose the log.
func qlogTrace(dir string, isClient bool, id quic.ConnectionID) qlogwriter.Trace {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil
	}
	name := fmt.Sprintf("%s_%d_client.sqlog", id, qlogSeq.Add(1))
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil
	}
	seq := qlogwriter.NewConnectionFileSeq(f, isClient, id)
	go seq.Run() // ends when quic-go closes the trace with the connection
	return seq
}

// keep the qlog schema registered (its init runs through this import).
var _ = qlog.EventSchema
