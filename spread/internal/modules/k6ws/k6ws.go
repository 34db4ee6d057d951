// Package k6ws is spread's `k6/ws` module: k6's first WebSocket API.
// ws.connect(url, [params], callback) opens a session, calls callback with
// the Socket, and blocks — running the socket's own event loop (its
// handlers and timers) on the VU's goroutine — until the session closes
// or the VU stops; it returns the upgrade response. Built on
// spread/internal/modules/wsclient (github.com/coder/websocket).
package k6ws

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/ext/httpkit"
	"spread.dev/spread/internal/modules/jsbytes"
	"spread.dev/spread/internal/modules/wsclient"
)

func init() { ext.Register("k6/ws", &module{}) }

type module struct{}

// CheckOptions rejects bad TLS options before the test starts.
func (*module) CheckOptions(o ext.Options) error {
	_, err := wsclient.LoadConfig(o, os.Getenv)
	return err
}

func (*module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{vu: vu} }

type instance struct {
	vu     ext.VU
	once   sync.Once
	cfg    *wsclient.Config
	cfgErr error
}

func (in *instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{"connect": in.connect}}
}

func (in *instance) throw(err error) {
	panic(in.vu.Runtime().NewGoError(err))
}

// connect is ws.connect(url, params, callback) or ws.connect(url, callback).
func (in *instance) connect(call goja.FunctionCall) goja.Value {
	rt := in.vu.Runtime()
	if in.vu.State() == nil {
		panic(rt.NewTypeError("ws.connect: using websockets in the init context is not supported"))
	}
	in.once.Do(func() { in.cfg, in.cfgErr = wsclient.LoadConfig(in.vu.Options(), os.Getenv) })
	if in.cfgErr != nil {
		in.throw(fmt.Errorf("k6/ws: %w", in.cfgErr))
	}
	if goja.IsUndefined(call.Argument(0)) {
		panic(rt.NewTypeError("ws.connect: the URL is required"))
	}
	url := call.Argument(0).String()
	params, cbArg := call.Argument(1), call.Argument(2)
	if _, isFn := goja.AssertFunction(params); isFn {
		params, cbArg = goja.Undefined(), params
	}
	cb, ok := goja.AssertFunction(cbArg)
	if !ok {
		panic(rt.NewTypeError("ws.connect(url, params, callback): the callback must be a function"))
	}
	p, err := wsclient.ParseParams(rt, params, nil)
	if err != nil {
		panic(rt.NewTypeError("ws.connect: " + err.Error()))
	}
	conn, res, err := wsclient.Dial(in.vu, in.cfg, url, p)
	if err != nil {
		// As k6: a failed connection is an exception in the script.
		in.throw(fmt.Errorf("ws.connect %s: %w", url, err))
	}
	s := &socket{in: in, rt: rt, conn: conn, handlers: map[string][]goja.Callable{},
		timers: map[int]*timer{}, fired: make(chan int, 16), done: make(chan struct{})}
	defer s.stop()
	if _, err := cb(goja.Undefined(), s.object()); err != nil {
		panic(err)
	}
	s.emit("open")
	s.loop()
	return httpkit.NewResponseObject(rt, res)
}

// socket is the Socket object of one session; all of it runs on the VU's
// goroutine except the timer goroutines, which only signal fired.
type socket struct {
	in       *instance
	rt       *goja.Runtime
	conn     *wsclient.Conn
	handlers map[string][]goja.Callable

	nextTimer int
	timers    map[int]*timer
	fired     chan int
	done      chan struct{} // closed when the loop ends: timers stop signalling
	stopped   bool
}

type timer struct {
	fn    goja.Callable
	every time.Duration // 0: a timeout
	t     *time.Timer
}

// events are the names socket.on accepts ("binary" is an alias of k6's
// "binaryMessage").
var events = map[string]string{"open": "open", "message": "message", "binaryMessage": "binaryMessage",
	"binary": "binaryMessage", "ping": "ping", "pong": "pong", "close": "close", "error": "error"}

func (s *socket) object() *goja.Object {
	o := s.rt.NewObject()
	set := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = o.Set(name, fn) }
	set("on", func(c goja.FunctionCall) goja.Value {
		name := c.Argument(0).String()
		ev, ok := events[name]
		if !ok {
			panic(s.rt.NewTypeError(fmt.Sprintf("socket.on: unknown event %q (open, message, binaryMessage, ping, pong, close, error)", name)))
		}
		fn, ok := goja.AssertFunction(c.Argument(1))
		if !ok {
			panic(s.rt.NewTypeError("socket.on(" + name + "): the handler must be a function"))
		}
		s.handlers[ev] = append(s.handlers[ev], fn)
		return goja.Undefined()
	})
	set("send", func(c goja.FunctionCall) goja.Value {
		s.send([]byte(c.Argument(0).String()), false)
		return goja.Undefined()
	})
	set("sendBinary", func(c goja.FunctionCall) goja.Value {
		ab, ok := c.Argument(0).Export().(goja.ArrayBuffer)
		if !ok {
			panic(s.rt.NewTypeError("socket.sendBinary: the data must be an ArrayBuffer"))
		}
		s.send(append([]byte(nil), ab.Bytes()...), true)
		return goja.Undefined()
	})
	set("ping", func(goja.FunctionCall) goja.Value {
		if !s.conn.Closing() {
			s.conn.Ping()
		}
		return goja.Undefined()
	})
	set("close", func(c goja.FunctionCall) goja.Value {
		code := 1000
		if a := c.Argument(0); !goja.IsUndefined(a) {
			code = int(a.ToInteger())
		}
		s.conn.Close(code, "")
		return goja.Undefined()
	})
	set("setTimeout", func(c goja.FunctionCall) goja.Value { return s.addTimer(c, false) })
	set("setInterval", func(c goja.FunctionCall) goja.Value { return s.addTimer(c, true) })
	return o
}

func (s *socket) send(data []byte, binary bool) {
	if s.conn.Closing() {
		return // k6 drops writes to a closing socket
	}
	if err := s.conn.Send(data, binary); err != nil {
		s.emitError(err)
	}
}

func (s *socket) addTimer(c goja.FunctionCall, repeat bool) goja.Value {
	name := "setTimeout"
	if repeat {
		name = "setInterval"
	}
	fn, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		panic(s.rt.NewTypeError("socket." + name + ": the callback must be a function"))
	}
	d := time.Duration(c.Argument(1).ToFloat() * float64(time.Millisecond))
	if repeat && d <= 0 {
		panic(s.rt.NewTypeError("socket.setInterval: the interval must be > 0 ms"))
	}
	if d < 0 {
		d = 0
	}
	s.nextTimer++
	id := s.nextTimer
	t := &timer{fn: fn}
	if repeat {
		t.every = d
	}
	t.t = time.AfterFunc(d, func() {
		select {
		case s.fired <- id:
		case <-s.done:
		}
	})
	s.timers[id] = t
	return goja.Undefined()
}

// emit calls the handlers of ev with args; an exception in a handler
// closes the session and propagates to the script.
func (s *socket) emit(ev string, args ...goja.Value) {
	for _, fn := range s.handlers[ev] {
		if _, err := fn(goja.Undefined(), args...); err != nil {
			panic(err)
		}
	}
}

func (s *socket) emitError(err error) {
	e := s.rt.NewObject()
	msg := err.Error()
	_ = e.Set("error", func() string { return msg })
	s.emit("error", e)
}

// loop runs the socket's events and timers until the session closes or
// the VU stops.
func (s *socket) loop() {
	ctx := s.in.vu.Context()
	for {
		select {
		case ev, ok := <-s.conn.Events:
			if !ok {
				return
			}
			switch ev.Kind {
			case wsclient.Message:
				s.emit("message", s.rt.ToValue(string(ev.Data)))
			case wsclient.Binary:
				s.emit("binaryMessage", jsbytes.ArrayBuffer(s.rt, ev.Data))
			case wsclient.Ping:
				s.emit("ping")
			case wsclient.Pong:
				s.emit("pong")
			case wsclient.Error:
				s.emitError(ev.Err)
			case wsclient.Close:
				s.stopTimers()
				s.emit("close", s.rt.ToValue(ev.Code))
				return
			}
		case id := <-s.fired:
			t := s.timers[id]
			if t == nil {
				continue
			}
			if t.every > 0 {
				t.t.Reset(t.every)
			} else {
				delete(s.timers, id)
			}
			if _, err := t.fn(goja.Undefined()); err != nil {
				panic(err)
			}
		case <-ctx.Done():
			// The test is over (or aborted): k6 ends the session with the VU.
			s.conn.CloseNow()
			return
		}
	}
}

func (s *socket) stopTimers() {
	for id, t := range s.timers {
		t.t.Stop()
		delete(s.timers, id)
	}
}

// stop ends the session when connect returns for any reason (including an
// exception from a handler): timers stop, the connection is dropped if it
// is still open, and the session's metrics are reported.
func (s *socket) stop() {
	if s.stopped {
		return
	}
	s.stopped = true
	s.stopTimers()
	close(s.done)
	s.conn.CloseNow()
}
