// Package wsclient is the WebSocket client shared by k6/ws and
// k6/websockets: it dials (github.com/coder/websocket over a per-session
// net/http Transport that counts wire bytes), reads in a goroutine of its
// own and hands what arrives to the module as Events, and reports k6's
// WebSocket metrics (ws_connecting, ws_sessions, ws_msgs_sent,
// ws_msgs_received, ws_ping, ws_session_duration, data_sent,
// data_received) tagged like k6 (url, status, subproto, group, scenario,
// the script's tags) plus `pod` from the upgrade response.
//
// The two modules differ only in how events reach the script: k6/ws runs
// its own blocking loop inside ws.connect, k6/websockets posts them to the
// VU's event loop.
package wsclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
)

// k6's WebSocket metric names.
const (
	MetricConnecting      = "ws_connecting"
	MetricSessionDuration = "ws_session_duration"
	MetricSessions        = "ws_sessions"
	MetricMsgsSent        = "ws_msgs_sent"
	MetricMsgsReceived    = "ws_msgs_received"
	MetricPing            = "ws_ping"
)

// EnvCACerts is read when the tlsCACerts option is not set (as k6/http).
const EnvCACerts = "SPREAD_CA_CERT"

const (
	dialTimeout  = 30 * time.Second
	writeTimeout = 30 * time.Second
	// readLimit bounds one received message: k6 has no such option, so
	// take a size no echo test reaches but that still bounds memory.
	readLimit = 64 << 20
)

// Config is the part of the run's options a WebSocket client honours.
type Config struct {
	InsecureSkipTLSVerify bool
	RootCAs               *x509.CertPool // nil: the system pool
	PodFrom               []httpkit.PodSource
}

// LoadConfig reads insecureSkipTLSVerify, tlsCACerts (or $SPREAD_CA_CERT)
// and podFrom (header sources only apply: the pod is read from the
// upgrade response) from the run's options.
func LoadConfig(o ext.Options, getenv func(string) string) (*Config, error) {
	c := &Config{}
	if _, err := o.Decode("insecureSkipTLSVerify", &c.InsecureSkipTLSVerify); err != nil {
		return nil, err
	}
	var podFrom string
	if _, err := o.Decode("podFrom", &podFrom); err != nil {
		return nil, err
	}
	var err error
	if c.PodFrom, err = httpkit.ParsePodFrom(podFrom); err != nil {
		return nil, fmt.Errorf("option %w", err)
	}
	var items []string
	if raw, ok := o["tlsCACerts"]; ok && len(raw) > 0 && string(raw) != "null" {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			items = []string{one}
		} else if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("option tlsCACerts: want a PEM path or a list of them: %w", err)
		}
	} else if env := getenv(EnvCACerts); env != "" {
		items = strings.Split(env, string(os.PathListSeparator))
	}
	if len(items) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, it := range items {
			if it = strings.TrimSpace(it); it == "" {
				continue
			}
			pem := []byte(it)
			if !strings.Contains(it, "-----BEGIN") {
				if pem, err = os.ReadFile(it); err != nil {
					return nil, fmt.Errorf("option tlsCACerts: %w", err)
				}
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("option tlsCACerts: no PEM certificate in %q", it)
			}
		}
		c.RootCAs = pool
	}
	return c, nil
}

// Params are a connection's own settings (k6's params argument).
type Params struct {
	Header       http.Header
	Tags         map[string]string
	Subprotocols []string
	Compression  bool // permessage-deflate
	// BaseTags are the VU's tags at the call (empty: vu.Tags() in Dial);
	// a module dialling off the VU's goroutine takes them beforehand.
	BaseTags ext.TagSet
}

// EventKind says what an Event is.
type EventKind int

// Event kinds, in k6's vocabulary.
const (
	Message EventKind = iota // a text message
	Binary                   // a binary message
	Ping                     // the server pinged (a pong was sent back)
	Pong                     // a pong arrived
	Error                    // a read or protocol error; Close follows
	Close                    // the session ended; always the last event
)

// Event is something that happened on the connection.
type Event struct {
	Kind   EventKind
	Data   []byte
	Code   int    // Close: the close code (1006 when the connection broke without one)
	Reason string // Close: the close reason
	Err    error  // Error
}

// Conn is one WebSocket session.
type Conn struct {
	vu      ext.VU
	c       *websocket.Conn
	m       *metrics
	tags    ext.TagSet
	rep     *httpkit.Reporter // data_sent / data_received of the session
	started time.Time
	counter *byteCounter
	ctx     context.Context
	cancel  context.CancelFunc

	// Events delivers what arrives, in order; it is closed after the
	// Close event. The reader blocks while nobody receives.
	Events <-chan Event
	events chan Event

	// Handshake is the upgrade response.
	Handshake *httpkit.Result

	closing  atomic.Bool
	finished sync.Once
}

type metrics struct {
	connecting, duration, sessions, sent, received, ping *ext.Metric
	dataSent, dataReceived                               *ext.Metric
}

func newMetrics(r *ext.Registry) (*metrics, error) {
	m := &metrics{dataSent: r.Get(ext.MetricDataSent), dataReceived: r.Get(ext.MetricDataReceived)}
	for _, d := range []struct {
		dst      **ext.Metric
		name     string
		typ      ext.MetricType
		contains ext.ValueType
	}{
		{&m.connecting, MetricConnecting, ext.Trend, ext.Time},
		{&m.duration, MetricSessionDuration, ext.Trend, ext.Time},
		{&m.sessions, MetricSessions, ext.Counter, ext.Default},
		{&m.sent, MetricMsgsSent, ext.Counter, ext.Default},
		{&m.received, MetricMsgsReceived, ext.Counter, ext.Default},
		{&m.ping, MetricPing, ext.Trend, ext.Time},
	} {
		mt, err := r.NewMetric(d.name, d.typ, d.contains)
		if err != nil {
			return nil, err
		}
		*d.dst = mt
	}
	return m, nil
}

// Dial opens a session to rawURL (ws:// or wss://; http(s) accepted as
// their ws equivalents). It returns an error (and no Conn) when the dial
// or the upgrade fails; the error's handshake result, when the server
// answered, is in the returned *httpkit.Result.
func Dial(vu ext.VU, cfg *Config, rawURL string, p Params) (*Conn, *httpkit.Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, nil, fmt.Errorf("invalid URL %q: the scheme must be ws or wss", rawURL)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("invalid URL %q: no host", rawURL)
	}
	m, err := newMetrics(vu.Metrics())
	if err != nil {
		return nil, nil, err
	}
	counter := &byteCounter{}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &countedConn{Conn: c, n: counter}, nil
		},
		TLSClientConfig: &tls.Config{
			RootCAs:            cfg.RootCAs,
			InsecureSkipVerify: cfg.InsecureSkipTLSVerify, //nolint:gosec // the user asked for it (k6's insecureSkipTLSVerify)
			// A WebSocket upgrade is HTTP/1.1 (RFC 6455); offering h2
			// would let the server pick a protocol with no Upgrade.
			NextProtos: []string{"http/1.1"},
		},
		TLSHandshakeTimeout: dialTimeout,
		DisableKeepAlives:   true,
	}
	ctx, cancel := context.WithCancel(vu.Context())
	opts := &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: tr},
		HTTPHeader:   p.Header,
		Subprotocols: p.Subprotocols,
	}
	if p.Compression {
		opts.CompressionMode = websocket.CompressionContextTakeover
	}
	events := make(chan Event, 16)
	conn := &Conn{vu: vu, m: m, counter: counter, ctx: ctx, cancel: cancel, Events: events, events: events}
	opts.OnPingReceived = func(context.Context, []byte) bool {
		conn.deliver(Event{Kind: Ping})
		return true
	}
	opts.OnPongReceived = func(context.Context, []byte) { conn.deliver(Event{Kind: Pong}) }

	start := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, dialTimeout+5*time.Second)
	c, resp, err := websocket.Dial(dctx, u.String(), opts)
	dcancel()
	connecting := time.Since(start)

	res := &httpkit.Result{Start: start, Method: http.MethodGet, URL: rawURL, Name: rawURL}
	if resp != nil {
		res.Status, res.StatusText, res.Proto, res.Headers = resp.StatusCode, resp.Status, resp.Proto, resp.Header
		res.Pod = httpkit.PodFrom(cfg.PodFrom, resp.Header, nil)
		if resp.Body != nil && err != nil {
			b := make([]byte, 1024)
			n, _ := resp.Body.Read(b)
			res.Body = b[:n]
		}
		if resp.TLS != nil {
			res.TLSVersion = tlsVersionName(resp.TLS.Version)
		}
	}
	base := p.BaseTags
	if base.Len() == 0 {
		base = vu.Tags()
	}
	tags := base.Merge(p.Tags)
	tags = tags.With("url", rawURL).With("status", strconv.Itoa(res.Status)).With("pod", res.Pod)
	if c != nil {
		tags = tags.With("subproto", c.Subprotocol())
	}
	conn.tags, conn.started, conn.rep = tags, start, httpkit.NewReporter(vu)
	if err != nil {
		cancel()
		res.Error = err.Error()
		sent, recv := counter.take()
		conn.rep.Data(tags, sent, recv)
		return nil, res, err
	}
	c.SetReadLimit(readLimit)
	conn.c, conn.Handshake = c, res
	now := time.Now()
	vu.Push(
		ext.Sample{Metric: m.sessions, Time: now, Tags: tags, Value: 1},
		ext.Sample{Metric: m.connecting, Time: now, Tags: tags, Value: ms(connecting)},
	)
	go conn.read()
	return conn, res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Tags are the session's sample tags.
func (c *Conn) Tags() ext.TagSet { return c.tags }

// Subprotocol is the subprotocol the server picked ("" for none).
func (c *Conn) Subprotocol() string { return c.c.Subprotocol() }

// deliver hands e to the module, or drops it once the session is over.
func (c *Conn) deliver(e Event) {
	select {
	case c.events <- e:
	case <-c.ctx.Done():
	}
}

// read is the connection's reader goroutine; it ends with one Close event.
func (c *Conn) read() {
	defer close(c.events)
	code, reason := 0, ""
	for {
		typ, data, err := c.c.Read(c.ctx)
		if err != nil {
			code, reason = closeInfo(err)
			expected := code == int(websocket.StatusNormalClosure) || code == int(websocket.StatusGoingAway) ||
				code == int(websocket.StatusNoStatusRcvd) || c.closing.Load() || c.ctx.Err() != nil
			if !expected {
				c.deliver(Event{Kind: Error, Err: err})
			}
			break
		}
		c.vu.Push(ext.Sample{Metric: c.m.received, Time: time.Now(), Tags: c.tags, Value: 1})
		kind := Message
		if typ == websocket.MessageBinary {
			kind = Binary
		}
		c.deliver(Event{Kind: kind, Data: data})
	}
	_ = c.c.CloseNow()
	c.finish()
	// The last event waits for the module unless the module dropped the
	// session (CloseNow) or the VU stopped: then nobody is listening.
	c.deliver(Event{Kind: Close, Code: code, Reason: reason})
}

// closeInfo is the close code and reason an ended read reports.
func closeInfo(err error) (int, string) {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return int(ce.Code), ce.Reason
	}
	return int(websocket.StatusAbnormalClosure), ""
}

// finish reports the session's duration and bytes, once.
func (c *Conn) finish() {
	c.finished.Do(func() {
		now := time.Now()
		c.vu.Push(ext.Sample{Metric: c.m.duration, Time: now, Tags: c.tags, Value: ms(now.Sub(c.started))})
		sent, recv := c.counter.take()
		c.rep.Data(c.tags, sent, recv)
	})
}

// Send writes one message (binary when binary is set); it blocks until
// the message is written, at most 30 s.
func (c *Conn) Send(data []byte, binary bool) error {
	typ := websocket.MessageText
	if binary {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
	defer cancel()
	if err := c.c.Write(ctx, typ, data); err != nil {
		return err
	}
	c.vu.Push(ext.Sample{Metric: c.m.sent, Time: time.Now(), Tags: c.tags, Value: 1})
	return nil
}

// Ping sends a ping without waiting; the round trip is reported as
// ws_ping when the pong arrives (a Pong event comes too).
func (c *Conn) Ping() {
	go func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
		defer cancel()
		if c.c.Ping(ctx) == nil {
			c.vu.Push(ext.Sample{Metric: c.m.ping, Time: time.Now(), Tags: c.tags, Value: ms(time.Since(start))})
		}
	}()
}

// Close starts the close handshake with code and reason without waiting;
// the Close event follows when it completes (coder/websocket bounds it).
func (c *Conn) Close(code int, reason string) {
	if c.closing.Swap(true) {
		return
	}
	go func() { _ = c.c.Close(websocket.StatusCode(code), reason) }()
}

// Done is closed once the session was dropped (CloseNow) or the VU stopped.
func (c *Conn) Done() <-chan struct{} { return c.ctx.Done() }

// Closing reports whether Close was called.
func (c *Conn) Closing() bool { return c.closing.Load() }

// CloseNow drops the connection without a handshake and stops the reader
// (used when the VU stops).
func (c *Conn) CloseNow() {
	c.closing.Store(true)
	c.cancel()
	_ = c.c.CloseNow()
}

// byteCounter counts wire bytes for data_sent / data_received.
type byteCounter struct{ sent, recv atomic.Int64 }

func (b *byteCounter) take() (int64, int64) { return b.sent.Swap(0), b.recv.Swap(0) }

type countedConn struct {
	net.Conn
	n *byteCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.recv.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.n.sent.Add(int64(n))
	return n, err
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS12:
		return "tls1.2"
	case tls.VersionTLS13:
		return "tls1.3"
	case tls.VersionTLS11:
		return "tls1.1"
	case tls.VersionTLS10:
		return "tls1.0"
	}
	return ""
}
