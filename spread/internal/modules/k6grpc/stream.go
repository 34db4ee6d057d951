package k6grpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/dop251/goja"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"spread.dev/spread/ext"
)

// stream is one `new grpc.Stream(client, method, params)`.
//
// Its receiving goroutine hands each event to the VU's event loop through
// a chain of reservations (ext.VU.RegisterCallback): one is held while the
// stream is open, and each delivered event reserves the next one on the VU
// goroutine before its handlers run. So the iteration does not end while
// the stream is open, events arrive in order, one at a time (the server is
// held back by flow control meanwhile), and no JS runs off the VU goroutine.
type stream struct {
	c        *client
	rt       *goja.Runtime
	full     string
	md       protoreflect.MethodDescriptor
	params   *callParams
	conn     *conn
	cs       grpc.ClientStream
	ctx      context.Context
	cancel   context.CancelFunc
	handlers map[string][]goja.Callable
	next     chan func(func() error) // the reservation for the next event
	start    time.Time
	base     ext.TagSet
	pod      string
	ended    bool // 'end' emitted (VU goroutine)
}

var streamEvents = map[string]bool{"data": true, "error": true, "end": true}

// newStream is `new grpc.Stream(client, url, params)`.
func (in *instance) newStream(call goja.ConstructorCall) *goja.Object {
	rt := in.vu.Runtime()
	if in.vu.State() == nil {
		in.throw(errors.New("grpc: streams in the init context are not supported"))
	}
	c, ok := clientOf(call.Argument(0))
	if !ok {
		in.typeError("new grpc.Stream(client, method, params): the first argument must be a grpc.Client")
	}
	full, md, err := c.methods.lookup(call.Argument(1).String())
	if err != nil {
		in.throw(fmt.Errorf("grpc: Stream: %w", err))
	}
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		in.throw(fmt.Errorf("grpc: Stream: %s is a unary method: use client.invoke", full))
	}
	p, err := parseCallParams(rt, call.Argument(2), 0)
	if err != nil {
		in.typeError("new grpc.Stream: " + err.Error())
	}
	s := &stream{c: c, rt: rt, full: full, md: md, params: p, handlers: map[string][]goja.Callable{},
		next: make(chan func(func() error), 1), base: in.vu.Tags()}
	s.conn = c.acquire()
	ctx := in.vu.Context()
	if p.timeout > 0 {
		s.ctx, s.cancel = context.WithTimeout(ctx, p.timeout)
	} else {
		s.ctx, s.cancel = context.WithCancel(ctx)
	}
	if len(p.metadata) > 0 {
		s.ctx = metadata.NewOutgoingContext(s.ctx, p.metadata)
	}
	s.start = time.Now()
	desc := &grpc.StreamDesc{StreamName: string(md.Name()), ServerStreams: md.IsStreamingServer(), ClientStreams: md.IsStreamingClient()}
	cs, err := s.conn.cc.NewStream(s.ctx, desc, full)
	if err != nil {
		s.cancel()
		s.conn.release()
		in.throw(fmt.Errorf("grpc: Stream %s: %w", full, err))
	}
	s.cs = cs
	in.metrics()
	in.vu.Push(ext.Sample{Metric: in.streams, Time: s.start, Tags: c.tags(s.base, full, codes.OK, "", p.tags), Value: 1})
	s.next <- in.vu.RegisterCallback()
	go s.receive()

	o := call.This
	_ = o.Set("on", s.on)
	_ = o.Set("write", s.write)
	_ = o.Set("end", func(goja.FunctionCall) goja.Value {
		_ = s.cs.CloseSend()
		return goja.Undefined()
	})
	return o
}

// clientOf finds the client behind a grpc.Client object.
func clientOf(v goja.Value) (*client, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	h, ok := o.Get("__spreadClient").Export().(*client)
	return h, ok
}

func (s *stream) on(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	if !streamEvents[name] {
		s.c.in.typeError(fmt.Sprintf("stream.on: unknown event %q (data, error, end)", name))
	}
	fn, ok := goja.AssertFunction(call.Argument(1))
	if !ok {
		s.c.in.typeError("stream.on(" + name + "): the handler must be a function")
	}
	s.handlers[name] = append(s.handlers[name], fn)
	return goja.Undefined()
}

// write sends one message (VU goroutine; grpc-go's SendMsg may wait for
// flow control, as k6's write does).
func (s *stream) write(call goja.FunctionCall) goja.Value {
	if s.ended {
		s.c.in.throw(fmt.Errorf("grpc: stream %s: write after the stream ended", s.full))
	}
	m, err := s.c.message(s.md.Input(), call.Argument(0))
	if err != nil {
		s.c.in.throw(fmt.Errorf("grpc: stream %s: write: %w", s.full, err))
	}
	if err := s.cs.SendMsg(m); err != nil {
		// io.EOF: the server ended the stream; its status arrives as an
		// 'error' or 'end' event from the receiving side.
		if !errors.Is(err, io.EOF) {
			s.c.in.throw(fmt.Errorf("grpc: stream %s: write: %w", s.full, err))
		}
		return goja.Undefined()
	}
	s.c.in.vu.Push(ext.Sample{Metric: s.c.in.msgsSent, Time: time.Now(),
		Tags: s.c.tags(s.base, s.full, codes.OK, s.pod, s.params.tags), Value: 1})
	return goja.Undefined()
}

// receive reads the stream until it ends (its own goroutine).
func (s *stream) receive() {
	defer s.conn.release()
	defer s.cancel()
	first := true
	for {
		m := dynamicpb.NewMessage(s.md.Output())
		err := s.cs.RecvMsg(m)
		if first {
			first = false
			if h, herr := s.cs.Header(); herr == nil {
				if v := h.Get("x-served-by"); len(v) > 0 {
					s.pod = v[0] // written before any event is handed over
				}
			}
		}
		var done func(func() error)
		select {
		case done = <-s.next:
		case <-s.ctx.Done():
			// The VU stopped and dropped our callbacks: nobody is listening.
			if err == nil {
				continue // drain until grpc-go reports the cancellation
			}
			return
		}
		switch {
		case err == nil:
			done(func() error {
				s.next <- s.c.in.vu.RegisterCallback()
				s.c.in.vu.Push(ext.Sample{Metric: s.c.in.msgsReceived, Time: time.Now(),
					Tags: s.c.tags(s.base, s.full, codes.OK, s.pod, s.params.tags), Value: 1})
				var v any
				if !s.params.discard {
					v = s.c.toJS(m)
				}
				return s.emit("data", s.rt.ToValue(v))
			})
		case errors.Is(err, io.EOF):
			done(func() error { return s.finish(nil) })
			return
		default:
			done(func() error { return s.finish(err) })
			return
		}
	}
}

// finish emits grpc_req_duration for the whole stream, then 'error' (for a
// non-OK status) and 'end' (always, so cleanup code in 'end' runs).
func (s *stream) finish(err error) error {
	s.ended = true
	st, _ := status.FromError(err)
	tags := s.c.tags(s.base, s.full, st.Code(), s.pod, s.params.tags)
	d := time.Since(s.start)
	s.c.in.vu.Push(ext.Sample{Metric: s.c.in.reqDuration, Time: time.Now(), Tags: tags, Value: float64(d) / float64(time.Millisecond)})
	s.c.bytes.emit(s.c.in.vu, tags)
	if err != nil {
		if e := s.emit("error", s.c.errorObject(st)); e != nil {
			return e
		}
	}
	return s.emit("end")
}

func (s *stream) emit(name string, args ...goja.Value) error {
	for _, h := range s.handlers[name] {
		if _, err := h(goja.Undefined(), args...); err != nil {
			return err
		}
	}
	return nil
}
