// Package k6websockets is spread's `k6/websockets` module (also importable
// as the deprecated `k6/experimental/websockets`): the browser WebSocket
// API (WHATWG) with k6's additions — params (headers, tags, compression),
// ping(), onping/onpong — on the VU's event loop, so a VU holds many
// sockets at once and an iteration ends once all of them closed.
//
// Events reach the script through ext.VU.RegisterCallback: each socket
// keeps one reservation on the loop while it is open; the reader
// goroutine spends it to deliver an event, and the event's callback, on
// the VU's goroutine, makes the next one. So events are delivered in
// order, one at a time, and a slow script slows its socket's reader
// rather than buffering without bound.
package k6websockets

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/jsbytes"
	"spread.dev/spread/internal/modules/wsclient"
)

func init() {
	ext.Register("k6/websockets", &module{})
	ext.Register("k6/experimental/websockets", &module{})
}

type module struct{}

// CheckOptions rejects bad TLS options before the test starts.
func (*module) CheckOptions(o ext.Options) error {
	_, err := wsclient.LoadConfig(o, os.Getenv)
	return err
}

func (*module) NewModuleInstance(vu ext.VU) ext.Instance {
	in := &instance{vu: vu, open: map[*webSocket]struct{}{}}
	vu.OnIterationEnd(in.iterationEnd)
	return in
}

type instance struct {
	vu     ext.VU
	once   sync.Once
	cfg    *wsclient.Config
	cfgErr error
	open   map[*webSocket]struct{} // sockets not yet closed; VU goroutine only
}

// readyState values (WHATWG).
const (
	connecting = 0
	open       = 1
	closing    = 2
	closed     = 3
)

func (in *instance) Exports() ext.Exports {
	rt := in.vu.Runtime()
	ctor := rt.ToValue(in.newWebSocket).(*goja.Object)
	for name, v := range map[string]int{"CONNECTING": connecting, "OPEN": open, "CLOSING": closing, "CLOSED": closed} {
		_ = ctor.DefineDataProperty(name, rt.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	return ext.Exports{Named: map[string]any{"WebSocket": ctor, "Blob": in.blobConstructor()}}
}

// iterationEnd drops sockets an interrupted iteration left open (a normal
// iteration only ends once they all closed): their readers stop and no
// further event is delivered.
func (in *instance) iterationEnd() {
	for ws := range in.open {
		if ws.conn != nil {
			ws.conn.CloseNow()
		}
		ws.dropped = true
		delete(in.open, ws)
	}
}

// webSocket is one WebSocket object. Its fields are touched on the VU's
// goroutine only; the dial and reader goroutines reach it through
// callbacks.
type webSocket struct {
	in   *instance
	rt   *goja.Runtime
	obj  *goja.Object
	url  string
	conn *wsclient.Conn

	readyState   int
	binaryType   string
	protocol     string
	pendingClose *closeReq // close() while CONNECTING
	dropped      bool

	on        map[string]goja.Value // onopen, onmessage, ... properties
	listeners map[string][]goja.Value

	// slots holds the socket's next reservation on the event loop. mu
	// orders the last reservation against the pump's exit: a callback
	// makes a new one only while the pump runs, and the pump spends
	// whatever is left when it stops, so none is left pending.
	slots    chan func(func() error)
	mu       sync.Mutex
	pumpGone bool
}

type closeReq struct {
	code   int
	reason string
}

var eventTypes = []string{"open", "message", "error", "close", "ping", "pong"}

func (in *instance) newWebSocket(call goja.ConstructorCall) *goja.Object {
	rt := in.vu.Runtime()
	if in.vu.State() == nil {
		panic(rt.NewTypeError("WebSocket: using websockets in the init context is not supported"))
	}
	in.once.Do(func() { in.cfg, in.cfgErr = wsclient.LoadConfig(in.vu.Options(), os.Getenv) })
	if in.cfgErr != nil {
		panic(rt.NewGoError(fmt.Errorf("k6/websockets: %w", in.cfgErr)))
	}
	if goja.IsUndefined(call.Argument(0)) {
		panic(rt.NewTypeError("WebSocket: the URL is required"))
	}
	url := call.Argument(0).String()
	var protocols []string
	if pv := call.Argument(1); !goja.IsUndefined(pv) && !goja.IsNull(pv) {
		if err := rt.ExportTo(pv, &protocols); err != nil {
			protocols = []string{pv.String()}
		}
	}
	p, err := wsclient.ParseParams(rt, call.Argument(2), protocols)
	if err != nil {
		panic(rt.NewTypeError("WebSocket: " + err.Error()))
	}
	p.BaseTags = in.vu.Tags()

	ws := &webSocket{in: in, rt: rt, obj: call.This, url: url, readyState: connecting, binaryType: "blob",
		on: map[string]goja.Value{}, listeners: map[string][]goja.Value{}, slots: make(chan func(func() error), 1)}
	ws.define()
	in.open[ws] = struct{}{}

	done := in.vu.RegisterCallback()
	vu, cfg := in.vu, in.cfg
	go func() {
		conn, _, err := wsclient.Dial(vu, cfg, url, p)
		done(func() error { return ws.opened(conn, err) })
	}()
	return nil // the object is call.This
}

// opened runs on the VU's goroutine once the dial ended.
func (ws *webSocket) opened(conn *wsclient.Conn, err error) error {
	if ws.dropped {
		if conn != nil {
			conn.CloseNow()
		}
		return nil
	}
	if err != nil {
		ws.readyState = closed
		delete(ws.in.open, ws)
		if e := ws.dispatch("error", ws.event("error", "error", err.Error())); e != nil {
			return e
		}
		return ws.dispatch("close", ws.event("close", "code", 1006, "reason", "", "wasClean", false))
	}
	ws.conn = conn
	ws.protocol = conn.Subprotocol()
	ws.slots <- ws.in.vu.RegisterCallback()
	go ws.pump()
	if pc := ws.pendingClose; pc != nil {
		ws.readyState = closing
		conn.Close(pc.code, pc.reason)
		return nil
	}
	ws.readyState = open
	return ws.handled(ws.dispatch("open", ws.event("open")))
}

// handled closes the socket when a handler threw: the exception ends the
// iteration, and the socket must not outlive it.
func (ws *webSocket) handled(err error) error {
	if err != nil && ws.conn != nil {
		ws.conn.CloseNow()
	}
	return err
}

// pump is the socket's delivery goroutine: one event per reservation.
func (ws *webSocket) pump() {
	conn := ws.conn
	defer ws.stopPump()
	for {
		var slot func(func() error)
		select {
		case slot = <-ws.slots:
		case <-conn.Done():
			return // stopPump spends a reservation made meanwhile
		}
		var ev wsclient.Event
		var ok bool
		select {
		case ev, ok = <-conn.Events:
		case <-conn.Done():
			// The VU stopped or the socket was dropped with a
			// reservation pending: spend it so the loop can finish.
			slot(func() error { ws.gone(); return nil })
			return
		}
		if !ok {
			slot(func() error { ws.gone(); return nil })
			return
		}
		last := ev.Kind == wsclient.Close
		slot(func() error {
			if !last && !ws.dropped {
				ws.mu.Lock()
				if !ws.pumpGone {
					ws.slots <- ws.in.vu.RegisterCallback()
				}
				ws.mu.Unlock()
			}
			return ws.deliver(ev)
		})
		if last {
			return
		}
	}
}

// stopPump marks the pump gone and spends a reservation nobody will use.
func (ws *webSocket) stopPump() {
	ws.mu.Lock()
	ws.pumpGone = true
	var slot func(func() error)
	select {
	case slot = <-ws.slots:
	default:
	}
	ws.mu.Unlock()
	if slot != nil {
		slot(func() error { ws.gone(); return nil })
	}
}

// gone marks a socket that ended without a close event.
func (ws *webSocket) gone() {
	ws.readyState = closed
	delete(ws.in.open, ws)
}

// deliver turns one event into the script's events.
func (ws *webSocket) deliver(ev wsclient.Event) error {
	if ws.dropped {
		return nil
	}
	switch ev.Kind {
	case wsclient.Message:
		return ws.handled(ws.dispatch("message", ws.event("message", "data", string(ev.Data), "origin", ws.url)))
	case wsclient.Binary:
		var data goja.Value
		if ws.binaryType == "arraybuffer" {
			data = jsbytes.ArrayBuffer(ws.rt, ev.Data)
		} else {
			data = ws.in.newBlob(ev.Data, "")
		}
		return ws.handled(ws.dispatch("message", ws.event("message", "data", data, "origin", ws.url)))
	case wsclient.Ping:
		return ws.handled(ws.dispatch("ping", ws.event("ping")))
	case wsclient.Pong:
		return ws.handled(ws.dispatch("pong", ws.event("pong")))
	case wsclient.Error:
		return ws.handled(ws.dispatch("error", ws.event("error", "error", ev.Err.Error())))
	case wsclient.Close:
		ws.readyState = closed
		delete(ws.in.open, ws)
		clean := ev.Code != 1006
		return ws.dispatch("close", ws.event("close", "code", ev.Code, "reason", ev.Reason, "wasClean", clean))
	}
	return nil
}

// event builds an Event object of type typ with extra key/value pairs.
func (ws *webSocket) event(typ string, kv ...any) *goja.Object {
	e := ws.rt.NewObject()
	_ = e.Set("type", typ)
	_ = e.Set("target", ws.obj)
	_ = e.Set("timestamp", float64(time.Now().UnixNano())/1e6)
	for i := 0; i+1 < len(kv); i += 2 {
		_ = e.Set(kv[i].(string), kv[i+1])
	}
	return e
}

// dispatch calls the on<typ> handler, then the listeners, with this = the
// socket; the first exception stops the dispatch and is returned.
func (ws *webSocket) dispatch(typ string, e *goja.Object) error {
	call := func(h goja.Value) error {
		fn, ok := goja.AssertFunction(h)
		if !ok {
			return nil
		}
		_, err := fn(ws.obj, e)
		return err
	}
	if h, ok := ws.on[typ]; ok {
		if err := call(h); err != nil {
			return err
		}
	}
	for _, h := range append([]goja.Value(nil), ws.listeners[typ]...) {
		if err := call(h); err != nil {
			return err
		}
	}
	return nil
}

// define puts the WebSocket's properties and methods on its object.
func (ws *webSocket) define() {
	rt, o := ws.rt, ws.obj
	getter := func(name string, get func() any) {
		_ = o.DefineAccessorProperty(name, rt.ToValue(func() any { return get() }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	getter("url", func() any { return ws.url })
	getter("readyState", func() any { return ws.readyState })
	getter("bufferedAmount", func() any { return 0 }) // sends are written before send() returns
	getter("protocol", func() any { return ws.protocol })
	getter("extensions", func() any { return "" })
	_ = o.DefineAccessorProperty("binaryType",
		rt.ToValue(func() string { return ws.binaryType }),
		rt.ToValue(func(v string) {
			if v != "blob" && v != "arraybuffer" {
				panic(rt.NewTypeError(fmt.Sprintf("WebSocket.binaryType: %q is not \"blob\" or \"arraybuffer\"", v)))
			}
			ws.binaryType = v
		}), goja.FLAG_FALSE, goja.FLAG_TRUE)
	for _, typ := range eventTypes {
		_ = o.DefineAccessorProperty("on"+typ,
			rt.ToValue(func() goja.Value {
				if h, ok := ws.on[typ]; ok {
					return h
				}
				return goja.Null()
			}),
			rt.ToValue(func(v goja.Value) { ws.on[typ] = v }), goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	for name, v := range map[string]int{"CONNECTING": connecting, "OPEN": open, "CLOSING": closing, "CLOSED": closed} {
		_ = o.DefineDataProperty(name, rt.ToValue(v), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE)
	}
	_ = o.Set("send", ws.send)
	_ = o.Set("ping", func() {
		if ws.readyState == open {
			ws.conn.Ping()
		}
	})
	_ = o.Set("close", ws.close)
	_ = o.Set("addEventListener", func(typ string, h goja.Value) {
		if _, ok := goja.AssertFunction(h); !ok {
			panic(rt.NewTypeError("WebSocket.addEventListener(" + typ + "): the handler must be a function"))
		}
		if !known(typ) {
			panic(rt.NewTypeError(fmt.Sprintf("WebSocket.addEventListener: unknown event %q (open, message, error, close, ping, pong)", typ)))
		}
		ws.listeners[typ] = append(ws.listeners[typ], h)
	})
	_ = o.Set("removeEventListener", func(typ string, h goja.Value) {
		l := ws.listeners[typ]
		for i, x := range l {
			if x.SameAs(h) {
				ws.listeners[typ] = append(l[:i:i], l[i+1:]...)
				return
			}
		}
	})
}

func known(typ string) bool {
	for _, t := range eventTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// send writes a string as a text message; an ArrayBuffer, a typed array,
// a DataView or a Blob as a binary one.
func (ws *webSocket) send(v goja.Value) {
	rt := ws.rt
	switch ws.readyState {
	case connecting:
		panic(rt.NewGoError(errors.New("InvalidStateError: WebSocket.send: the socket is still connecting")))
	case closing, closed:
		return // the standard drops data sent after close()
	}
	var data []byte
	binary := true
	if s, ok := v.Export().(string); ok {
		data, binary = []byte(s), false
	} else if b, ok := blobBytes(v); ok {
		data = b
	} else {
		b, err := jsbytes.Copy(rt, v)
		if err != nil {
			panic(rt.NewTypeError("WebSocket.send: " + err.Error() + " or a Blob"))
		}
		data = b
	}
	if err := ws.conn.Send(data, binary); err != nil {
		if e := ws.dispatch("error", ws.event("error", "error", err.Error())); e != nil {
			panic(e)
		}
	}
}

// close(code, reason): 1000 by default; codes other than 1000 and
// 3000-4999 are refused, as the standard says.
func (ws *webSocket) close(call goja.FunctionCall) goja.Value {
	code, reason := 1000, ""
	if a := call.Argument(0); !goja.IsUndefined(a) {
		code = int(a.ToInteger())
		if code != 1000 && (code < 3000 || code > 4999) {
			panic(ws.rt.NewGoError(fmt.Errorf("InvalidAccessError: WebSocket.close: code %d is not 1000 or in 3000-4999", code)))
		}
	}
	if a := call.Argument(1); !goja.IsUndefined(a) {
		reason = a.String()
		if len(reason) > 123 {
			panic(ws.rt.NewGoError(errors.New("SyntaxError: WebSocket.close: the reason is longer than 123 bytes")))
		}
	}
	switch ws.readyState {
	case connecting:
		ws.pendingClose = &closeReq{code, reason}
		ws.readyState = closing
	case open:
		ws.readyState = closing
		ws.conn.Close(code, reason)
	}
	return goja.Undefined()
}
