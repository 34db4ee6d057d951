// Package echo is echo-server's HTTP handler: GET / answers with the pod's
// name after a delay, /healthz and /readyz answer at once.
package echo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"spread.dev/echo-server/accesslog"
	"spread.dev/echo-server/capacity"
	"spread.dev/echo-server/connstate"
	"spread.dev/echo-server/metrics"
)

// MaxBodyBytes bounds what the handler reads of a request body.
const MaxBodyBytes = 1 << 20

// Config is what the handler needs to know.
type Config struct {
	Pod     string        // answered in "hostname" and X-Served-By
	Delay   time.Duration // wait before answering GET /
	CPUWork time.Duration // CPU time burnt per GET /
	Limiter *capacity.Limiter
	Policy  connstate.Policy
	Metrics *metrics.Metrics
	Log     *accesslog.Logger // nil: no access log
	AltSvc  string            // Alt-Svc value for TLS responses ("" = none)
	WS      WebSocketServer   // serves GET /ws (nil: /ws is an echo route like any other)
	Now     func() time.Time  // nil: time.Now
}

// Response is the JSON body of GET /; hostname comes first, as in the
// write-up's FastAPI app.
type Response struct {
	Hostname     string `json:"hostname"`
	Proto        string `json:"proto"`
	RemoteAddr   string `json:"remote_addr"`
	ConnRequests int    `json:"conn_requests"`
	ConnAgeMS    int64  `json:"conn_age_ms"`
}

// Handler serves every listener of one server.
type Handler struct {
	cfg      Config
	draining atomic.Bool
}

// New returns a handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// SetDraining makes /readyz fail from now on.
func (h *Handler) SetDraining() {
	h.draining.Store(true)
	h.cfg.Metrics.Draining.Set(1)
}

// Draining reports whether SetDraining was called.
func (h *Handler) Draining() bool { return h.draining.Load() }

// ProtoLabel maps a request's protocol to the metric label h1, h2 or h3.
func ProtoLabel(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "h2"
	case 3:
		return "h3"
	default:
		return "h1"
	}
}

// ServeHTTP routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.cfg.Now()
	proto := ProtoLabel(r)
	st := connstate.From(r.Context())
	if st == nil {
		st = connstate.New(start)
	}
	if r.URL.Path == WSPath && h.cfg.WS != nil {
		h.serveWS(w, r, st, proto, start)
		return
	}
	n, first, reason := st.Begin(proto, start, h.cfg.Policy)
	defer st.End()
	if first {
		h.cfg.Metrics.ConnsOpened.WithLabelValues(proto).Inc()
		h.cfg.Metrics.OpenConns.WithLabelValues(proto).Inc()
	}
	if reason != "" {
		h.cfg.Metrics.ConnsRecycled.WithLabelValues(proto, reason).Inc()
		if st.GoAway != nil {
			st.GoAway()
		} else {
			// net/http closes HTTP/1.1 connections after this response
			// and turns it into a graceful GOAWAY on HTTP/2.
			w.Header().Set("Connection", "close")
		}
	}
	if r.TLS != nil && h.cfg.AltSvc != "" {
		w.Header().Set("Alt-Svc", h.cfg.AltSvc)
	}
	w.Header().Set("X-Served-By", h.cfg.Pod)

	var status int
	switch r.URL.Path {
	case "/healthz":
		status = writeText(w, http.StatusOK, "ok\n")
	case "/readyz":
		if h.Draining() {
			status = writeText(w, http.StatusServiceUnavailable, "draining\n")
		} else {
			status = writeText(w, http.StatusOK, "ready\n")
		}
	default:
		status = h.echo(w, r, st, n, proto, start)
		h.cfg.Metrics.Requests.WithLabelValues(proto, strconv.Itoa(status)).Inc()
		h.cfg.Metrics.RequestDuration.WithLabelValues(proto).Observe(h.cfg.Now().Sub(start).Seconds())
	}
	h.cfg.Log.Log(accesslog.Entry{
		Time: start, Proto: r.Proto, Remote: r.RemoteAddr, Method: r.Method,
		Path: r.URL.Path, Status: status, ConnReq: n, Duration: h.cfg.Now().Sub(start),
	})
}

// statusClientGone is logged (never sent) when the client left before the answer.
const statusClientGone = 499

func (h *Handler) echo(w http.ResponseWriter, r *http.Request, st *connstate.State, n int, proto string, start time.Time) int {
	// Read (and drop) any body, bounded, so a client cannot make us buffer much.
	if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, MaxBodyBytes)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return writeText(w, http.StatusRequestEntityTooLarge, "request body too large\n")
		}
		return writeText(w, http.StatusBadRequest, "cannot read request body\n")
	}
	if err := h.work(r.Context()); err != nil {
		return statusClientGone
	}
	body, err := json.Marshal(Response{
		Hostname:     h.cfg.Pod,
		Proto:        r.Proto,
		RemoteAddr:   r.RemoteAddr,
		ConnRequests: n,
		ConnAgeMS:    start.Sub(st.Opened).Milliseconds(),
	})
	if err != nil {
		return writeText(w, http.StatusInternalServerError, "encode: "+err.Error()+"\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
	return http.StatusOK
}

// work is the request's simulated cost, shared with the other protocols'
// handlers (capacity.Cost).
func (h *Handler) work(ctx context.Context) error {
	m := h.cfg.Metrics
	return capacity.Cost{Limiter: h.cfg.Limiter, Inflight: m.Inflight, Queued: m.Queued,
		Delay: h.cfg.Delay, CPUWork: h.cfg.CPUWork}.Pay(ctx)
}

func writeText(w http.ResponseWriter, status int, text string) int {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
	return status
}
