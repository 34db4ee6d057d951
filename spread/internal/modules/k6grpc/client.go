package k6grpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
	"spread.dev/spread/internal/modules/wsclient"
)

// client is one `new grpc.Client()`; every method runs on the VU's goroutine.
type client struct {
	in      *instance
	rt      *goja.Runtime
	methods methods

	target   string // as given to connect()
	params   *connectParams
	dialOpts []grpc.DialOption
	conn     *conn // current connection; nil when not connected
	bytes    byteCounter
	tagCache tagCache
}

// tagCache is the last tag set tags() built.
type tagCache struct {
	ok                bool
	base, out         ext.TagSet
	full, pod, target string
	code              codes.Code
}

// conn is one grpc.ClientConn and the RPCs using it, so a rotated
// connection closes only once the RPCs it carries have finished.
type conn struct {
	cc       *grpc.ClientConn
	opened   time.Time
	requests int          // RPCs started on it (VU goroutine only)
	inflight atomic.Int64 // RPCs not yet finished (async ones finish elsewhere)
	retired  atomic.Bool
	once     sync.Once
}

func (c *conn) release() {
	if c.inflight.Add(-1) == 0 && c.retired.Load() {
		c.close()
	}
}

func (c *conn) retire() {
	c.retired.Store(true)
	if c.inflight.Load() == 0 {
		c.close()
	}
}

func (c *conn) close() { c.once.Do(func() { _ = c.cc.Close() }) }

func (c *client) object(o *goja.Object) *goja.Object {
	set := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = o.Set(name, fn) }
	// Hidden, so new grpc.Stream(client, ...) finds the Go client.
	_ = o.DefineDataProperty("__spreadClient", c.rt.ToValue(c), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	set("load", c.load)
	set("loadProtoset", c.loadProtoset)
	set("connect", c.connect)
	set("invoke", c.invoke)
	set("asyncInvoke", c.asyncInvoke)
	set("healthCheck", c.healthCheck)
	set("close", func(goja.FunctionCall) goja.Value {
		c.close()
		return goja.Undefined()
	})
	return o
}

// read is the script's open(): relative to the script, recorded by archive.
func (c *client) read(name string, binary bool) ([]byte, error) {
	open, ok := goja.AssertFunction(c.rt.GlobalObject().Get("open"))
	if !ok {
		return nil, errors.New("open() is not available")
	}
	args := []goja.Value{c.rt.ToValue(name)}
	if binary {
		args = append(args, c.rt.ToValue("b"))
	}
	v, err := open(goja.Undefined(), args...)
	if err != nil {
		return nil, notFound(name, err)
	}
	if ab, ok := v.Export().(goja.ArrayBuffer); ok {
		return ab.Bytes(), nil
	}
	return []byte(v.String()), nil
}

// load is client.load(importPaths, ...protoFiles), init context only.
func (c *client) load(call goja.FunctionCall) goja.Value {
	if c.in.vu.State() != nil {
		c.in.throw(errors.New("grpc: client.load() is only available in the init context"))
	}
	var importPaths []string
	if a := call.Argument(0); !goja.IsUndefined(a) && !goja.IsNull(a) {
		if err := c.rt.ExportTo(a, &importPaths); err != nil {
			c.in.typeError("client.load(importPaths, ...protoFiles): importPaths must be an array of strings")
		}
	}
	var files []string
	for _, a := range call.Arguments[min(1, len(call.Arguments)):] {
		files = append(files, a.String())
	}
	if len(files) == 0 {
		c.in.typeError("client.load(importPaths, ...protoFiles): no proto file given")
	}
	key := "load\x00" + strings.Join(importPaths, "\x00") + "\x01" + strings.Join(files, "\x00")
	comp := c.in.mod.compiledFor(key)
	comp.once.Do(func() {
		fds, err := compile(c.in.vu.Context(), func(name string) ([]byte, error) { return c.read(name, false) }, importPaths, files)
		if err != nil {
			comp.err = fmt.Errorf("grpc: load %s: %w", strings.Join(files, ", "), err)
			return
		}
		comp.m = methods{}
		comp.m.add(fds)
	})
	if comp.err != nil {
		c.in.throw(comp.err)
	}
	return c.addMethods(comp.m)
}

// loadProtoset is client.loadProtoset(path), init context only.
func (c *client) loadProtoset(call goja.FunctionCall) goja.Value {
	if c.in.vu.State() != nil {
		c.in.throw(errors.New("grpc: client.loadProtoset() is only available in the init context"))
	}
	name := call.Argument(0).String()
	comp := c.in.mod.compiledFor("protoset\x00" + name)
	comp.once.Do(func() {
		data, err := c.read(name, true)
		if err != nil {
			comp.err = fmt.Errorf("grpc: loadProtoset: %w", err)
			return
		}
		fds, err := protoset(data)
		if err != nil {
			comp.err = fmt.Errorf("grpc: loadProtoset %s: %w", name, err)
			return
		}
		comp.m = methods{}
		comp.m.add(fds)
	})
	if comp.err != nil {
		c.in.throw(comp.err)
	}
	return c.addMethods(comp.m)
}

// addMethods merges m into the client's methods and returns k6's list of
// method infos ({package, service, name, fullMethod, isClientStream, isServerStream}).
func (c *client) addMethods(m methods) goja.Value {
	var out []any
	for full, md := range m {
		c.methods[full] = md
		sd := md.Parent().(protoreflect.ServiceDescriptor)
		out = append(out, map[string]any{
			"package": string(sd.ParentFile().Package()), "service": string(sd.FullName()),
			"name": string(md.Name()), "fullMethod": full,
			"isClientStream": md.IsStreamingClient(), "isServerStream": md.IsStreamingServer(),
		})
	}
	return c.rt.ToValue(out)
}

// connect is client.connect(address, params): it blocks until the
// connection is ready (or params.timeout), then optionally reflects.
func (c *client) connect(call goja.FunctionCall) goja.Value {
	vu := c.in.vu
	if vu.State() == nil {
		c.in.throw(errors.New("grpc: connecting to a gRPC server in the init context is not supported"))
	}
	addr := call.Argument(0).String()
	if goja.IsUndefined(call.Argument(0)) || addr == "" {
		c.in.typeError("client.connect(address, params): the address is required")
	}
	p, err := parseConnectParams(c.rt, call.Argument(1))
	if err != nil {
		c.in.typeError("client.connect: " + err.Error())
	}
	opts, err := c.dialOptions(addr, p)
	if err != nil {
		c.in.throw(fmt.Errorf("grpc: connect %s: %w", addr, err))
	}
	c.close()
	c.target, c.params, c.dialOpts = grpcTarget(addr), p, opts
	ctx, cancel := context.WithTimeout(vu.Context(), p.timeout)
	defer cancel()
	cn, err := c.dial(ctx)
	if err != nil {
		c.in.throw(fmt.Errorf("grpc: connect %s: %w", addr, err))
	}
	c.conn = cn
	if p.reflect {
		rctx := ctx
		if len(p.reflectMetadata) > 0 {
			rctx = metadata.NewOutgoingContext(ctx, p.reflectMetadata)
		}
		fds, err := reflect(rctx, cn.cc)
		if err != nil {
			c.close()
			c.in.throw(fmt.Errorf("grpc: connect %s: %w", addr, err))
		}
		m := methods{}
		m.add(fds)
		c.addMethods(m)
	}
	c.bytes.emit(vu, vu.Tags())
	return c.rt.ToValue(true)
}

// grpcTarget turns k6's "host:port" into a grpc-go target that dials it as
// given (resolved at each dial, like k6); targets with a scheme
// ("dns:///name:port") go to grpc-go's resolvers as they are.
func grpcTarget(addr string) string {
	if strings.Contains(addr, ":///") || strings.HasPrefix(addr, "dns://") || strings.HasPrefix(addr, "unix:") {
		return addr
	}
	return "passthrough:///" + addr
}

func (c *client) dialOptions(addr string, p *connectParams) ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if !strings.HasPrefix(addr, "unix:") {
		// Bytes counted on the TCP connection itself (HTTP/2 framing
		// included, as k6 counts data on the wire): cheaper than a grpc-go
		// stats handler, which makes every RPC do more bookkeeping.
		opts = append(opts, grpc.WithContextDialer(c.bytes.dial))
	}
	if p.plaintext {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	} else {
		cfg, err := wsclient.LoadConfig(c.in.vu.Options(), os.Getenv)
		if err != nil {
			return nil, err
		}
		host := p.authority
		if host == "" {
			host = hostOf(addr)
		}
		tc, err := p.tls.config(cfg.RootCAs, cfg.InsecureSkipTLSVerify, host)
		if err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	}
	if p.authority != "" {
		opts = append(opts, grpc.WithAuthority(p.authority))
	}
	var call []grpc.CallOption
	if p.maxReceiveSize > 0 {
		call = append(call, grpc.MaxCallRecvMsgSize(p.maxReceiveSize))
	}
	if p.maxSendSize > 0 {
		call = append(call, grpc.MaxCallSendMsgSize(p.maxSendSize))
	}
	if len(call) > 0 {
		opts = append(opts, grpc.WithDefaultCallOptions(call...))
	}
	if p.loadBalancing != "" {
		opts = append(opts, grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"`+p.loadBalancing+`":{}}]}`))
	}
	return opts, nil
}

// hostOf is the host of "host:port", a dns:// target's name, for TLS.
func hostOf(addr string) string {
	if i := strings.LastIndex(addr, "/"); i >= 0 {
		addr = addr[i+1:]
	}
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// dial opens a connection and waits until it is ready.
func (c *client) dial(ctx context.Context) (*conn, error) {
	cc, err := grpc.NewClient(c.target, c.dialOpts...)
	if err != nil {
		return nil, err
	}
	cc.Connect()
	for {
		s := cc.GetState()
		if s == connectivity.Ready {
			return &conn{cc: cc, opened: time.Now()}, nil
		}
		if !cc.WaitForStateChange(ctx, s) {
			_ = cc.Close()
			return nil, fmt.Errorf("%w (connection %s)", ctx.Err(), s)
		}
	}
}

// acquire returns the connection for the next RPC, applying the policy.
func (c *client) acquire() *conn {
	if c.conn == nil {
		c.in.throw(fmt.Errorf("grpc: %w", errNotConnected))
	}
	p := c.params
	cur := c.conn
	rotate := p.connection == connPerRequest && cur.requests > 0 ||
		p.maxRequests > 0 && cur.requests >= p.maxRequests ||
		p.maxAge > 0 && time.Since(cur.opened) >= p.maxAge
	if rotate {
		// A new ClientConn dials a new TCP connection (a new source port,
		// so a Service picks a pod again); RPCs wait for it to be ready.
		cc, err := grpc.NewClient(c.target, c.dialOpts...)
		if err != nil {
			c.in.throw(fmt.Errorf("grpc: reconnect %s: %w", c.target, err))
		}
		cur.retire()
		cur = &conn{cc: cc, opened: time.Now()}
		c.conn = cur
	}
	cur.requests++
	cur.inflight.Add(1)
	return cur
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.retire()
		c.conn = nil
	}
}

// rpc is one unary call being made.
type rpc struct {
	full      string
	md        protoreflect.MethodDescriptor
	req       *dynamicpb.Message
	params    *callParams
	conn      *conn
	ctx       context.Context
	cancel    context.CancelFunc
	header    metadata.MD
	trailer   metadata.MD
	resp      *dynamicpb.Message
	err       error
	start     time.Time
	duration  time.Duration
	tagsStart ext.TagSet
}

// prepare does the VU-goroutine half of invoke/asyncInvoke: method, request
// and params checked, connection chosen.
func (c *client) prepare(fn string, call goja.FunctionCall) *rpc {
	if c.in.vu.State() == nil {
		c.in.throw(fmt.Errorf("grpc: client.%s() in the init context is not supported", fn))
	}
	full, md, err := c.methods.lookup(call.Argument(0).String())
	if err != nil {
		c.in.throw(fmt.Errorf("grpc: %s: %w", fn, err))
	}
	if md.IsStreamingClient() || md.IsStreamingServer() {
		c.in.throw(fmt.Errorf("grpc: %s: %s is a streaming method: use new grpc.Stream(client, %q)", fn, full, full))
	}
	req, err := c.message(md.Input(), call.Argument(1))
	if err != nil {
		c.in.throw(fmt.Errorf("grpc: %s %s: request: %w", fn, full, err))
	}
	p, err := parseCallParams(c.rt, call.Argument(2), 60*time.Second)
	if err != nil {
		c.in.typeError("client." + fn + ": " + err.Error())
	}
	r := &rpc{full: full, md: md, req: req, params: p, tagsStart: c.in.vu.Tags()}
	r.conn = c.acquire()
	r.ctx, r.cancel = context.WithTimeout(c.in.vu.Context(), p.timeout)
	if len(p.metadata) > 0 {
		r.ctx = metadata.NewOutgoingContext(r.ctx, p.metadata)
	}
	return r
}

// message decodes a JS value into a message of type d (protobuf JSON mapping).
func (c *client) message(d protoreflect.MessageDescriptor, v goja.Value) (*dynamicpb.Message, error) {
	m := dynamicpb.NewMessage(d)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return m, nil
	}
	var b []byte
	exp := v.Export()
	if s, ok := exp.(string); ok {
		b = []byte(s) // already JSON
	} else {
		if obj, ok := exp.(map[string]any); ok && !wkt(d) && fromValue(m, obj) {
			return m, nil
		}
		m = dynamicpb.NewMessage(d) // the direct path may have half-filled it
		var err error
		if b, err = json.Marshal(exp); err != nil {
			return nil, err
		}
	}
	if err := protojson.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// do runs the RPC (any goroutine).
func (r *rpc) do() {
	r.resp = dynamicpb.NewMessage(r.md.Output())
	r.start = time.Now()
	r.err = r.conn.cc.Invoke(r.ctx, r.full, r.req, r.resp, grpc.Header(&r.header), grpc.Trailer(&r.trailer))
	r.duration = time.Since(r.start)
	r.cancel()
	r.conn.release()
}

// finish does the VU-goroutine half: metrics, then the Response object.
func (c *client) finish(r *rpc) goja.Value {
	st, _ := status.FromError(r.err)
	var msg any
	if r.err == nil && !r.params.discard {
		msg = c.toJS(r.resp)
	}
	pod := podOf(r.header, r.trailer, r.resp)
	tags := c.tags(r.tagsStart, r.full, st.Code(), pod, r.params.tags)
	c.in.metrics()
	c.in.vu.Push(ext.Sample{Metric: c.in.reqDuration, Time: r.start.Add(r.duration), Tags: tags,
		Value: float64(r.duration) / float64(time.Millisecond)})
	c.bytes.emit(c.in.vu, tags)
	return c.response(st, msg, r.header, r.trailer)
}

// wktCache remembers, per message type, whether it holds well-known types.
var wktCache sync.Map // protoreflect.FullName -> bool

func wkt(d protoreflect.MessageDescriptor) bool {
	if v, ok := wktCache.Load(d.FullName()); ok {
		return v.(bool)
	}
	has := hasWKT(d, map[protoreflect.FullName]bool{})
	wktCache.Store(d.FullName(), has)
	return has
}

// tags are k6's gRPC tags plus pod.
func (c *client) tags(base ext.TagSet, full string, code codes.Code, pod string, extra map[string]string) ext.TagSet {
	// The same call from the same place repeats every iteration: reuse its
	// tag set (VU goroutine only).
	tc := &c.tagCache
	if len(extra) == 0 && tc.ok && tc.full == full && tc.code == code && tc.pod == pod && tc.target == c.target && tc.base.Equal(base) {
		return tc.out
	}
	out := c.buildTags(base, full, code, pod, extra)
	if len(extra) == 0 {
		*tc = tagCache{ok: true, base: base, full: full, code: code, pod: pod, target: c.target, out: out}
	}
	return out
}

func (c *client) buildTags(base ext.TagSet, full string, code codes.Code, pod string, extra map[string]string) ext.TagSet {
	svc, _, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	t := make([]ext.Tag, 0, 7+len(extra))
	t = append(t, ext.Tag{Key: "name", Value: full}, ext.Tag{Key: "method", Value: full}, ext.Tag{Key: "service", Value: svc},
		ext.Tag{Key: "url", Value: strings.TrimPrefix(c.target, "passthrough:///") + full},
		ext.Tag{Key: "status", Value: strconv.Itoa(int(code))}, ext.Tag{Key: "proto", Value: "grpc"}, ext.Tag{Key: "pod", Value: pod})
	for k, v := range extra {
		t = append(t, ext.Tag{Key: k, Value: v})
	}
	return base.WithTags(t...)
}

// podOf is the pod that served an RPC: the x-served-by header, else the
// trailer, else a "hostname" field of the reply (echo-server sends all).
func podOf(header, trailer metadata.MD, resp proto.Message) string {
	for _, md := range []metadata.MD{header, trailer} {
		if v := md.Get("x-served-by"); len(v) > 0 {
			return v[0]
		}
	}
	if resp != nil {
		m := resp.ProtoReflect()
		if f := m.Descriptor().Fields().ByName("hostname"); f != nil && f.Kind() == protoreflect.StringKind {
			return m.Get(f).String()
		}
	}
	return ""
}

// toJS converts a message to a plain JS object (protobuf JSON mapping,
// unset fields included, as k6 shows them).
func (c *client) toJS(m proto.Message) any {
	if r := m.ProtoReflect(); !wkt(r.Descriptor()) {
		return toValue(r)
	}
	b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	return v
}

// response builds k6's Response: {status, message, headers, trailers, error}.
func (c *client) response(st *status.Status, msg any, header, trailer metadata.MD) goja.Value {
	o := c.rt.NewObject()
	_ = o.Set("status", int(st.Code()))
	_ = o.Set("message", msg)
	_ = o.Set("headers", mdObject(header))
	_ = o.Set("trailers", mdObject(trailer))
	if st.Code() != codes.OK {
		_ = o.Set("error", c.errorObject(st))
	} else {
		_ = o.Set("error", goja.Null())
	}
	return o
}

func (c *client) errorObject(st *status.Status) *goja.Object {
	e := c.rt.NewObject()
	_ = e.Set("code", int(st.Code()))
	_ = e.Set("message", st.Message())
	var details []any
	for _, d := range st.Proto().GetDetails() {
		details = append(details, map[string]any{"typeUrl": d.GetTypeUrl()})
	}
	_ = e.Set("details", details)
	return e
}

func mdObject(md metadata.MD) map[string]any {
	out := make(map[string]any, len(md))
	for k, vs := range md {
		arr := make([]any, len(vs))
		for i, v := range vs {
			arr[i] = v
		}
		out[k] = arr
	}
	return out
}

// invoke is client.invoke(url, request, params): a unary RPC, blocking.
func (c *client) invoke(call goja.FunctionCall) goja.Value {
	r := c.prepare("invoke", call)
	r.do()
	return c.finish(r)
}

// asyncInvoke is client.asyncInvoke(url, request, params): a promise of
// the Response, resolved on the VU's event loop.
func (c *client) asyncInvoke(call goja.FunctionCall) goja.Value {
	r := c.prepare("asyncInvoke", call)
	p, resolve, _ := c.rt.NewPromise()
	done := c.in.vu.RegisterCallback()
	go func() {
		r.do()
		done(func() error { return resolve(c.finish(r)) })
	}()
	return c.rt.ToValue(p)
}

// healthCheck is client.healthCheck([service]): grpc.health.v1.Health/Check,
// whose message is {status: grpc.HealthCheckServing | ...}.
func (c *client) healthCheck(call goja.FunctionCall) goja.Value {
	if c.in.vu.State() == nil {
		c.in.throw(errors.New("grpc: client.healthCheck() in the init context is not supported"))
	}
	cn := c.acquire()
	defer cn.release()
	ctx, cancel := context.WithTimeout(c.in.vu.Context(), c.params.timeout)
	defer cancel()
	var header, trailer metadata.MD
	svc := ""
	if a := call.Argument(0); !goja.IsUndefined(a) && !goja.IsNull(a) {
		svc = a.String()
	}
	start := time.Now()
	resp, err := healthpb.NewHealthClient(cn.cc).Check(ctx, &healthpb.HealthCheckRequest{Service: svc}, grpc.Header(&header), grpc.Trailer(&trailer))
	d := time.Since(start)
	st, _ := status.FromError(err)
	var msg any
	if err == nil {
		msg = map[string]any{"status": int(resp.GetStatus())}
	}
	tags := c.tags(c.in.vu.Tags(), "/grpc.health.v1.Health/Check", st.Code(), podOf(header, trailer, nil), nil)
	c.in.metrics()
	c.in.vu.Push(ext.Sample{Metric: c.in.reqDuration, Time: start.Add(d), Tags: tags, Value: float64(d) / float64(time.Millisecond)})
	c.bytes.emit(c.in.vu, tags)
	return c.response(st, msg, header, trailer)
}

// byteCounter counts the bytes of a client's connections (read and
// written on grpc-go's goroutines), emitted as data_sent/data_received
// from the VU goroutine.
type byteCounter struct {
	sent, received atomic.Int64
	repOnce        sync.Once
	rep            *httpkit.Reporter // data_sent / data_received
}

// dial is grpc-go's context dialer: a TCP connection that counts.
func (b *byteCounter) dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, b: b}, nil
}

type countingConn struct {
	net.Conn
	b *byteCounter
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.received.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.b.sent.Add(int64(n))
	return n, err
}

func (b *byteCounter) emit(vu ext.VU, tags ext.TagSet) {
	if s, r := b.sent.Swap(0), b.received.Swap(0); s > 0 || r > 0 {
		b.repOnce.Do(func() { b.rep = httpkit.NewReporter(vu) })
		b.rep.Data(tags, s, r)
	}
}
