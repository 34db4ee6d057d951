package k6websockets

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"spread.dev/echo-server/echotest"
	"spread.dev/echo-server/testbin"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// script opens three sockets at once per iteration: ws:// with
// binaryType arraybuffer, wss:// with the default blob, and one to a
// server with --max-conn-age that closes it with 1001. Every check must
// pass (thresholds), and the iteration must last until all three closed.
const script = `
import { WebSocket } from 'k6/websockets';
import { check } from 'k6';
export const options = { tlsCACerts: __ENV.CA, thresholds: { checks: ['rate==1'] } };

function echo(url, binaryType) {
  const ws = new WebSocket(url, null, { tags: { my_tag: 'y' } });
  check(ws, { 'connecting at first': (w) => w.readyState === WebSocket.CONNECTING && w.url === url });
  if (binaryType) ws.binaryType = binaryType;
  let n = 0, text = 0, bin = 0, pongs = 0, hello = null;
  ws.onopen = () => {
    check(ws, { 'open': (w) => w.readyState === WebSocket.OPEN });
    ws.ping();
  };
  ws.addEventListener('pong', () => { pongs++; });
  ws.onmessage = async (e) => {
    n++;
    if (n === 1) {
      hello = JSON.parse(e.data);
      ws.send('abc');
      ws.send(new Uint8Array([7, 8]).buffer);
      ws.send(new Uint8Array([9]));
      return;
    }
    if (e.data === 'abc') { text++; return; }
    let bytes;
    if (ws.binaryType === 'arraybuffer') {
      check(e.data, { 'an ArrayBuffer': (d) => d instanceof ArrayBuffer });
      bytes = new Uint8Array(e.data);
    } else {
      check(e.data, { 'a Blob': (d) => typeof d.size === 'number' && typeof d.arrayBuffer === 'function' });
      bytes = new Uint8Array(await e.data.arrayBuffer());
    }
    if ((bytes.length === 2 && bytes[1] === 8) || (bytes.length === 1 && bytes[0] === 9)) bin++;
    if (bin === 2) ws.close();
  };
  ws.onclose = (e) => {
    check(null, {
      'hello names the pod': () => hello !== null && hello.hostname === __ENV.POD,
      'text echoed': () => text === 1,
      'binary echoed twice': () => bin === 2,
      'pong': () => pongs >= 1,
      'closed with 1000': () => e.code === 1000 && ws.readyState === WebSocket.CLOSED,
    });
  };
  ws.onerror = (e) => { check(e, { 'no error': () => false }); };
}

export default function () {
  const start = Date.now();
  echo(__ENV.WS, 'arraybuffer');
  echo(__ENV.WSS);
  const bad = new WebSocket('ws://127.0.0.1:1/ws');
  let badErr = false;
  bad.onerror = () => { badErr = true; };
  bad.onclose = (e) => { check(e, { 'a refused dial: error, then close 1006': (ev) => badErr && ev.code === 1006 }); };
  const aged = new WebSocket(__ENV.AGED);
  aged.onclose = (e) => {
    check(e, {
      'closed by the server at its max age with 1001': (ev) => ev.code === 1001 && ev.reason === 'max connection age',
      'the iteration waited for it': () => Date.now() - start >= 250,
    });
  };
}
`

// TestWebSocketEcho: `spread run` with k6/websockets against echo-server.
func TestWebSocketEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: not building spread")
	}
	spread := testbin.MustBuild(t, "spread.dev/spread/cmd/spread")
	bin := testbin.MustBuild(t, echotest.Package)
	es := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-wss", H3: echotest.Off, ReadyTimeout: 30 * time.Second})
	aged := echotest.Start(t, echotest.Config{Bin: bin, Pod: "pod-aged", H3: echotest.Off, ReadyTimeout: 30 * time.Second,
		Args: []string{"--max-conn-age", "300ms"}})
	dir := t.TempDir()
	path, summary := filepath.Join(dir, "ws.js"), filepath.Join(dir, "summary.json")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, spread, "run", "-q", "--no-color", "-u", "2", "-i", "4",
		"-e", "WS=ws://"+es.H1+"/ws", "-e", "WSS=wss://"+es.TLS+"/ws", "-e", "AGED=ws://"+aged.H1+"/ws",
		"-e", "CA="+es.PKI.CA, "-e", "POD=pod-wss", "--summary-export", summary, path).CombinedOutput()
	if err != nil {
		t.Fatalf("spread run: %v\n%s", err, out)
	}
	var sum struct {
		Metrics map[string]map[string]any `json:"metrics"`
	}
	raw, _ := os.ReadFile(summary)
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatalf("summary: %v\n%s", err, raw)
	}
	num := func(metric, stat string) float64 { v, _ := sum.Metrics[metric][stat].(float64); return v }
	// 4 iterations x 3 sockets; each echo socket sends 3 and receives
	// the hello and 3 echoes, the aged one receives its hello.
	for metric, want := range map[string]float64{"ws_sessions": 12, "ws_msgs_sent": 24, "ws_msgs_received": 36, "checks": 0} {
		stat := "count"
		if metric == "checks" {
			stat = "fails"
		}
		if got := num(metric, stat); got != want {
			t.Errorf("%s %s = %v, want %v", metric, stat, got, want)
		}
	}
	// Per iteration: each echo socket makes 9 checks (connecting, open,
	// one per binary message, five on close), the aged one 2, the
	// refused one 1.
	if num("checks", "passes") != 4*(2*9+3) {
		t.Errorf("checks: %v, want every check of every socket to have run", sum.Metrics["checks"])
	}
	if got := es.Series(t, `echo_ws_sessions_opened_total{proto="h1"}`); got != 8 {
		t.Errorf("server counted %v sessions, want 8", got)
	}
	if got := aged.Series(t, `echo_ws_sessions_closed_total{proto="h1",reason="max_age"}`); got != 4 {
		t.Errorf("aged server closed %v sessions at max age, want 4", got)
	}
}
