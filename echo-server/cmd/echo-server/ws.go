package main

import (
	"flag"
	"time"

	"spread.dev/echo-server/echo"
	"spread.dev/echo-server/metrics"
	"spread.dev/echo-server/wsecho"
)

// wsFlags are the WebSocket session limits (GET /ws).
type wsFlags struct {
	idleTimeout     time.Duration
	maxMessageBytes int64
}

func (w *wsFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&w.idleTimeout, "ws-idle-timeout", wsecho.DefaultIdleTimeout, "close a WebSocket session (1001) after this long without a message from the client (0 = never)")
	fs.Int64Var(&w.maxMessageBytes, "ws-max-message-bytes", wsecho.DefaultMaxMessageBytes, "largest WebSocket message accepted from a client; a larger one closes the session with 1009")
}

// handler builds GET /ws's handler; --max-conn-age closes sessions at that age.
func (w *wsFlags) handler(pod string, maxAge time.Duration, m *metrics.Metrics) (*wsecho.Handler, error) {
	return wsecho.New(wsecho.Config{
		Pod: pod, IdleTimeout: w.idleTimeout, MaxMessageBytes: w.maxMessageBytes,
		MaxAge: maxAge, Registerer: m.Registry,
	})
}

var _ echo.WebSocketServer = (*wsecho.Handler)(nil)
