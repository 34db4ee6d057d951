package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/metrics"
)

// goAwayLinger is how long a recycled HTTP/3 connection stays open after its
// last request, so the client can read the GOAWAY and close it itself (as
// net/http waits 1 s after an HTTP/2 GOAWAY).
const goAwayLinger = time.Second

// h3Server accepts QUIC connections and serves each with its own
// http3.Server, because quic-go has no per-connection GOAWAY: shutting down
// a one-connection server is exactly a GOAWAY on that connection.
type h3Server struct {
	tr      *quic.Transport
	ln      *quic.EarlyListener
	handler http.Handler
	m       *metrics.Metrics
	limits  Limits

	mu       sync.Mutex
	conns    map[*h3Conn]struct{}
	shutting bool
	wg       sync.WaitGroup // the accept loop, each connection and its closer
}

func newH3Server(udp *net.UDPConn, tlsConf *tls.Config, cfg Config) (*h3Server, error) {
	tr := &quic.Transport{Conn: udp}
	if cfg.QUICKeys != nil {
		cfg.QUICKeys.ApplyQUIC(tr)
	}
	qconf := &quic.Config{
		// 0-RTT lets a client holding a session ticket (from any replica
		// sharing the ticket keys) send its request in the first flight.
		Allow0RTT: true,
	}
	ln, err := tr.ListenEarly(http3.ConfigureTLSConfig(tlsConf), qconf)
	if err != nil {
		return nil, fmt.Errorf("server: quic listen: %w", err)
	}
	return &h3Server{
		tr:      tr,
		ln:      ln,
		handler: cfg.Handler,
		m:       cfg.Metrics,
		limits:  cfg.Limits,
		conns:   make(map[*h3Conn]struct{}),
	}, nil
}

// serve accepts connections until the listener is closed.
func (s *h3Server) serve() error {
	for {
		qc, err := s.ln.Accept(context.Background())
		if err != nil {
			if errors.Is(err, quic.ErrServerClosed) {
				return http.ErrServerClosed
			}
			return fmt.Errorf("server: quic accept: %w", err)
		}
		c := s.newConn(qc)
		s.mu.Lock()
		if s.shutting {
			s.mu.Unlock()
			_ = qc.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "shutting down")
			continue
		}
		s.conns[c] = struct{}{}
		// Added under mu: shutdown's Wait starts only after shutting is set.
		s.wg.Go(func() { s.serveConn(c) })
		s.mu.Unlock()
	}
}

// h3Conn is one QUIC connection and its private HTTP/3 server.
type h3Conn struct {
	qc     *quic.Conn
	srv    *http3.Server
	st     *connstate.State
	goAway sync.Once
}

func (s *h3Server) newConn(qc *quic.Conn) *h3Conn {
	c := &h3Conn{qc: qc, st: connstate.New(time.Now())}
	c.st.GoAway = func() { s.startClose(c) }
	c.srv = &http3.Server{
		Handler:        s.handler,
		MaxHeaderBytes: s.limits.MaxHeaderBytes,
		IdleTimeout:    s.limits.IdleTimeout,
		ConnContext: func(ctx context.Context, _ *quic.Conn) context.Context {
			return connstate.With(ctx, c.st)
		},
	}
	return c
}

// serveConn runs until the connection is closed and its handlers returned.
func (s *h3Server) serveConn(c *h3Conn) {
	_ = c.srv.ServeQUICConn(c.qc)
	// Usually closed already; not when the server was shut down before this
	// connection started serving.
	_ = c.qc.CloseWithError(quic.ApplicationErrorCode(http3.ErrCodeNoError), "")
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if p := c.st.Proto(); p != "" {
		s.m.OpenConns.WithLabelValues(p).Dec()
	}
}

// startClose begins a graceful close of c once; it never blocks.
func (s *h3Server) startClose(c *h3Conn) {
	c.goAway.Do(func() {
		s.wg.Go(func() { c.closeGracefully() })
	})
}

// closeGracefully sends GOAWAY (quic-go clients then close the connection
// themselves once their requests are answered); if the client keeps the
// connection, it is closed with H3_NO_ERROR goAwayLinger after the last
// in-flight request, a request that started during the linger included.
func (c *h3Conn) closeGracefully() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // owned by closeGracefully: ends with it via stop
		for {
			idle := c.st.Idle()
			select {
			case <-idle:
			case <-stop:
				return
			}
			t := time.NewTimer(goAwayLinger)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return
			}
			if c.st.Idle() == idle {
				cancel() // Shutdown then closes the connection with H3_NO_ERROR
				return
			}
			// A stream accepted before the GOAWAY reached its handler during
			// the linger: let it finish, then linger again.
		}
	}()
	_ = c.srv.Shutdown(ctx)
}

// shutdown stops accepting, GOAWAYs every connection, waits for them until
// ctx ends, then closes the rest.
func (s *h3Server) shutdown(ctx context.Context) error {
	_ = s.ln.Close()
	s.mu.Lock()
	s.shutting = true
	conns := make([]*h3Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		if p := c.st.Proto(); c.st.MarkRecycling() && p != "" {
			s.m.ConnsRecycled.WithLabelValues(p, connstate.ReasonShutdown).Inc()
		}
		s.startClose(c)
	}
	done := make(chan struct{})
	go func() { // ends when every connection goroutine has
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("server: h3 shutdown: %w", ctx.Err())
		for _, c := range conns {
			_ = c.srv.Close()
		}
		<-done
	}
	// The transport does not own the socket it was given: close both.
	return errors.Join(err, s.tr.Close(), s.tr.Conn.Close())
}
