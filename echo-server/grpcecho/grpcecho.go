// Package grpcecho is echo-server's gRPC face: the service
// spread.echo.v1.Echo (every reply names the pod), server reflection and
// grpc.health.v1.Health following readiness, served natively on a cleartext
// h2c listener and, through grpc-go's ServeHTTP, on the TLS listener next to
// the HTTP handler.
package grpcecho

//go:generate protoc -I echopb --go_out=echopb --go_opt=paths=source_relative --go-grpc_out=echopb --go-grpc_opt=paths=source_relative echo.proto

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"spread.dev/echo-server/accesslog"
	"spread.dev/echo-server/capacity"
	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/grpcecho/echopb"
	"spread.dev/echo-server/metrics"
)

// ServiceName is the full name of the echo service, as health checks name it.
const ServiceName = "spread.echo.v1.Echo"

// ProtoLabel is the "proto" label of gRPC in echo-server's metrics.
const ProtoLabel = "grpc"

// Limits on what one stream may ask, so a single RPC cannot hold the server.
const (
	maxStreamCount    = 10000
	maxStreamInterval = 60 * time.Second
)

// Config is what the gRPC server needs to know.
type Config struct {
	Pod     string
	Delay   time.Duration // wait before answering Echo, as GET /
	CPUWork time.Duration
	Limiter *capacity.Limiter // shared with the HTTP handler: one pod, one capacity
	Metrics *metrics.Metrics
	Log     *accesslog.Logger // nil: no access log
	// Policy recycles connections. On the native h2c listener only MaxAge
	// applies, as grpc-go's MaxConnectionAge (a timer, GOAWAY, then
	// MaxAgeGrace for RPCs in flight); grpc-go has no per-connection GOAWAY
	// a request count could trigger. On the TLS listener (net/http's HTTP/2
	// server) both fields apply as they do to HTTP/2 requests.
	Policy      connstate.Policy
	MaxAgeGrace time.Duration
	// MaxRecvMsgSize bounds one received message (grpc-go's default, 4 MiB,
	// when 0); larger ones fail with RESOURCE_EXHAUSTED.
	MaxRecvMsgSize int
	// MaxConcurrentStreams bounds the streams (and so the handlers) of one
	// connection; grpc-go's rapid-reset defence (CVE-2023-44487) throttles
	// a connection that opens more. 0 means 100, as net/http's HTTP/2.
	MaxConcurrentStreams uint32
}

// Server is the gRPC server of one pod.
//
// It holds two grpc-go servers with the same services: one serves the
// native h2c listener, the other only ServeHTTP on the TLS listener. They
// are apart because grpc-go's GracefulStop cancels the RPCs of ServeHTTP
// transports at once, while net/http's Shutdown lets them finish after its
// GOAWAY; so the TLS side is left to net/http.
type Server struct {
	cfg      Config
	grpc     *grpc.Server // native listener
	overHTTP *grpc.Server // ServeHTTP on the TLS listener
	health   *health.Server
	draining atomic.Bool
}

// New builds the server and registers Echo, Health and reflection.
func New(cfg Config) *Server {
	if cfg.MaxConcurrentStreams == 0 {
		cfg.MaxConcurrentStreams = 100
	}
	s := &Server{cfg: cfg, health: health.NewServer()}
	opts := []grpc.ServerOption{
		grpc.MaxConcurrentStreams(cfg.MaxConcurrentStreams),
		grpc.ChainUnaryInterceptor(s.unaryObserve),
		grpc.ChainStreamInterceptor(s.streamObserve),
	}
	if cfg.MaxRecvMsgSize > 0 {
		opts = append(opts, grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize))
	}
	// ServeHTTP makes a transport (and a stats "connection") per RPC, and
	// net/http owns the connection: counted by Route, recycled by net/http.
	s.overHTTP = grpc.NewServer(opts...)
	// Only native connections are counted by the stats handler.
	opts = append(opts, grpc.StatsHandler(&connStats{m: cfg.Metrics}))
	if cfg.Policy.MaxAge > 0 {
		grace := cfg.MaxAgeGrace
		if grace <= 0 {
			grace = 10 * time.Second
		}
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      cfg.Policy.MaxAge,
			MaxConnectionAgeGrace: grace,
		}))
	}
	s.grpc = grpc.NewServer(opts...)
	for _, g := range []*grpc.Server{s.grpc, s.overHTTP} {
		echopb.RegisterEchoServer(g, &echoService{s: s})
		healthpb.RegisterHealthServer(g, s.health)
		reflection.Register(g)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_SERVING)
	cfg.Metrics.OpenConns.WithLabelValues(ProtoLabel)
	cfg.Metrics.ConnsOpened.WithLabelValues(ProtoLabel)
	return s
}

// Serve serves the cleartext (h2c, prior knowledge) listener until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	if err := s.grpc.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// SetDraining makes the health service answer NOT_SERVING (overall and for
// the echo service) while RPCs go on being served, as /readyz answers 503.
func (s *Server) SetDraining() {
	s.draining.Store(true)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	s.health.SetServingStatus(ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
}

// Shutdown sends GOAWAY on every native connection and waits for the RPCs
// in flight until ctx ends; then it cuts what is left and returns ctx's
// error. Connections of the TLS listener are net/http's to shut down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.Shutdown() // NOT_SERVING for every service, and watchers told so
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return ctx.Err()
	}
}

// Route sends HTTP/2 requests with a gRPC content type to the gRPC server
// and everything else to next; it serves the TLS listener. Recycling works
// there as for HTTP/2 requests: the response header "Connection: close"
// makes net/http send GOAWAY after it.
func (s *Server) Route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			next.ServeHTTP(w, r)
			return
		}
		if st := connstate.From(r.Context()); st != nil {
			_, first, reason := st.Begin(ProtoLabel, time.Now(), s.cfg.Policy)
			defer st.End()
			if first {
				s.cfg.Metrics.ConnsOpened.WithLabelValues(ProtoLabel).Inc()
				s.cfg.Metrics.OpenConns.WithLabelValues(ProtoLabel).Inc()
			}
			if reason != "" {
				s.cfg.Metrics.ConnsRecycled.WithLabelValues(ProtoLabel, reason).Inc()
				w.Header().Set("Connection", "close")
			}
		}
		s.overHTTP.ServeHTTP(w, r)
	})
}

// isEcho tells the echo service's RPCs (counted as requests) from health
// checks and reflection (not counted, as /healthz and /readyz are not).
func isEcho(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+ServiceName+"/")
}

func (s *Server) unaryObserve(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	s.observe(ctx, info.FullMethod, start, err)
	return resp, err
}

func (s *Server) streamObserve(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	err := handler(srv, ss)
	s.observe(ss.Context(), info.FullMethod, start, err)
	return err
}

func (s *Server) observe(ctx context.Context, method string, start time.Time, err error) {
	if !isEcho(method) {
		return
	}
	code := status.Code(err)
	d := time.Since(start)
	s.cfg.Metrics.Requests.WithLabelValues(ProtoLabel, code.String()).Inc()
	s.cfg.Metrics.RequestDuration.WithLabelValues(ProtoLabel).Observe(d.Seconds())
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	s.cfg.Log.Log(accesslog.Entry{
		Time: start, Proto: "gRPC", Remote: remote, Method: "POST", Path: method,
		Status: int(code), Duration: d,
	})
}

// work is the request's simulated cost, shared with the other protocols'
// handlers (capacity.Cost).
func (s *Server) work(ctx context.Context) error {
	m := s.cfg.Metrics
	return capacity.Cost{Limiter: s.cfg.Limiter, Inflight: m.Inflight, Queued: m.Queued,
		Delay: s.cfg.Delay, CPUWork: s.cfg.CPUWork}.Pay(ctx)
}

// echoService implements spread.echo.v1.Echo.
type echoService struct {
	echopb.UnimplementedEchoServer
	s *Server
}

// servedBy is the response metadata naming the pod, as X-Served-By on HTTP.
func (e *echoService) servedBy() metadata.MD { return metadata.Pairs("x-served-by", e.s.cfg.Pod) }

func (e *echoService) reply(ctx context.Context, msg string, seq int64) *echopb.EchoReply {
	r := &echopb.EchoReply{Hostname: e.s.cfg.Pod, Message: msg, Proto: "grpc", Seq: seq}
	if p, ok := peer.FromContext(ctx); ok {
		if p.Addr != nil {
			r.RemoteAddr = p.Addr.String()
		}
		if p.AuthInfo != nil {
			r.Proto = "grpc+tls"
		}
	}
	return r
}

func (e *echoService) Echo(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoReply, error) {
	if err := grpc.SetHeader(ctx, e.servedBy()); err != nil {
		return nil, err
	}
	if err := e.s.work(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	return e.reply(ctx, req.GetMessage(), 1), nil
}

func (e *echoService) EchoStream(req *echopb.EchoStreamRequest, stream grpc.ServerStreamingServer[echopb.EchoReply]) error {
	count := int64(req.GetCount())
	interval := time.Duration(req.GetIntervalMs()) * time.Millisecond
	switch {
	case count < 0 || count > maxStreamCount:
		return status.Errorf(codes.InvalidArgument, "count %d out of range [0, %d]", count, maxStreamCount)
	case interval < 0 || interval > maxStreamInterval:
		return status.Errorf(codes.InvalidArgument, "interval_ms %d out of range [0, %d]", req.GetIntervalMs(), maxStreamInterval.Milliseconds())
	case count == 0:
		count = 1
	}
	if err := stream.SendHeader(e.servedBy()); err != nil {
		return err
	}
	ctx := stream.Context()
	for i := int64(1); i <= count; i++ {
		if i > 1 && interval > 0 {
			t := time.NewTimer(interval)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return status.FromContextError(ctx.Err()).Err()
			}
		}
		if err := stream.Send(e.reply(ctx, req.GetMessage(), i)); err != nil {
			return err
		}
	}
	return nil
}

func (e *echoService) Collect(stream grpc.ClientStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error {
	if err := stream.SendHeader(e.servedBy()); err != nil {
		return err
	}
	var msgs []string
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(e.reply(stream.Context(), strings.Join(msgs, " "), int64(len(msgs))))
		}
		if err != nil {
			return err
		}
		if len(msgs) >= maxStreamCount {
			return status.Errorf(codes.ResourceExhausted, "more than %d messages", maxStreamCount)
		}
		msgs = append(msgs, req.GetMessage())
	}
}

func (e *echoService) Chat(stream grpc.BidiStreamingServer[echopb.EchoRequest, echopb.EchoReply]) error {
	if err := stream.SendHeader(e.servedBy()); err != nil {
		return err
	}
	ctx := stream.Context()
	for seq := int64(1); ; seq++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) { // the client ended its side
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(e.reply(ctx, req.GetMessage(), seq)); err != nil {
			return err
		}
	}
}

// connStats counts the native listener's connections in the same metrics
// as HTTP's (proto "grpc"); the TLS listener's are counted by Route.
type connStats struct{ m *metrics.Metrics }

func (c *connStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c *connStats) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c *connStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (c *connStats) HandleConn(_ context.Context, st stats.ConnStats) {
	switch st.(type) {
	case *stats.ConnBegin:
		c.m.ConnsOpened.WithLabelValues(ProtoLabel).Inc()
		c.m.OpenConns.WithLabelValues(ProtoLabel).Inc()
	case *stats.ConnEnd:
		c.m.OpenConns.WithLabelValues(ProtoLabel).Dec()
	}
}
