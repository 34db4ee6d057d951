// Package wsecho is echo-server's WebSocket endpoint (GET /ws): the first
// message names the pod, every later message from the client is echoed
// back with its type (text or binary). Sessions are bounded (idle time,
// message size, age) and closed with 1001 (going away) when the server
// shuts down or a session reaches --max-conn-age, so clients reconnect —
// through the Service, i.e. possibly to another pod.
//
// The WebSocket protocol itself is github.com/coder/websocket's; this
// package only adds the session policy and the metrics.
package wsecho

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Close reasons, the "reason" label of echo_ws_sessions_closed_total.
const (
	ReasonClient   = "client"   // the client closed (or went away)
	ReasonIdle     = "idle"     // no message from the client for IdleTimeout
	ReasonMaxAge   = "max_age"  // the session reached MaxAge
	ReasonShutdown = "shutdown" // the server is shutting down
	ReasonTooBig   = "too_big"  // a message over MaxMessageBytes
	ReasonError    = "error"    // a protocol or network error
	ReasonRefused  = "refused"  // (not a session) upgrade refused while shutting down
	writeTimeout   = 10 * time.Second
)

// Defaults of the flags (cmd/echo-server documents them).
const (
	DefaultIdleTimeout     = 120 * time.Second
	DefaultMaxMessageBytes = 1 << 20
)

// Config is the session policy.
type Config struct {
	Pod             string        // named in the first message
	IdleTimeout     time.Duration // 0: never close for idleness
	MaxMessageBytes int64         // larger client messages close the session with 1009
	MaxAge          time.Duration // 0: sessions live as long as the client wants
	Registerer      prometheus.Registerer
	Now             func() time.Time // nil: time.Now
}

// Hello is the first message of every session (JSON text), hostname first
// as in GET /'s answer.
type Hello struct {
	Hostname        string `json:"hostname"`
	Proto           string `json:"proto"`
	RemoteAddr      string `json:"remote_addr"`
	Session         int64  `json:"session"` // 1-based session number on this server
	MaxMessageBytes int64  `json:"max_message_bytes"`
	IdleTimeoutMS   int64  `json:"idle_timeout_ms"`
	MaxAgeMS        int64  `json:"max_age_ms"`
}

// Handler accepts and runs WebSocket sessions.
type Handler struct {
	cfg Config
	m   *wsMetrics

	mu       sync.Mutex
	sessions map[*session]struct{}
	count    int64
	closing  bool
	wg       sync.WaitGroup // one per running session
}

type wsMetrics struct {
	opened   *prometheus.CounterVec // echo_ws_sessions_opened_total{proto}
	open     *prometheus.GaugeVec   // echo_ws_open_sessions{proto}
	closed   *prometheus.CounterVec // echo_ws_sessions_closed_total{proto,reason}
	messages *prometheus.CounterVec // echo_ws_messages_total{proto,direction,type}
	duration *prometheus.HistogramVec
}

// New returns a handler; its metrics are registered on cfg.Registerer.
func New(cfg Config) (*Handler, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	m := &wsMetrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_ws_sessions_opened_total",
			Help: "WebSocket sessions accepted on GET /ws, by protocol of the upgraded connection (h1).",
		}, []string{"proto"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "echo_ws_open_sessions",
			Help: "WebSocket sessions open now.",
		}, []string{"proto"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_ws_sessions_closed_total",
			Help: "WebSocket sessions ended, by reason (client, idle, max_age, shutdown, too_big, error) and upgrades refused while shutting down (refused).",
		}, []string{"proto", "reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "echo_ws_messages_total",
			Help: "WebSocket messages, by direction (received from clients, sent to them: echoes and the hello) and type (text, binary).",
		}, []string{"proto", "direction", "type"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "echo_ws_session_duration_seconds",
			Help:    "Length of ended WebSocket sessions.",
			Buckets: []float64{.1, .5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"proto"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{m.opened, m.open, m.closed, m.messages, m.duration} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	// Show the series from the start, so rate() works on the first scrape.
	m.opened.WithLabelValues("h1")
	m.open.WithLabelValues("h1")
	return &Handler{cfg: cfg, m: m, sessions: map[*session]struct{}{}}, nil
}

// session is one accepted WebSocket.
type session struct {
	c      *websocket.Conn
	once   sync.Once
	reason string // why the server closed it; "" = the client did
	mu     sync.Mutex
}

// end closes the session from the server's side with code, once; the
// close handshake runs in the background because coder/websocket's Close
// waits for the client's close frame (up to 5 s) and callers (timers,
// Shutdown) must not block on a slow client.
func (s *session) end(code websocket.StatusCode, text, reason string) {
	s.once.Do(func() {
		s.mu.Lock()
		s.reason = reason
		s.mu.Unlock()
		go func() { _ = s.c.Close(code, text) }()
	})
}

func (s *session) closedBy() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// ServeWebSocket upgrades r and runs its session until it ends; it returns
// the HTTP status of the upgrade (101 on success) for the caller's request
// metrics and access log. r must be an HTTP/1.1 upgrade: HTTP/2 and HTTP/3
// requests get 426 (no extended CONNECT here).
func (h *Handler) ServeWebSocket(w http.ResponseWriter, r *http.Request) int {
	proto := "h1"
	h.mu.Lock()
	closing := h.closing
	h.mu.Unlock()
	if closing {
		h.m.closed.WithLabelValues(proto, ReasonRefused).Inc()
		w.Header().Set("Connection", "close")
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return http.StatusServiceUnavailable
	}
	if r.ProtoMajor != 1 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUpgradeRequired)
		_, _ = w.Write([]byte("WebSocket needs an HTTP/1.1 upgrade (GET /ws with Upgrade: websocket); this server does not serve WebSockets over HTTP/2 or HTTP/3\n"))
		return http.StatusUpgradeRequired
	}
	if !isUpgrade(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusUpgradeRequired)
		_, _ = w.Write([]byte("GET /ws upgrades to a WebSocket: send Connection: Upgrade and Upgrade: websocket\n"))
		return http.StatusUpgradeRequired
	}
	// Any origin may connect: this is a test server without cookies or
	// credentials to protect, and browsers are among its clients.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		// Accept has answered the request (400 and the like).
		return http.StatusBadRequest
	}
	c.SetReadLimit(h.cfg.MaxMessageBytes)
	s := &session{c: c}
	h.mu.Lock()
	if h.closing { // Shutdown started between the check above and now
		h.mu.Unlock()
		_ = c.Close(websocket.StatusGoingAway, "server shutting down")
		h.m.closed.WithLabelValues(proto, ReasonShutdown).Inc()
		return http.StatusSwitchingProtocols
	}
	h.count++
	n := h.count
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.sessions, s)
		h.mu.Unlock()
		h.wg.Done()
	}()
	h.run(s, r, proto, n)
	return http.StatusSwitchingProtocols
}

func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// run is one session: the hello, then echo until the session ends.
func (h *Handler) run(s *session, r *http.Request, proto string, n int64) {
	m := h.m
	started := h.cfg.Now()
	m.opened.WithLabelValues(proto).Inc()
	m.open.WithLabelValues(proto).Inc()
	defer func() {
		m.open.WithLabelValues(proto).Dec()
		m.duration.WithLabelValues(proto).Observe(h.cfg.Now().Sub(started).Seconds())
	}()
	// The request's context is not a session's lifetime after a hijack;
	// the session lives until it is closed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var timers []*time.Timer
	defer func() {
		for _, t := range timers {
			t.Stop()
		}
	}()
	if h.cfg.MaxAge > 0 {
		timers = append(timers, time.AfterFunc(h.cfg.MaxAge, func() {
			s.end(websocket.StatusGoingAway, "max connection age", ReasonMaxAge)
		}))
	}
	var idle *time.Timer
	if h.cfg.IdleTimeout > 0 {
		idle = time.AfterFunc(h.cfg.IdleTimeout, func() {
			s.end(websocket.StatusGoingAway, "idle timeout", ReasonIdle)
		})
		timers = append(timers, idle)
	}

	hello, _ := json.Marshal(Hello{
		Hostname: h.cfg.Pod, Proto: r.Proto, RemoteAddr: r.RemoteAddr, Session: n,
		MaxMessageBytes: h.cfg.MaxMessageBytes, IdleTimeoutMS: h.cfg.IdleTimeout.Milliseconds(),
		MaxAgeMS: h.cfg.MaxAge.Milliseconds(),
	})
	reason := ""
	if err := h.write(ctx, s.c, websocket.MessageText, hello); err != nil {
		reason = ReasonError
	} else {
		m.messages.WithLabelValues(proto, "sent", "text").Inc()
	}
	for reason == "" {
		typ, data, err := s.c.Read(ctx)
		if err != nil {
			reason = readEndReason(err)
			break
		}
		if idle != nil {
			idle.Reset(h.cfg.IdleTimeout)
		}
		kind := typeLabel(typ)
		m.messages.WithLabelValues(proto, "received", kind).Inc()
		if err := h.write(ctx, s.c, typ, data); err != nil {
			reason = ReasonError
			break
		}
		m.messages.WithLabelValues(proto, "sent", kind).Inc()
	}
	if by := s.closedBy(); by != "" {
		reason = by // the server's own close shows up as a read error
	} else {
		// The client closed, the connection broke, or coder/websocket
		// sent 1009 for an oversized message: nothing more to say, so
		// release the connection now (a client that sent its close
		// frame is waiting for the TCP close).
		_ = s.c.CloseNow()
	}
	m.closed.WithLabelValues(proto, reason).Inc()
}

func (h *Handler) write(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, data []byte) error {
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(wctx, typ, data)
}

// readEndReason classifies the error that ended the read loop.
func readEndReason(err error) string {
	// A message over the limit: coder/websocket has sent 1009 itself.
	if isTooBig(err) || websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
		return ReasonTooBig
	}
	// A close frame with any code, or a connection that went away
	// without one (EOF, reset): the client ended the session.
	return ReasonClient
}

func isTooBig(err error) bool { return errors.Is(err, websocket.ErrMessageTooBig) }

func typeLabel(t websocket.MessageType) string {
	if t == websocket.MessageBinary {
		return "binary"
	}
	return "text"
}

// Shutdown closes every session with 1001 (going away) and refuses new
// upgrades; it waits for the sessions' close handshakes until ctx ends,
// then cuts what is left.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closing = true
	open := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		open = append(open, s)
	}
	h.mu.Unlock()
	for _, s := range open {
		s.end(websocket.StatusGoingAway, "server shutting down", ReasonShutdown)
	}
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		h.mu.Lock()
		for s := range h.sessions {
			s.c.CloseNow()
		}
		h.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Open returns the number of sessions running now.
func (h *Handler) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}
