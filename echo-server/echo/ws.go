package echo

import (
	"net/http"
	"strconv"
	"time"

	"spread.dev/echo-server/accesslog"
	"spread.dev/echo-server/connstate"
)

// WSPath is the route handed to Config.WS.
const WSPath = "/ws"

// WebSocketServer runs a WebSocket session on an upgrade request, blocking
// until the session ends, and returns the upgrade's HTTP status (101 when
// it upgraded). echo-server's is wsecho.Handler.
type WebSocketServer interface {
	ServeWebSocket(w http.ResponseWriter, r *http.Request) int
}

// serveWS counts an upgrade like a request (echo_requests_total with code
// 101, the connection's first request opens it in the metrics) and logs it
// when the session ends, its duration being the session's. Connection
// recycling (--max-conn-requests/--max-conn-age) is not applied to the
// upgrade request: a WebSocket is recycled by its own max age (wsecho).
func (h *Handler) serveWS(w http.ResponseWriter, r *http.Request, st *connstate.State, proto string, start time.Time) {
	n, first, _ := st.Begin(proto, start, connstate.Policy{})
	defer st.End()
	if first {
		h.cfg.Metrics.ConnsOpened.WithLabelValues(proto).Inc()
		h.cfg.Metrics.OpenConns.WithLabelValues(proto).Inc()
	}
	w.Header().Set("X-Served-By", h.cfg.Pod)
	if r.TLS != nil && h.cfg.AltSvc != "" {
		w.Header().Set("Alt-Svc", h.cfg.AltSvc)
	}
	status := h.cfg.WS.ServeWebSocket(w, r)
	h.cfg.Metrics.Requests.WithLabelValues(proto, strconv.Itoa(status)).Inc()
	h.cfg.Log.Log(accesslog.Entry{
		Time: start, Proto: r.Proto, Remote: r.RemoteAddr, Method: r.Method,
		Path: r.URL.Path, Status: status, ConnReq: n, Duration: h.cfg.Now().Sub(start),
	})
}
