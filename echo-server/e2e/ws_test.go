package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pythonWS is Debian's interpreter, which sees Debian's python3-websockets
// (the `python3` on PATH may be another interpreter without it).
const pythonWS = "/usr/bin/python3"

// wsEvent is one JSON line of testdata/wsclient.py.
type wsEvent struct {
	Event    string          `json:"event"`
	ServedBy string          `json:"served_by"`
	Text     bool            `json:"text"`
	Data     json.RawMessage `json:"data"`
	Type     string          `json:"type"`
	OK       bool            `json:"ok"`
	Code     int             `json:"code"`
	Reason   string          `json:"reason"`
	AfterS   float64         `json:"after_s"`
	Error    string          `json:"error"`
}

// wsClient is a running wsclient.py; lines arrive on events.
type wsClient struct {
	cmd    *exec.Cmd
	events chan wsEvent
	done   chan error
}

func needPythonWS(t *testing.T) {
	t.Helper()
	if err := exec.Command(pythonWS, "-c", "import websockets").Run(); err != nil {
		t.Skipf("needs Debian's python3-websockets (apt-get install python3-websockets; .ci/run installs it): %v", err)
	}
}

func startWSClient(t *testing.T, url string, args ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	script, _ := filepath.Abs(filepath.Join("testdata", "wsclient.py"))
	cmd := exec.CommandContext(ctx, pythonWS, append([]string{script, url, "--ca", filepath.Join(certDir, "ca.pem")}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &wsClient{cmd: cmd, events: make(chan wsEvent, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e wsEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = wsEvent{Event: "bad-line", Error: sc.Text()}
			}
			c.events <- e
		}
		close(c.events)
		err := cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			t.Logf("wsclient.py stderr:\n%s", stderr.String())
		}
		c.done <- err
	}()
	return c
}

// next returns the client's next event, failing the test after 20 s.
func (c *wsClient) next(t *testing.T) wsEvent {
	t.Helper()
	select {
	case e, ok := <-c.events:
		if !ok {
			t.Fatalf("wsclient.py ended early: %v", <-c.done)
		}
		if e.Event == "error" || e.Event == "bad-line" {
			t.Fatalf("wsclient.py: %s", e.Error)
		}
		return e
	case <-time.After(20 * time.Second):
		t.Fatal("wsclient.py: no event within 20 s")
	}
	return wsEvent{}
}

// expectSession reads the events every run starts with: open (with the
// pod's X-Served-By), the hello naming the pod, text and binary echoes, a
// pong.
func (c *wsClient) expectSession(t *testing.T, pod, proto string) {
	t.Helper()
	if e := c.next(t); e.Event != "open" || e.ServedBy != pod {
		t.Fatalf("first event %+v, want open served by %s", e, pod)
	}
	e := c.next(t)
	var hello struct {
		Hostname string `json:"hostname"`
		Proto    string `json:"proto"`
		Session  int    `json:"session"`
	}
	if err := json.Unmarshal(e.Data, &hello); err != nil || e.Event != "hello" || !e.Text {
		t.Fatalf("second event %+v (%v), want the hello as a text message", e, err)
	}
	// The hello's first JSON field is hostname, as in GET /'s answer.
	if hello.Hostname != pod || hello.Proto != proto || !strings.HasPrefix(string(e.Data), `{"hostname":`) {
		t.Errorf("hello %s, want hostname %s first and proto %s", e.Data, pod, proto)
	}
	for _, typ := range []string{"text", "binary"} {
		if e := c.next(t); e.Event != "echo" || e.Type != typ || !e.OK {
			t.Errorf("%s echo: %+v", typ, e)
		}
	}
	if e := c.next(t); e.Event != "pong" {
		t.Errorf("ping: %+v, want a pong", e)
	}
}

// TestWebSocketPythonClient: Debian's python3-websockets against GET /ws on
// the cleartext and the TLS listener: the hello names the pod, text and
// binary messages come back unchanged, pings are answered, a normal close
// is counted as the client's, and the upgrade counts as a 101 request.
func TestWebSocketPythonClient(t *testing.T) {
	needPythonWS(t)
	p := start(t, "pod-ws")
	for _, tc := range []struct{ name, url string }{
		{"cleartext", "ws://" + p.h1 + "/ws"},
		{"tls", "wss://" + p.tls + "/ws"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startWSClient(t, tc.url)
			c.expectSession(t, "pod-ws", "HTTP/1.1")
			if e := c.next(t); e.Event != "closed" || e.Code != 1000 {
				t.Errorf("close: %+v, want 1000", e)
			}
			if err := <-c.done; err != nil {
				t.Errorf("wsclient.py: %v", err)
			}
		})
	}
	waitMetric(t, p, `echo_ws_sessions_closed_total{proto="h1",reason="client"}`, 2)
	for series, want := range map[string]float64{
		`echo_ws_sessions_opened_total{proto="h1"}`:                             2,
		`echo_ws_open_sessions{proto="h1"}`:                                     0,
		`echo_requests_total{code="101",proto="h1"}`:                            2,
		`echo_ws_messages_total{direction="received",proto="h1",type="binary"}`: 2,
		`echo_ws_messages_total{direction="received",proto="h1",type="text"}`:   2,
		`echo_ws_messages_total{direction="sent",proto="h1",type="text"}`:       4, // hellos + echoes
		`echo_ws_messages_total{direction="sent",proto="h1",type="binary"}`:     2,
		`echo_ws_session_duration_seconds_count{proto="h1"}`:                    2,
	} {
		if got := p.metric(series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
}

// TestWebSocketLimits: a message over --ws-max-message-bytes closes the
// session with 1009; --ws-idle-timeout and --max-conn-age close sessions
// with 1001 at the right time; a plain GET /ws gets 426.
func TestWebSocketLimits(t *testing.T) {
	needPythonWS(t)
	p := start(t, "pod-wslim", "--ws-max-message-bytes", "4096", "--ws-idle-timeout", "700ms")
	c := startWSClient(t, "ws://"+p.h1+"/ws", "--big", "5000")
	c.expectSession(t, "pod-wslim", "HTTP/1.1")
	if e := c.next(t); e.Event != "closed" || e.Code != 1009 {
		t.Errorf("after a 5000-byte message: %+v, want closed with 1009", e)
	}
	c = startWSClient(t, "ws://"+p.h1+"/ws", "--wait", "10")
	c.expectSession(t, "pod-wslim", "HTTP/1.1")
	if e := c.next(t); e.Event != "closed" || e.Code != 1001 || e.AfterS < 0.5 || e.AfterS > 3 {
		t.Errorf("idle session: %+v, want closed with 1001 after ~0.7 s", e)
	}
	waitMetric(t, p, `echo_ws_sessions_closed_total{proto="h1",reason="too_big"}`, 1)
	waitMetric(t, p, `echo_ws_sessions_closed_total{proto="h1",reason="idle"}`, 1)

	r, err := get(context.Background(), clients(t)["h1"], p.url("h1", "/ws"))
	if err != nil || r.status != 426 {
		t.Errorf("plain GET /ws: %v, status %d, want 426", err, r.status)
	}

	age := start(t, "pod-wsage", "--max-conn-age", "1s")
	c = startWSClient(t, "wss://"+age.tls+"/ws", "--wait", "10")
	began := time.Now()
	c.expectSession(t, "pod-wsage", "HTTP/1.1")
	if e := c.next(t); e.Event != "closed" || e.Code != 1001 || e.Reason != "max connection age" {
		t.Errorf("session at --max-conn-age: %+v, want closed with 1001", e)
	}
	if d := time.Since(began); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("session closed after %v, want ~1 s (--max-conn-age)", d)
	}
	waitMetric(t, age, `echo_ws_sessions_closed_total{proto="h1",reason="max_age"}`, 1)
}

// TestWebSocketDrain: SIGTERM keeps sessions open through --drain, then
// closes them with 1001 and the process exits 0.
func TestWebSocketDrain(t *testing.T) {
	needPythonWS(t)
	const drain = 800 * time.Millisecond
	p := start(t, "pod-wsdrain", "--drain", drain.String())
	clients := []*wsClient{
		startWSClient(t, "ws://"+p.h1+"/ws", "--wait", "15"),
		startWSClient(t, "wss://"+p.tls+"/ws", "--wait", "15"),
	}
	for _, c := range clients {
		c.expectSession(t, "pod-wsdrain", "HTTP/1.1")
	}
	sigAt := time.Now()
	p.signal(syscall.SIGTERM)
	for i, c := range clients {
		e := c.next(t)
		if e.Event != "closed" || e.Code != 1001 || e.Reason != "server shutting down" {
			t.Errorf("client %d: %+v, want closed with 1001 by the shutdown", i, e)
		}
		if d := time.Since(sigAt); d < drain-100*time.Millisecond {
			t.Errorf("client %d closed %v after SIGTERM, before the end of the %v drain", i, d, drain)
		}
	}
	select {
	case <-p.Done():
		if err := p.ExitErr(); err != nil {
			t.Errorf("exit: %v, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("echo-server did not exit within 10 s of SIGTERM")
	}
}

// waitMetric polls series until it reaches want (sessions end on the
// server a moment after the client sees the close), at most 5 s.
func waitMetric(t *testing.T, p *proc, series string, want float64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := p.metric(series)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s = %v, want %v", series, got, want)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
