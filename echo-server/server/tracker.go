package server

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/metrics"
)

// tracker keeps the state of every TCP connection (h1 and h2), so requests
// know their number on the connection and the open-connections gauge goes
// down when a connection closes.
type tracker struct {
	m     *metrics.Metrics
	mu    sync.Mutex
	conns map[net.Conn]*connstate.State
}

func newTracker(m *metrics.Metrics) *tracker {
	return &tracker{m: m, conns: make(map[net.Conn]*connstate.State)}
}

// connContext is http.Server.ConnContext: it runs once per accepted
// connection, before the TLS handshake.
func (t *tracker) connContext(ctx context.Context, c net.Conn) context.Context {
	st := connstate.New(time.Now())
	t.mu.Lock()
	t.conns[c] = st
	t.mu.Unlock()
	return connstate.With(ctx, st)
}

// connState is http.Server.ConnState; net/http reports StateClosed for
// HTTP/2 connections too.
func (t *tracker) connState(c net.Conn, s http.ConnState) {
	if s != http.StateClosed && s != http.StateHijacked {
		return
	}
	t.mu.Lock()
	st := t.conns[c]
	delete(t.conns, c)
	t.mu.Unlock()
	if st != nil {
		if p := st.Proto(); p != "" {
			t.m.OpenConns.WithLabelValues(p).Dec()
		}
	}
}

// markShutdown counts every open connection as recycled by the shutdown
// (net/http sends the GOAWAYs and Connection: close itself).
func (t *tracker) markShutdown() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range t.conns {
		if p := st.Proto(); p != "" && st.MarkRecycling() {
			t.m.ConnsRecycled.WithLabelValues(p, connstate.ReasonShutdown).Inc()
		}
	}
}

// quietLog is net/http's error log: bad clients (TLS garbage, slowloris)
// are worth a line on stderr, not more.
func quietLog() *log.Logger {
	return log.New(os.Stderr, "echo-server: ", log.LstdFlags|log.LUTC)
}
