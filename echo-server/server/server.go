// Package server runs echo-server's listeners (HTTP/1.1 cleartext, TLS with
// HTTP/2 and HTTP/1.1, HTTP/3 over QUIC, Prometheus metrics) and shuts them
// down gracefully.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"spread.dev/echo-server/metrics"
	"spread.dev/echo-server/quickeys"
)

// Limits are the hardening knobs shared by the listeners.
type Limits struct {
	ReadHeaderTimeout time.Duration // slowloris bound on h1 (and the h2 preface)
	IdleTimeout       time.Duration // idle keep-alive connections are closed after it
	MaxHeaderBytes    int           // request header bytes on every protocol
}

// DefaultLimits are sane for a pod behind a Service.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 10 * time.Second,
	IdleTimeout:       120 * time.Second,
	MaxHeaderBytes:    64 << 10,
}

// Binds are the listen addresses; "" disables a listener.
type Binds struct {
	Insecure, TLS, QUIC, Metrics string
}

// Listeners are the bound sockets, made before serving so that port
// conflicts show up at once and port 0 can be resolved.
type Listeners struct {
	Insecure net.Listener
	TLS      net.Listener
	QUIC     *net.UDPConn
	Metrics  net.Listener
}

// Listen binds every non-empty address of b; on error it closes what it opened.
func Listen(b Binds) (*Listeners, error) {
	l := &Listeners{}
	var err error
	if b.Insecure != "" {
		if l.Insecure, err = net.Listen("tcp", b.Insecure); err != nil {
			return nil, errors.Join(fmt.Errorf("server: --insecure-bind: %w", err), l.Close())
		}
	}
	if b.TLS != "" {
		if l.TLS, err = net.Listen("tcp", b.TLS); err != nil {
			return nil, errors.Join(fmt.Errorf("server: --bind: %w", err), l.Close())
		}
	}
	if b.QUIC != "" {
		addr, rerr := net.ResolveUDPAddr("udp", b.QUIC)
		if rerr != nil {
			return nil, errors.Join(fmt.Errorf("server: --quic-bind: %w", rerr), l.Close())
		}
		if l.QUIC, err = net.ListenUDP("udp", addr); err != nil {
			return nil, errors.Join(fmt.Errorf("server: --quic-bind: %w", err), l.Close())
		}
	}
	if b.Metrics != "" {
		if l.Metrics, err = net.Listen("tcp", b.Metrics); err != nil {
			return nil, errors.Join(fmt.Errorf("server: --metrics-bind: %w", err), l.Close())
		}
	}
	return l, nil
}

// Close closes every bound socket.
func (l *Listeners) Close() error {
	var errs []error
	for _, ln := range []net.Listener{l.Insecure, l.TLS, l.Metrics} {
		if ln != nil {
			errs = append(errs, ln.Close())
		}
	}
	if l.QUIC != nil {
		errs = append(errs, l.QUIC.Close())
	}
	return errors.Join(errs...)
}

// AltSvc is the Alt-Svc header value advertising HTTP/3, or "" without QUIC.
func (l *Listeners) AltSvc() string {
	if l.QUIC == nil {
		return ""
	}
	port := l.QUIC.LocalAddr().(*net.UDPAddr).Port
	return `h3=":` + strconv.Itoa(port) + `"; ma=86400`
}

// Config is what Serve needs besides the sockets.
type Config struct {
	Handler  http.Handler
	Metrics  *metrics.Metrics
	TLS      *tls.Config    // required when the TLS or QUIC listener is bound
	QUICKeys *quickeys.Keys // nil: per-process random ticket keys, no stateless resets
	Limits   Limits
}

// Server serves the listeners until Shutdown.
type Server struct {
	h1, tls, metrics *http.Server
	h3               *h3Server
	tracker          *tracker
	wg               sync.WaitGroup // one goroutine per listener
	errs             chan error
}

// Serve starts serving every bound listener in the background.
func Serve(l *Listeners, cfg Config) (*Server, error) {
	if (l.TLS != nil || l.QUIC != nil) && cfg.TLS == nil {
		return nil, errors.New("server: TLS and QUIC listeners need a certificate")
	}
	s := &Server{tracker: newTracker(cfg.Metrics), errs: make(chan error, 4)}
	var tlsConf *tls.Config
	if cfg.TLS != nil {
		tlsConf = cfg.TLS.Clone()
		if cfg.QUICKeys != nil {
			cfg.QUICKeys.ApplyTLS(tlsConf)
		}
	}
	if l.QUIC != nil {
		h3, err := newH3Server(l.QUIC, tlsConf, cfg)
		if err != nil {
			return nil, err
		}
		s.h3 = h3
		s.run(h3.serve)
	}
	if l.Insecure != nil {
		s.h1 = s.httpServer(cfg)
		s.run(func() error { return s.h1.Serve(l.Insecure) })
	}
	if l.TLS != nil {
		s.tls = s.httpServer(cfg)
		s.tls.TLSConfig = tlsConf
		s.run(func() error { return s.tls.ServeTLS(l.TLS, "", "") })
	}
	if l.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", cfg.Metrics.Handler())
		s.metrics = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
			IdleTimeout:       cfg.Limits.IdleTimeout,
			MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		}
		s.run(func() error { return s.metrics.Serve(l.Metrics) })
	}
	return s, nil
}

func (s *Server) httpServer(cfg Config) *http.Server {
	return &http.Server{
		Handler:           cfg.Handler,
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ConnContext:       s.tracker.connContext,
		ConnState:         s.tracker.connState,
		ErrorLog:          quietLog(),
	}
}

// run serves one listener in a goroutine owned by s.
func (s *Server) run(serve func() error) {
	s.wg.Go(func() {
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	})
}

// Errors delivers errors of listeners that stopped on their own.
func (s *Server) Errors() <-chan error { return s.errs }

// Shutdown stops accepting, sends GOAWAY or Connection: close to every
// connection, waits for in-flight requests until ctx ends, then closes what
// is left. The metrics listener is closed last, so scrapes work throughout.
// It returns ctx's error if connections had to be cut.
func (s *Server) Shutdown(ctx context.Context) error {
	s.tracker.markShutdown()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	stop := func(f func(context.Context) error) {
		wg.Go(func() {
			if err := f(ctx); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	for _, hs := range []*http.Server{s.h1, s.tls} {
		if hs != nil {
			stop(func(ctx context.Context) error {
				err := hs.Shutdown(ctx)
				if err != nil {
					_ = hs.Close() // cut what did not finish in time
				}
				return err
			})
		}
	}
	if s.h3 != nil {
		stop(s.h3.shutdown)
	}
	wg.Wait()
	if s.metrics != nil {
		_ = s.metrics.Close()
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
