// Package k6grpc is spread's `k6/net/grpc` module, k6's gRPC client API on
// grpc-go: new grpc.Client(); load() (.proto files, parsed with
// bufbuild/protocompile), loadProtoset(), connect() (with server
// reflection), invoke(), asyncInvoke(), healthCheck(), close(); and
// new grpc.Stream(client, method, params) for client, server and
// bidirectional streaming on the VU's event loop. Metrics as k6's
// (grpc_req_duration, grpc_streams, grpc_streams_msgs_sent,
// grpc_streams_msgs_received), tagged with the pod from the response
// metadata x-served-by.
//
// This project adds, on connect(): a connection policy (one connection
// per VU, k6's default; a new connection per RPC; rotation after N RPCs or
// an age) and client-side load balancing through grpc-go's resolvers and
// balancers (connect('dns:///name:port', {loadBalancing: 'round_robin'})).
package k6grpc

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dop251/goja"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcdns "google.golang.org/grpc/resolver/dns"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/wsclient"
)

func init() {
	ext.Register("k6/net/grpc", &module{cache: map[string]*compiled{}})
	dnsIntervalErr = applyDNSInterval(os.Getenv(EnvDNSMinResolutionInterval))
}

// EnvDNSMinResolutionInterval sets grpc-go's DNS resolver's minimum time
// between two resolutions of a target (default 30 s: after a re-resolution
// request, e.g. a GOAWAY, a dns:/// target is looked up again at most that
// often). A project addition, read once at start-up: grpc-go's setting is
// process-wide and must be set before any resolver runs.
const EnvDNSMinResolutionInterval = "SPREAD_GRPC_DNS_MIN_RESOLUTION_INTERVAL"

var dnsIntervalErr error

func applyDNSInterval(v string) error {
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("%s=%q: want a positive duration such as 2s", EnvDNSMinResolutionInterval, v)
	}
	grpcdns.SetMinResolutionInterval(d)
	return nil
}

type module struct {
	mu    sync.Mutex
	cache map[string]*compiled // load() results shared by every VU, by arguments
}

// compiled is one load()'s result, computed by the first VU that asks.
type compiled struct {
	once sync.Once
	m    methods
	err  error
}

func (m *module) compiledFor(key string) *compiled {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cache[key]
	if c == nil {
		c = &compiled{}
		m.cache[key] = c
	}
	return c
}

// CheckOptions rejects bad TLS options (tlsCACerts, podFrom) before the test.
func (*module) CheckOptions(o ext.Options) error {
	if dnsIntervalErr != nil {
		return dnsIntervalErr
	}
	_, err := wsclient.LoadConfig(o, os.Getenv)
	return err
}

func (m *module) NewModuleInstance(vu ext.VU) ext.Instance {
	return &instance{mod: m, vu: vu}
}

type instance struct {
	mod *module
	vu  ext.VU

	metricsOnce                                  sync.Once
	reqDuration, streams, msgsSent, msgsReceived *ext.Metric
}

func (in *instance) metrics() {
	in.metricsOnce.Do(func() {
		r := in.vu.Metrics()
		in.reqDuration = r.Get(ext.MetricGRPCReqDuration)
		in.streams = r.Get(ext.MetricGRPCStreams)
		in.msgsSent = r.Get(ext.MetricGRPCStreamsMsgsSent)
		in.msgsReceived = r.Get(ext.MetricGRPCStreamsMsgsReceived)
	})
}

// statusNames are k6's status constants, grpc.StatusOK ... grpc.StatusUnauthenticated.
var statusNames = map[string]codes.Code{
	"StatusOK": codes.OK, "StatusCanceled": codes.Canceled, "StatusUnknown": codes.Unknown,
	"StatusInvalidArgument": codes.InvalidArgument, "StatusDeadlineExceeded": codes.DeadlineExceeded,
	"StatusNotFound": codes.NotFound, "StatusAlreadyExists": codes.AlreadyExists,
	"StatusPermissionDenied": codes.PermissionDenied, "StatusResourceExhausted": codes.ResourceExhausted,
	"StatusFailedPrecondition": codes.FailedPrecondition, "StatusAborted": codes.Aborted,
	"StatusOutOfRange": codes.OutOfRange, "StatusUnimplemented": codes.Unimplemented,
	"StatusInternal": codes.Internal, "StatusUnavailable": codes.Unavailable,
	"StatusDataLoss": codes.DataLoss, "StatusUnauthenticated": codes.Unauthenticated,
}

func (in *instance) Exports() ext.Exports {
	named := map[string]any{
		"Client": in.newClient,
		"Stream": in.newStream,
		// Health check statuses, as k6 names them (the typo in
		// ServiceUnkown is k6's, kept so scripts port unchanged).
		"HealthCheckUnknown":        int(healthpb.HealthCheckResponse_UNKNOWN),
		"HealthCheckServing":        int(healthpb.HealthCheckResponse_SERVING),
		"HealthCheckNotServing":     int(healthpb.HealthCheckResponse_NOT_SERVING),
		"HealthCheckServiceUnkown":  int(healthpb.HealthCheckResponse_SERVICE_UNKNOWN),
		"HealthCheckServiceUnknown": int(healthpb.HealthCheckResponse_SERVICE_UNKNOWN),
	}
	for k, c := range statusNames {
		named[k] = int(c)
	}
	return ext.Exports{Named: named}
}

// throw raises err as a JS exception.
func (in *instance) throw(err error) {
	panic(in.vu.Runtime().NewGoError(err))
}

func (in *instance) typeError(msg string) {
	panic(in.vu.Runtime().NewTypeError(msg))
}

// newClient is `new grpc.Client()`.
func (in *instance) newClient(call goja.ConstructorCall) *goja.Object {
	c := &client{in: in, rt: in.vu.Runtime(), methods: methods{}}
	return c.object(call.This)
}
