package k6http

import (
	"crypto/tls"
	"net"
	"net/http/httptrace"
	"sync"
	"time"

	"spread.dev/spread/ext/httpkit"
)

// tracer records the httptrace events of one request attempt. Hooks run on
// the transport's goroutines (dialer, read loop), hence the mutex; a dial
// that outlives a cancelled request may still fire hooks after the request
// returned, which the mutex also makes harmless.
type tracer struct {
	mu           sync.Mutex
	getConn      time.Time
	connectStart time.Time
	connectDone  time.Time
	tlsStart     time.Time
	tlsDone      time.Time
	gotConn      time.Time
	wroteRequest time.Time
	firstByte    time.Time
	conn         net.Conn
	reused       bool

	trace httptrace.ClientTrace
}

func newTracer() *tracer {
	t := &tracer{}
	t.trace = httptrace.ClientTrace{
		GetConn:              t.onGetConn,
		ConnectStart:         t.onConnectStart,
		ConnectDone:          t.onConnectDone,
		TLSHandshakeStart:    t.onTLSStart,
		TLSHandshakeDone:     t.onTLSDone,
		GotConn:              t.onGotConn,
		WroteRequest:         t.onWroteRequest,
		GotFirstResponseByte: t.onFirstByte,
	}
	return t
}

func (t *tracer) onGetConn(string) {
	now := time.Now()
	t.mu.Lock()
	if t.getConn.IsZero() {
		t.getConn = now
	}
	t.mu.Unlock()
}

func (t *tracer) onConnectStart(string, string) {
	now := time.Now()
	t.mu.Lock()
	if t.connectStart.IsZero() {
		t.connectStart = now
	}
	t.mu.Unlock()
}

func (t *tracer) onConnectDone(string, string, error) {
	now := time.Now()
	t.mu.Lock()
	t.connectDone = now
	t.mu.Unlock()
}

func (t *tracer) onTLSStart() {
	now := time.Now()
	t.mu.Lock()
	t.tlsStart = now
	t.mu.Unlock()
}

func (t *tracer) onTLSDone(tls.ConnectionState, error) {
	now := time.Now()
	t.mu.Lock()
	t.tlsDone = now
	t.mu.Unlock()
}

func (t *tracer) onGotConn(info httptrace.GotConnInfo) {
	now := time.Now()
	t.mu.Lock()
	t.gotConn = now
	t.conn = info.Conn
	t.reused = info.Reused
	t.mu.Unlock()
}

func (t *tracer) onWroteRequest(httptrace.WroteRequestInfo) {
	now := time.Now()
	t.mu.Lock()
	t.wroteRequest = now
	t.mu.Unlock()
}

func (t *tracer) onFirstByte() {
	now := time.Now()
	t.mu.Lock()
	t.firstByte = now
	t.mu.Unlock()
}

// timings turns the events into k6's phases; start is when the request was
// handed to the transport, end when its body was read (or it failed).
//
// blocked: waiting for a connection (including DNS), until the dial started
// or the pooled connection was handed over; connecting: TCP dial;
// tls_handshaking; sending: connection in hand to request written;
// waiting: written to first response byte; receiving: first byte to body
// read. Missing events (a failure part-way) leave the later phases at 0.
func (t *tracer) timings(start, end time.Time) (httpkit.Timings, net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var tm httpkit.Timings
	d := func(from, to time.Time) time.Duration {
		if from.IsZero() || to.IsZero() || to.Before(from) {
			return 0
		}
		return to.Sub(from)
	}
	getConn := t.getConn
	if getConn.IsZero() || getConn.Before(start) {
		getConn = start
	}
	if t.reused {
		// The request got a pooled connection; dial events, if any, are
		// from a dial it started that went to the pool instead.
		tm.Blocked = d(getConn, t.gotConn)
		tm.Sending = d(t.gotConn, t.wroteRequest)
		tm.Waiting = d(t.wroteRequest, t.firstByte)
		tm.Receiving = d(t.firstByte, end)
		return tm, t.conn
	}
	switch {
	case !t.connectStart.IsZero():
		tm.Blocked = d(getConn, t.connectStart)
	case !t.gotConn.IsZero():
		tm.Blocked = d(getConn, t.gotConn)
	default:
		tm.Blocked = d(getConn, end)
	}
	tm.Connecting = d(t.connectStart, t.connectDone)
	tm.TLSHandshaking = d(t.tlsStart, t.tlsDone)
	sendFrom := t.gotConn
	if sendFrom.IsZero() {
		sendFrom = t.tlsDone
		if sendFrom.IsZero() {
			sendFrom = t.connectDone
		}
	}
	tm.Sending = d(sendFrom, t.wroteRequest)
	tm.Waiting = d(t.wroteRequest, t.firstByte)
	tm.Receiving = d(t.firstByte, end)
	return tm, t.conn
}
