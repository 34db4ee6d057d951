package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"spread.dev/echo-server/accesslog"
	"spread.dev/echo-server/capacity"
	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/echo"
	"spread.dev/echo-server/grpcecho"
	"spread.dev/echo-server/metrics"
	"spread.dev/echo-server/quickeys"
	"spread.dev/echo-server/server"
)

type serveFlags struct {
	binds           server.Binds
	certFile        string
	keyFile         string
	caCerts         string
	podName         string
	delay           time.Duration
	maxInflight     int
	cpuWork         time.Duration
	policy          connstate.Policy
	drain           time.Duration
	shutdownTimeout time.Duration
	quicKeys        string
	accessLog       bool
	limits          server.Limits
	ws              wsFlags
	grpcBind        string
	maxConnAgeGrace time.Duration
	grpcMaxMsg      int
}

const serveUsage = `Usage: echo-server [flags]
       echo-server certs --dir DIR --hosts a,b,...
       echo-server keys --out FILE

Serves GET / (JSON {"hostname": POD, "proto", "remote_addr", "conn_requests",
"conn_age_ms"} after --delay, header X-Served-By: POD), /healthz and /readyz
on every listener, and GET /ws (a WebSocket naming the pod in its first
message, then echoing every message) on the TCP ones: HTTP/1.1 on --insecure-bind, HTTP/2 and HTTP/1.1 over TLS
on --bind, HTTP/3 on --quic-bind (UDP); Prometheus metrics on --metrics-bind.
gRPC (spread.echo.v1.Echo, reflection, grpc.health.v1.Health) on cleartext
h2c --grpc-bind and on --bind (h2, content-type application/grpc).
An empty address disables that listener.

TLS: pass --certfile and --keyfile (make them with "echo-server certs").
Without them the TLS and QUIC listeners use an in-memory self-signed
certificate made at start-up, with a warning: clients cannot verify it.

On SIGTERM or SIGINT: /readyz answers 503 at once, serving goes on for
--drain, then connections get Connection: close / GOAWAY, in-flight requests
finish (at most --shutdown-timeout) and the process exits 0. A second signal
cuts the drain short.

Flags:
`

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{limits: server.DefaultLimits}
	fs := flag.NewFlagSet("echo-server", flag.ContinueOnError)
	// The flag package prints the error and the whole usage on a typo;
	// a user then reads 40 lines for one wrong flag. Print the usage only
	// for -h, and let runServe say the error once with a hint.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.binds.Insecure, "insecure-bind", "0.0.0.0:5080", "HTTP/1.1 cleartext listen address (\"\" = off)")
	fs.StringVar(&f.binds.TLS, "bind", "0.0.0.0:5443", "TLS listen address, HTTP/2 and HTTP/1.1 by ALPN (\"\" = off)")
	fs.StringVar(&f.binds.QUIC, "quic-bind", "0.0.0.0:5443", "UDP listen address for HTTP/3 (\"\" = off)")
	fs.StringVar(&f.binds.Metrics, "metrics-bind", "0.0.0.0:9090", "Prometheus /metrics listen address (\"\" = off)")
	fs.StringVar(&f.certFile, "certfile", "", "server certificate PEM (chain) for TLS and QUIC")
	fs.StringVar(&f.keyFile, "keyfile", "", "private key PEM of --certfile")
	fs.StringVar(&f.caCerts, "ca-certs", "", "CA PEM to verify client certificates against, when clients present one")
	fs.StringVar(&f.podName, "pod-name", "", "name answered in \"hostname\" and X-Served-By (default $POD_NAME, else the host name)")
	fs.DurationVar(&f.delay, "delay", time.Second, "wait before answering GET / (0 allowed)")
	fs.IntVar(&f.maxInflight, "max-inflight", 0, "at most N requests in their delay/CPU work at once, the rest queue FIFO (0 = unlimited)")
	fs.DurationVar(&f.cpuWork, "cpu-work", 0, "CPU time to burn per GET /, after the delay")
	fs.IntVar(&f.policy.MaxRequests, "max-conn-requests", 0, "recycle a connection after N requests (h1: Connection: close; h2, h3: GOAWAY) (0 = never)")
	fs.DurationVar(&f.policy.MaxAge, "max-conn-age", 0, "recycle a connection at its first request after this age (0 = never)")
	fs.DurationVar(&f.drain, "drain", 5*time.Second, "after SIGTERM, keep serving this long with /readyz failing")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "after the drain, wait at most this long for in-flight requests")
	fs.StringVar(&f.quicKeys, "quic-keys", "", "JSON file with the QUIC stateless-reset, token and TLS session-ticket keys shared by replicas (make it with \"echo-server keys\")")
	fs.BoolVar(&f.accessLog, "access-log", true, "log one line per request to stdout")
	fs.DurationVar(&f.limits.ReadHeaderTimeout, "read-header-timeout", f.limits.ReadHeaderTimeout, "close TCP connections that take longer to send request headers")
	fs.DurationVar(&f.limits.IdleTimeout, "idle-timeout", f.limits.IdleTimeout, "close keep-alive connections idle this long")
	fs.IntVar(&f.limits.MaxHeaderBytes, "max-header-bytes", f.limits.MaxHeaderBytes, "largest accepted request header block")
	f.ws.register(fs)
	fs.StringVar(&f.grpcBind, "grpc-bind", "0.0.0.0:5090", "gRPC cleartext (h2c) listen address (\"\" = off); gRPC is also served on --bind")
	fs.DurationVar(&f.maxConnAgeGrace, "max-conn-age-grace", 10*time.Second, "gRPC: after a --max-conn-age GOAWAY, RPCs in flight get this long before the connection is cut")
	fs.IntVar(&f.grpcMaxMsg, "grpc-max-msg-bytes", 4<<20, "gRPC: largest accepted request message (larger: RESOURCE_EXHAUSTED)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprint(stderr, serveUsage)
			fs.PrintDefaults()
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (subcommands: certs, keys)", fs.Arg(0))
	}
	switch {
	case f.delay < 0, f.cpuWork < 0, f.drain < 0, f.shutdownTimeout < 0, f.policy.MaxAge < 0:
		return nil, errors.New("durations must not be negative")
	case f.ws.idleTimeout < 0:
		return nil, errors.New("--ws-idle-timeout must not be negative")
	case f.ws.maxMessageBytes <= 0:
		return nil, errors.New("--ws-max-message-bytes must be positive")
	case f.maxConnAgeGrace < 0:
		return nil, errors.New("--max-conn-age-grace must not be negative")
	case f.grpcMaxMsg <= 0:
		return nil, errors.New("--grpc-max-msg-bytes must be positive")
	case f.maxInflight < 0, f.policy.MaxRequests < 0:
		return nil, errors.New("--max-inflight and --max-conn-requests must not be negative")
	case (f.certFile == "") != (f.keyFile == ""):
		return nil, errors.New("--certfile and --keyfile go together")
	}
	if f.podName == "" {
		f.podName = os.Getenv("POD_NAME")
	}
	if f.podName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("host name: %w (set --pod-name)", err)
		}
		f.podName = h
	}
	return f, nil
}

func runServe(args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "echo-server:", err)
		fmt.Fprintln(stderr, "echo-server: run 'echo-server -h' for the flags")
		return 2
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(stdout, "echo-server: "+format+"\n", a...)
	}

	var keys *quickeys.Keys
	if f.quicKeys != "" {
		if keys, err = quickeys.Load(f.quicKeys); err != nil {
			return fail(stderr, err)
		}
	}
	var tlsConf *tls.Config
	if f.binds.TLS != "" || f.binds.QUIC != "" {
		if tlsConf, err = loadTLS(f, stderr); err != nil {
			return fail(stderr, err)
		}
	}
	ls, err := server.Listen(f.binds)
	if err != nil {
		return fail(stderr, err)
	}
	var grpcLn net.Listener
	if f.grpcBind != "" {
		if grpcLn, err = net.Listen("tcp", f.grpcBind); err != nil {
			_ = ls.Close()
			return fail(stderr, fmt.Errorf("--grpc-bind: %w", err))
		}
	}
	m := metrics.New()
	wsh, err := f.ws.handler(f.podName, f.policy.MaxAge, m)
	if err != nil {
		_ = ls.Close()
		return fail(stderr, err)
	}
	var alog *accesslog.Logger
	if f.accessLog {
		alog = accesslog.New(stdout)
	}
	limiter := capacity.New(f.maxInflight)
	gs := grpcecho.New(grpcecho.Config{
		Pod: f.podName, Delay: f.delay, CPUWork: f.cpuWork, Limiter: limiter,
		Metrics: m, Log: alog, Policy: f.policy, MaxAgeGrace: f.maxConnAgeGrace,
		MaxRecvMsgSize: f.grpcMaxMsg,
	})
	h := echo.New(echo.Config{
		Pod:     f.podName,
		Delay:   f.delay,
		CPUWork: f.cpuWork,
		Limiter: limiter,
		Policy:  f.policy,
		Metrics: m,
		Log:     alog,
		AltSvc:  ls.AltSvc(),
		WS:      wsh,
	})
	srv, err := server.Serve(ls, server.Config{Handler: gs.Route(h), Metrics: m, TLS: tlsConf, QUICKeys: keys, Limits: f.limits})
	if err != nil {
		_ = ls.Close()
		if grpcLn != nil {
			_ = grpcLn.Close()
		}
		return fail(stderr, err)
	}
	grpcErrs := make(chan error, 1)
	if grpcLn != nil {
		go func() { grpcErrs <- gs.Serve(grpcLn) }()
	}

	keysNote := "per-process (no stateless resets)"
	if keys != nil {
		keysNote = f.quicKeys
	}
	say("pod %q delay=%s max-inflight=%d cpu-work=%s max-conn-requests=%d max-conn-age=%s drain=%s quic-keys=%s",
		f.podName, f.delay, f.maxInflight, f.cpuWork, f.policy.MaxRequests, f.policy.MaxAge, f.drain, keysNote)
	if ls.Insecure != nil {
		say("listening h1 http://%s", shownAddr(f.binds.Insecure, ls.Insecure.Addr()))
	}
	if ls.TLS != nil {
		say("listening h1+h2 https://%s", shownAddr(f.binds.TLS, ls.TLS.Addr()))
	}
	if ls.QUIC != nil {
		say("listening h3 https://%s (udp)", shownAddr(f.binds.QUIC, ls.QUIC.LocalAddr()))
	}
	if grpcLn != nil {
		say("listening grpc h2c://%s (gRPC also on the TLS listener)", shownAddr(f.grpcBind, grpcLn.Addr()))
	}
	if ls.Metrics != nil {
		say("listening metrics http://%s/metrics", shownAddr(f.binds.Metrics, ls.Metrics.Addr()))
	}
	say("ready")

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	select {
	case sig := <-sigs:
		h.SetDraining()
		gs.SetDraining()
		say("%s: draining for %s (readyz answers 503)", sig, f.drain)
		t := time.NewTimer(f.drain)
		select {
		case <-t.C:
		case sig := <-sigs:
			say("%s again: drain cut short", sig)
		}
		t.Stop()
	case err := <-srv.Errors():
		fmt.Fprintln(stderr, "echo-server: listener failed:", err)
		h.SetDraining()
		gs.SetDraining()
	case err := <-grpcErrs:
		fmt.Fprintln(stderr, "echo-server: grpc listener failed:", err)
		h.SetDraining()
		gs.SetDraining()
	}

	say("shutting down: GOAWAY / Connection: close, waiting up to %s for in-flight requests", f.shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), f.shutdownTimeout)
	defer cancel()
	// WebSocket sessions are hijacked connections, which net/http's
	// Shutdown neither closes nor waits for: close them (1001) alongside.
	// The gRPC server shuts down alongside too, so each gets the whole
	// --shutdown-timeout for what it has in flight.
	wsDone := make(chan error, 1)
	go func() { wsDone <- wsh.Shutdown(ctx) }()
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- gs.Shutdown(ctx) }()
	if err := srv.Shutdown(ctx); err != nil {
		say("shutdown: %v (remaining connections were closed)", err)
	}
	if err := <-wsDone; err != nil {
		say("shutdown: %v (remaining WebSocket sessions were cut)", err)
	}
	if err := <-grpcDone; err != nil {
		say("grpc shutdown: %v (remaining RPCs were cut)", err)
	}
	say("stopped")
	return 0
}

// loadTLS builds the TLS config of the TLS and QUIC listeners.
func loadTLS(f *serveFlags, stderr io.Writer) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if f.certFile != "" {
		cert, err = tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return nil, fmt.Errorf("load --certfile/--keyfile: %w", err)
		}
	} else {
		fmt.Fprintln(stderr, "echo-server: WARNING: no --certfile/--keyfile: using an in-memory SELF-SIGNED certificate that no client can verify.")
		fmt.Fprintln(stderr, "echo-server: WARNING: make a CA and a certificate with: echo-server certs --dir certs --hosts localhost,127.0.0.1")
		fmt.Fprintln(stderr, "echo-server: WARNING: then run with --certfile certs/cert.crt --keyfile certs/cert.key and trust certs/ca.pem in clients.")
		if cert, err = selfSigned(f.podName); err != nil {
			return nil, err
		}
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.caCerts != "" {
		pem, err := os.ReadFile(f.caCerts)
		if err != nil {
			return nil, fmt.Errorf("--ca-certs: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-certs: no PEM certificate in %s", f.caCerts)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return conf, nil
}

// selfSigned makes a throw-away certificate for localhost, loopback and the pod name.
func selfSigned(pod string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: pod},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", pod},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// shownAddr is the address a startup line names: the bound one, except that
// a wildcard bind keeps the host the user gave (Go reports 0.0.0.0 as
// "[::]", which reads as IPv6-only) with the port actually bound.
func shownAddr(bind string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(bind)
	_, port, err2 := net.SplitHostPort(bound.String())
	if err != nil || err2 != nil {
		return bound.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if host == "" {
			host = "0.0.0.0"
		}
		return net.JoinHostPort(host, port)
	}
	return bound.String()
}
